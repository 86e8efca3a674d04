// SPDX-License-Identifier: Apache-2.0
// File leases (dumped with --file-locks, asked for in <dir>/dump.opts), each with F_SETSIG SIGIO and
// a handler that records si_fd: a read lease on a read-only descriptor, a write lease, a write lease
// being broken to read (an opener for reading was refused), a read lease being broken to none, and
// a write lease held through two descriptors of one open file description. After restore:
// F_GETLEASE reads the same (a breaking lease its target), no break signal came twice, and opening
// a leased file for writing from a child breaks the read lease again: the signal arrives with si_fd
// naming its descriptor and F_GETLEASE turns F_UNLCK.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int sig_fd[64], sig_count;

static void on_break(int sig, siginfo_t *si, void *uc)
{
	if (sig_count < 64)
		sig_fd[sig_count] = si->si_fd;
	sig_count++;
}

static int leased(const char *name, int mode, int lease)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", zdtm_dir(), name);
	int fd = open(path, mode | O_CREAT, 0644);
	if (fd < 0 || fcntl(fd, F_SETSIG, SIGIO) < 0 || fcntl(fd, F_SETLEASE, lease) < 0)
		return -1;
	return fd;
}

/* An opener that cannot wait: starts the break and is refused (EWOULDBLOCK). */
static int start_break(const char *name, int mode)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", zdtm_dir(), name);
	int fd = open(path, mode | O_NONBLOCK);
	if (fd >= 0)
		close(fd);
	return fd < 0 && errno == EWOULDBLOCK ? 0 : -1;
}

static void wait_signals(int n)
{
	for (int i = 0; i < 300 && sig_count < n; i++)
		usleep(10000);
}

int main(void)
{
	char path[256];
	struct sigaction sa = { .sa_sigaction = on_break, .sa_flags = SA_SIGINFO | SA_RESTART };
	zdtm_init("lease");
	sigemptyset(&sa.sa_mask);
	sigaction(SIGIO, &sa, NULL);
	int frd = leased("rd", O_RDONLY, F_RDLCK), fwr = leased("wr", O_RDWR, F_WRLCK);
	int fbr = leased("brk-rd", O_RDWR, F_WRLCK), fbu = leased("brk-un", O_RDONLY, F_RDLCK);
	int fsh = leased("shared", O_WRONLY, F_WRLCK), fsh2 = dup(fsh);
	if (frd < 0 || fwr < 0 || fbr < 0 || fbu < 0 || fsh < 0 || fsh2 < 0)
		zdtm_skip("leases: %m");
	if (start_break("brk-rd", O_RDONLY) < 0 || start_break("brk-un", O_WRONLY) < 0)
		zdtm_skip("a lease did not start breaking");
	wait_signals(2);
	int before = sig_count;
	zdtm_check(before == 2 && ((sig_fd[0] == fbr && sig_fd[1] == fbu) || (sig_fd[0] == fbu && sig_fd[1] == fbr)),
		   "setup: %d break signals (fds %d %d)", before, sig_fd[0], sig_fd[1]);
	snprintf(path, sizeof(path), "%s/dump.opts", zdtm_dir());
	FILE *f = fopen(path, "w");
	if (!f || fputs("--file-locks\n", f) < 0 || fclose(f) != 0)
		zdtm_skip("dump.opts: %m");
	zdtm_ready();
	zdtm_wait_sigterm();

	zdtm_check(fcntl(frd, F_GETLEASE) == F_RDLCK, "read lease: %d", fcntl(frd, F_GETLEASE));
	zdtm_check(fcntl(fwr, F_GETLEASE) == F_WRLCK, "write lease: %d", fcntl(fwr, F_GETLEASE));
	zdtm_check(fcntl(fbr, F_GETLEASE) == F_RDLCK, "lease broken to read: %d", fcntl(fbr, F_GETLEASE));
	zdtm_check(fcntl(fbu, F_GETLEASE) == F_UNLCK, "lease broken to none: %d", fcntl(fbu, F_GETLEASE));
	zdtm_check(fcntl(fsh, F_GETLEASE) == F_WRLCK && fcntl(fsh2, F_GETLEASE) == F_WRLCK, "shared write lease: %d",
		   fcntl(fsh2, F_GETLEASE));
	zdtm_check(fcntl(frd, F_GETOWN) == getpid() && fcntl(frd, F_GETSIG) == SIGIO, "owner %d signal %d",
		   fcntl(frd, F_GETOWN), fcntl(frd, F_GETSIG));
	usleep(100000);
	zdtm_check(sig_count == before, "%d break signals arrived again after the restore", sig_count - before);
	pid_t kid = fork();
	if (kid == 0)
		_exit(start_break("rd", O_WRONLY) < 0 ? 1 : 0);
	int st = 0;
	zdtm_check(waitpid(kid, &st, 0) == kid && WIFEXITED(st) && !WEXITSTATUS(st), "opening rd for writing did not "
		   "break its lease");
	wait_signals(before + 1);
	zdtm_check(sig_count == before + 1 && sig_fd[before] == frd, "break of the read lease: %d signals, si_fd %d, "
		   "want %d", sig_count - before, sig_fd[before], frd);
	zdtm_check(fcntl(frd, F_GETLEASE) == F_UNLCK, "the broken read lease: %d", fcntl(frd, F_GETLEASE));
	zdtm_exit();
}
