// SPDX-License-Identifier: Apache-2.0
// signalfd: a non-blocking signalfd for SIGUSR1 and SIGRTMIN+3 (both blocked) and a blocking one for
// SIGUSR2. SIGUSR1 and SIGRTMIN+3 (value 77, queued twice) are pending at the dump; after restore the
// signalfd still has its mask and delivers exactly those signals, then nothing.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

static int sfd, sfd2, fl[2];
static char mask0[2][64];

static void fdinfo_mask(int fd, char *out)
{
	char p[64];

	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fd);
	if (zdtm_status_field(p, "sigmask", out, 64) < 0)
		strcpy(out, "?");
}

static void setup(void)
{
	sigset_t set, set2;
	union sigval val = { .sival_int = 77 };

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGRTMIN + 3);
	sigemptyset(&set2);
	sigaddset(&set2, SIGUSR2);
	sigset_t all = set;
	sigaddset(&all, SIGUSR2);
	sigprocmask(SIG_BLOCK, &all, NULL);
	sfd = signalfd(-1, &set, SFD_NONBLOCK);
	sfd2 = signalfd(-1, &set2, SFD_CLOEXEC);
	if (sfd < 0 || sfd2 < 0)
		zdtm_skip("signalfd: %m");
	kill(getpid(), SIGUSR1);
	sigqueue(getpid(), SIGRTMIN + 3, val);
	sigqueue(getpid(), SIGRTMIN + 3, val);
	fl[0] = fcntl(sfd, F_GETFL);
	fl[1] = fcntl(sfd2, F_GETFL);
	fdinfo_mask(sfd, mask0[0]);
	fdinfo_mask(sfd2, mask0[1]);
}

static void verify(void)
{
	struct signalfd_siginfo si[4];
	char m[64];
	int fds[2] = { sfd, sfd2 };

	for (int i = 0; i < 2; i++) {
		int f = fcntl(fds[i], F_GETFL);
		zdtm_check(f == fl[i], "signalfd %d: F_GETFL %#o, want %#o", i, f, fl[i]);
		fdinfo_mask(fds[i], m);
		zdtm_check(!strcmp(m, mask0[i]), "signalfd %d: sigmask %s, want %s", i, m, mask0[i]);
	}
	zdtm_check(fcntl(sfd2, F_GETFD) == FD_CLOEXEC, "close-on-exec lost");
	ssize_t n = read(sfd, si, sizeof(si));
	zdtm_check(n == 3 * (ssize_t)sizeof(si[0]), "read %zd bytes from the signalfd (%m), want 3 signals", n);
	if (n == 3 * (ssize_t)sizeof(si[0])) {
		zdtm_check(si[0].ssi_signo == SIGUSR1, "first signal %u, want SIGUSR1", si[0].ssi_signo);
		for (int i = 1; i < 3; i++)
			zdtm_check(si[i].ssi_signo == (unsigned)SIGRTMIN + 3 && si[i].ssi_int == 77 &&
				   si[i].ssi_code == SI_QUEUE, "signal %d: %u value %d code %d, want SIGRTMIN+3 77 SI_QUEUE",
				   i, si[i].ssi_signo, si[i].ssi_int, si[i].ssi_code);
	}
	zdtm_check(read(sfd, si, sizeof(si)) < 0 && errno == EAGAIN, "signalfd not empty afterwards");
	/* the blocking one still works */
	kill(getpid(), SIGUSR2);
	zdtm_check(read(sfd2, si, sizeof(si)) == sizeof(si[0]) && si[0].ssi_signo == SIGUSR2, "SIGUSR2 not read");
}

int main(void)
{
	zdtm_init("signalfd");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	verify();
	zdtm_exit();
}
