// SPDX-License-Identifier: Apache-2.0
// A root that is not a session leader, in the process group of its child Z, which leads the
// group and has exited (a zombie). After restore the root is in Z's group again and Z is still a
// zombie with its exit code. Started by tests/task/task.sh from a shell, not with setsid.
#include "zdtm.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	siginfo_t si;
	zdtm_init("root_group");
	if (getsid(0) == getpid())
		zdtm_skip("started as a session leader: it cannot join another group");
	pid_t z = fork();
	if (z == 0) {
		setpgid(0, 0);
		usleep(200000);
		_exit(5);
	}
	setpgid(z, z);
	if (setpgid(0, z) < 0)
		zdtm_fail("join the child's group: %m");
	waitid(P_PID, z, &si, WEXITED | WNOWAIT);
	zdtm_ready();
	zdtm_wait_sigterm();
	zdtm_check(getpgrp() == z, "the root is in group %d, want %d", getpgrp(), z);
	int st = -1;
	zdtm_check(waitpid(z, &st, 0) == z && WIFEXITED(st) && WEXITSTATUS(st) == 5, "Z's status %#x", st);
	zdtm_exit();
}
