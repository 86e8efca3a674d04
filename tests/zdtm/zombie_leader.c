// SPDX-License-Identifier: Apache-2.0
// Process groups and a session led by zombies. The root is a child subreaper. Child Z1 makes
// its own process group, forks M1 into it and exits unreaped: a zombie leads M1's group. Child
// Z2 makes its own session, forks M2 (in Z2's session and group) and exits unreaped: a zombie
// leads M2's session. After restore: both zombies are zombies with their exit codes, M1 and M2
// are in their groups and M2 in its session (checked by M1 and M2 themselves and by the root).
#include "zdtm.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t go;
static void on_term(int s) { go = 1; }

/* A leader (of a group, or of a session) with one member; exits with code once M is forked. */
static pid_t leader(int session, int code, int pfd)
{
	pid_t z = fork();
	if (z)
		return z;
	if (session)
		setsid();
	else
		setpgid(0, 0);
	pid_t m = fork();
	if (m == 0) {
		pid_t group = getpgid(0), ses = getsid(0);
		struct sigaction sa = { .sa_handler = on_term };
		sigaction(SIGTERM, &sa, NULL);
		while (!go)
			pause();
		_exit(getpgid(0) == group && getsid(0) == ses ? 0 : 1);
	}
	write(pfd, &m, sizeof(m));
	_exit(code);
}

int main(void)
{
	int pfd[2];
	pid_t z[2], m[2];
	siginfo_t si;
	zdtm_init("zombie_leader");
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (pipe(pfd) < 0)
		return 1;
	for (int i = 0; i < 2; i++) {
		z[i] = leader(i, 11 + i, pfd[1]);
		read(pfd[0], &m[i], sizeof(m[i]));
		waitid(P_PID, z[i], &si, WEXITED | WNOWAIT);	/* a zombie now, left unreaped */
	}
	for (int i = 0; i < 2; i++)	/* the members were given to us */
		for (int k = 0; k < 200 && getpgid(m[i]) != z[i]; k++)
			usleep(10000);
	zdtm_ready();
	zdtm_wait_sigterm();

	for (int i = 0; i < 2; i++) {
		zdtm_check(getpgid(m[i]) == z[i], "M%d (%d) is in group %d, want %d", i + 1, m[i], getpgid(m[i]), z[i]);
		if (i == 1)
			zdtm_check(getsid(m[i]) == z[i], "M2 is in session %d, want %d", getsid(m[i]), z[i]);
		memset(&si, 0, sizeof(si));
		zdtm_check(waitid(P_PID, z[i], &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == z[i] &&
			   si.si_code == CLD_EXITED && si.si_status == 11 + i, "Z%d is not a zombie with code %d", i + 1,
			   11 + i);
	}
	for (int i = 0; i < 2; i++) {
		int st = -1;
		kill(m[i], SIGTERM);
		zdtm_check(waitpid(m[i], &st, 0) == m[i] && WIFEXITED(st) && WEXITSTATUS(st) == 0, "M%d reports %#x",
			   i + 1, st);
		zdtm_check(waitpid(z[i], &st, 0) == z[i] && WIFEXITED(st) && WEXITSTATUS(st) == 11 + i,
			   "Z%d's status %#x", i + 1, st);
	}
	zdtm_exit();
}
