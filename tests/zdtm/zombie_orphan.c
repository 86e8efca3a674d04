// SPDX-License-Identifier: Apache-2.0
// A zombie whose parent and session leader are both gone: the dumped root R is a child subreaper; its
// child H makes a session of its own, forks Z, which exits, and H exits too (reaped by R). Z is
// reparented to R, unreaped, in H's session and group though no process leads them. Restoring that needs
// a helper process to make the session at H's pid; ferry has none, so the dump is refused naming Z and
// the session, and R runs on: Z is still its zombie child in H's session, reaped with its exit status.
#include "zdtm_refuse.h"

#include <errno.h>
#include <sys/prctl.h>

static pid_t z, h;

static int setup(void)
{
	int pfd[2];
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (pipe(pfd) < 0)
		return -1001;
	h = fork();
	if (!h) {
		setsid();
		pid_t zz = fork();
		if (!zz)
			_exit(42);
		siginfo_t si;
		waitid(P_PID, zz, &si, WEXITED | WNOWAIT);
		if (write(pfd[1], &zz, sizeof(zz)) != sizeof(zz))
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], &z, sizeof(z)) != sizeof(z))
		return -1002;
	waitpid(h, NULL, 0);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", z);
	for (int i = 0; i < 500; i++) {	/* until Z is reparented to us */
		char pp[32] = "";
		zdtm_status_field(path, "PPid", pp, sizeof(pp));
		if (atoi(pp) == getpid())
			return -1;
		usleep(10000);
	}
	return -1003;
}

static int check(void)
{
	char path[64], st[32] = "";
	int status = 0;
	snprintf(path, sizeof(path), "/proc/%d/status", z);
	zdtm_status_field(path, "State", st, sizeof(st));
	if (st[0] != 'Z' || getsid(z) != h)
		return 1;
	if (waitpid(z, &status, 0) != z || !WIFEXITED(status) || WEXITSTATUS(status) != 42)
		return 2;
	return 0;
}

static const struct zr_case cases[] = {
	{ "zombie-orphan", setup, check, { "session", "neither its own nor its parent's" } },
};

int main(void)
{
	zr_main("zombie_orphan", cases, 1);
}
