// SPDX-License-Identifier: Apache-2.0
// Descriptor states ferry cannot restore exactly, each refused by name (self-checking: runs ferry
// dump -R itself on one child per case; the test process is outside each dumped tree):
//   a pidfd of a process outside the tree;        a /proc/PID file of a process outside it;
//   a signal-driven I/O owner outside it;          a namespace no task of the tree is in;
//   a controlling terminal whose master is outside (without --shell-job);
//   a fanotify group with inode marks and queued events;
//   an inotify watch on a deleted inode only a process outside keeps open;
//   a pty slave hung up (vhangup) while its master lives;
//   /dev/tty held by a session leader that gave its terminal up since (TIOCNOTTY).
// Each dump must fail with a message naming the object, and the child must run on (answers a ping).
#include "zdtm_refuse.h"

#include <errno.h>
#include <linux/fanotify.h>
#include <sched.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <termios.h>

struct kid {
	pid_t pid;
	int ctl;	/* our end of its ping socket */
};

static char dir_file[256];
static pid_t kids[16];
static int nkids;

/*
 * Runs setup in a child that keeps only stdio, fd `keep` and its end of the ping socket (at fd 100),
 * then answers pings.
 */
static struct kid spawn_keep(int (*setup)(void *), void *arg, int keep)
{
	int sv[2];
	struct kid k = { -1, -1 };
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return k;
	fflush(NULL);
	k.pid = fork();
	if (k.pid == 0) {
		signal(SIGTERM, SIG_DFL);
		dup2(sv[1], 100);
		for (int fd = 3; fd < 1024; fd++)
			if (fd != 100 && fd != keep)
				close(fd);
		char c = setup(arg) < 0 ? 'n' : 'y';
		if (write(100, &c, 1) != 1 || c != 'y')
			_exit(2);
		while (read(100, &c, 1) == 1)
			if (write(100, &c, 1) != 1)
				break;
		_exit(0);
	}
	close(sv[1]);
	char c = 0;
	k.ctl = sv[0];
	if (k.pid > 0 && nkids < 16)
		kids[nkids++] = k.pid;
	if (k.pid < 0 || read(k.ctl, &c, 1) != 1 || c != 'y')
		zdtm_skip("a child failed to set its case up");
	return k;
}

static struct kid spawn(int (*setup)(void *), void *arg)
{
	return spawn_keep(setup, arg, -1);
}

static int alive(struct kid k)
{
	char c = 'p';
	return write(k.ctl, &c, 1) == 1 && read(k.ctl, &c, 1) == 1 && c == 'p';
}

static int pidfd_out(void *arg)
{
	return syscall(SYS_pidfd_open, *(pid_t *)arg, 0) < 0 ? -1 : 0;
}

static int proc_out(void *arg)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", *(pid_t *)arg);
	return open(path, O_RDONLY) < 0 ? -1 : 0;
}

static int fown_out(void *arg)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	return fcntl(p[0], F_SETOWN, *(pid_t *)arg);
}

static int nothing(void *arg)
{
	return 0;
}

static int ctty_out(void *arg)
{
	if (setsid() < 0)
		return -1;
	int s = open((const char *)arg, O_RDWR);
	return s < 0 ? -1 : close(s);
}

static int fanotify_queued(void *arg)
{
	int g = (int)syscall(SYS_fanotify_init, FAN_CLASS_NOTIF | FAN_NONBLOCK, O_RDONLY);
	if (g < 0 || syscall(SYS_fanotify_mark, g, FAN_MARK_ADD, FAN_OPEN, AT_FDCWD, dir_file) < 0)
		return -1;
	int f = open(dir_file, O_RDONLY);
	return f < 0 ? -1 : close(f);
}

static int watch_deleted(void *arg)
{
	int in = inotify_init1(IN_NONBLOCK);
	return in < 0 || inotify_add_watch(in, (const char *)arg, IN_MODIFY) < 0 ? -1 : 0;
}

static int hung_slave(void *arg)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || unlockpt(m) < 0 || setsid() < 0)
		return -1;
	int s = open(ptsname(m), O_RDWR);	/* its controlling terminal */
	signal(SIGHUP, SIG_IGN);
	return s < 0 || vhangup() < 0 ? -1 : 0;
}

static int devtty_gone(void *arg)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || unlockpt(m) < 0 || setsid() < 0)
		return -1;
	int s = open(ptsname(m), O_RDWR), t = open("/dev/tty", O_RDWR);
	signal(SIGHUP, SIG_IGN);
	signal(SIGCONT, SIG_IGN);
	return s < 0 || t < 0 || ioctl(t, TIOCNOTTY) < 0 ? -1 : 0;
}

static void refused(const char *name, struct kid k, ...)
{
	const char *w[6] = { 0 };
	va_list ap;
	va_start(ap, k);
	for (int i = 0; i < 5 && (w[i] = va_arg(ap, const char *)); i++)
		;
	va_end(ap);
	zr_expect_refusal(k.pid, name, NULL, w[0], w[1], w[2], w[3], w[4], NULL);
	zdtm_check(alive(k), "%s: the child does not answer after the refused dump", name);
}

int main(void)
{
	char me[32], s1[64], gone[256];
	pid_t self = getpid();
	zdtm_init("fd_refusals");
	zr_find_ferry();
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	snprintf(me, sizeof(me), " %d", self);
	snprintf(dir_file, sizeof(dir_file), "%s/marked", zdtm_dir());
	close(open(dir_file, O_CREAT | O_RDWR, 0644));

	refused("pidfd", spawn(pidfd_out, &self), "pidfd of process", me, "not in the dumped tree", NULL);
	refused("proc", spawn(proc_out, &self), "a file of process", me, "not in the dumped tree", NULL);
	refused("fown", spawn(fown_out, &self), "owner is process", me, "not in the dumped tree", NULL);

	int ns_ready[2];
	if (pipe(ns_ready) < 0)
		zdtm_skip("pipe: %m");
	pid_t h = fork();
	if (h == 0) {	/* in a UTS namespace of its own, outside the dumped tree */
		char c = unshare(CLONE_NEWUTS) == 0 ? 'y' : 'n';
		if (write(ns_ready[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	char c;
	if (read(ns_ready[0], &c, 1) != 1 || c != 'y')
		zdtm_skip("unshare(CLONE_NEWUTS) failed");
	snprintf(s1, sizeof(s1), "/proc/%d/ns/uts", h);
	int nsfd = open(s1, O_RDONLY);
	if (nsfd < 0)
		zdtm_skip("open %s: %m", s1);
	refused("nsfd", spawn_keep(nothing, NULL, nsfd), "namespace no task of the dumped tree is in", NULL);
	close(nsfd);
	kill(h, SIGKILL);

	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || unlockpt(m) < 0)
		zdtm_skip("pty: %m");
	snprintf(s1, sizeof(s1), "/dev/pts/%d", atoi(ptsname(m) + 9));
	refused("ctty", spawn(ctty_out, ptsname(m)), "controlling terminal", s1, "--shell-job", NULL);
	refused("fanotify", spawn(fanotify_queued, NULL), "fanotify", "events not read yet", NULL);

	snprintf(gone, sizeof(gone), "%s/deleted-outside", zdtm_dir());
	int keep = open(gone, O_CREAT | O_RDWR, 0644);
	struct kid w = spawn(watch_deleted, gone);
	unlink(gone);
	refused("inotify", w, "deleted since", "which nothing of the tree keeps", NULL);
	close(keep);
	refused("vhangup", spawn(hung_slave, NULL), "hung up", NULL);
	refused("devtty", spawn(devtty_gone, NULL), "(/dev/tty)", "no longer has", NULL);

	for (int i = 0; i < nkids; i++)
		kill(kids[i], SIGKILL);
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;	/* every process of the test is gone before the runner dumps it */
	zdtm_ready();
	zdtm_wait_sigterm();
	zdtm_exit();
}
