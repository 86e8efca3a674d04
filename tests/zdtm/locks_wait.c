// SPDX-License-Identifier: Apache-2.0
// Processes blocked waiting for file locks when dumped (with --file-locks, asked for in dump.opts): the
// root holds an flock write lock, a POSIX write lock on a range and an OFD write lock, each on its own
// file; child F waits in flock(LOCK_EX), child P in fcntl(F_SETLKW) on an overlapping range, a thread
// of the root in F_OFD_SETLKW. After restore none of the waiters holds its lock yet (none returned,
// F_GETLK still names the root); once the root releases each lock, its waiter gets it (and only then),
// without EINTR, and holds it as the kernel reports.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

struct shared {
	volatile int waiting[3], got[3], err[3];
};
static struct shared *sh;
static int fds[3];

static void take(int i, int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 20 };
	sh->waiting[i] = 1;
	int r = i == 0 ? flock(fd, LOCK_EX) : fcntl(fd, i == 1 ? F_SETLKW : F_OFD_SETLKW, &fl);
	sh->err[i] = r < 0 ? errno : 0;
	sh->got[i] = 1;
}

static void *ofd_waiter(void *arg)
{
	char *path = arg;
	int fd = open(path, O_RDWR);	/* its own open file description */
	take(2, fd);
	while (!zdtm_sigterm_received())
		usleep(10000);
	return NULL;
}

static pid_t waiter(int i, const char *path)
{
	pid_t p = fork();
	if (p == 0) {
		int fd = open(path, O_RDWR);
		take(i, fd);
		pause();	/* holds it until killed */
		_exit(0);
	}
	return p;
}

int main(void)
{
	zdtm_init("locks_wait");
	char opts[4096], path[3][4096];
	FILE *f = fopen(zdtm_path(opts, sizeof(opts), "dump.opts"), "w");
	if (!f || fputs("--file-locks\n", f) < 0 || fclose(f))
		zdtm_skip("write dump.opts: %m");
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 100 };
	for (int i = 0; i < 3; i++) {
		char name[16];
		snprintf(name, sizeof(name), "lock%d", i);
		zdtm_path(path[i], sizeof(path[i]), name);
		fds[i] = open(path[i], O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (fds[i] < 0 || ftruncate(fds[i], 4096) < 0)
			return 1;
	}
	if (sh == MAP_FAILED || flock(fds[0], LOCK_EX) || fcntl(fds[1], F_SETLK, &fl) || fcntl(fds[2], F_OFD_SETLK, &fl))
		zdtm_skip("take the locks: %m");
	pid_t kids[2] = { waiter(0, path[0]), waiter(1, path[1]) };
	pthread_t t;
	pthread_create(&t, NULL, ofd_waiter, path[2]);
	for (int i = 0; i < 3; i++)
		while (!sh->waiting[i])
			usleep(1000);
	usleep(200000);	/* into their waits */
	zdtm_ready();
	zdtm_wait_sigterm();

	usleep(200000);
	for (int i = 0; i < 3; i++)
		zdtm_check(!sh->got[i], "waiter %d returned before the release (errno %d)", i, sh->err[i]);
	struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 10, .l_len = 20 };
	int qfd = open(path[1], O_RDWR);
	zdtm_check(fcntl(qfd, F_OFD_GETLK, &q) == 0 && q.l_type == F_WRLCK && q.l_pid == getpid(),
		   "F_OFD_GETLK: type %d pid %d, want the root's write lock", q.l_type, q.l_pid);
	close(qfd);
	flock(fds[0], LOCK_UN);
	fl.l_type = F_UNLCK;
	fcntl(fds[1], F_SETLK, &fl);
	fcntl(fds[2], F_OFD_SETLK, &fl);
	for (int i = 0; i < 3; i++) {
		for (int k = 0; k < 500 && !sh->got[i]; k++)
			usleep(10000);
		zdtm_check(sh->got[i] && sh->err[i] == 0, "waiter %d: got %d, errno %d", i, sh->got[i], sh->err[i]);
	}
	/* each lock is now its waiter's */
	zdtm_check(flock(fds[0], LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK, "the flock is free after the handover");
	struct flock g = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 100 };
	zdtm_check(fcntl(fds[1], F_GETLK, &g) == 0 && g.l_type == F_WRLCK && g.l_pid == kids[1],
		   "F_GETLK: type %d pid %d, want child %d's", g.l_type, g.l_pid, kids[1]);
	struct flock o = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 100 };
	zdtm_check(fcntl(fds[2], F_OFD_SETLK, &o) < 0 && errno == EAGAIN, "the OFD lock is free after the handover");
	for (int i = 0; i < 2; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	pthread_join(t, NULL);
	zdtm_exit();
}
