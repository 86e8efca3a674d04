// SPDX-License-Identifier: Apache-2.0
// A process group whose leader has exited: the root is a child subreaper; its child A leads a new
// group, forks B into it and exits (reaped), so B is reparented to the root and stays in group A.
// After restore B is in group A again (checked by B itself and by the root), and no stand-in
// process is left behind: the root's only child is B.
#include "zdtm.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t go;
static void on_term(int s) { go = 1; }

int main(void)
{
	zdtm_init("pgrp_orphan");
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	int pfd[2];
	if (pipe(pfd) < 0)
		return 1;
	pid_t a = fork();
	if (!a) {
		setpgid(0, 0);
		pid_t b = fork();
		if (!b) {
			pid_t group = getpgid(0);
			struct sigaction sa = { .sa_handler = on_term };
			sigaction(SIGTERM, &sa, NULL);
			close(pfd[0]);
			close(pfd[1]);
			while (!go)
				pause();
			_exit(getpgid(0) == group ? 0 : 1);
		}
		write(pfd[1], &b, sizeof(b));
		_exit(0);
	}
	pid_t b;
	close(pfd[1]);
	read(pfd[0], &b, sizeof(b));
	close(pfd[0]);
	waitpid(a, NULL, 0);	/* the group's leader is gone; B was reparented to us */
	for (int i = 0; i < 100 && getpgid(b) != a; i++)
		usleep(10000);
	zdtm_ready();
	zdtm_wait_sigterm();

	zdtm_check(getpgid(b) == a, "B (%d) is in group %d, want %d", b, getpgid(b), a);
	kill(b, SIGTERM);
	int st;
	zdtm_check(waitpid(b, &st, 0) == b && WIFEXITED(st) && WEXITSTATUS(st) == 0, "B reports status %#x", st);
	errno = 0;
	zdtm_check(waitpid(-1, &st, WNOHANG) < 0 && errno == ECHILD, "an extra child is left behind");
	zdtm_exit();
}
