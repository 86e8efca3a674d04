// SPDX-License-Identifier: Apache-2.0
// A process that cannot be frozen for a while (tests/cli: --timeout): it vforks a child that
// neither calls exec nor exits for SECONDS, so its thread waits in vfork() all that time.
//   cli_vfork DIR SECONDS   writes DIR/ready (its pid) once it waits in vfork(), then waits on
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	char path[4096], tmp[4096];
	snprintf(path, sizeof(path), "%s/ready", argv[1]);
	snprintf(tmp, sizeof(tmp), "%s/ready.tmp", argv[1]);
	struct timespec ts = { atoi(argv[2]), 0 };
	/*
	 * The ready file is written a moment later by a grandchild, out of the tree (its parent
	 * exits at once), because the vfork child may only make system calls.
	 */
	pid_t self = getpid(), helper = fork();
	if (helper == 0) {
		if (fork() != 0)
			_exit(0);
		usleep(300 * 1000);	/* by then the process waits in vfork() */
		FILE *f = fopen(tmp, "w");
		if (!f || fprintf(f, "%d\n", (int)self) < 0 || fclose(f) != 0 || rename(tmp, path) != 0)
			_exit(1);
		_exit(0);
	}
	waitpid(helper, NULL, 0);
	pid_t c = vfork();
	if (c == 0) {
		syscall(SYS_nanosleep, &ts, NULL);
		syscall(SYS_exit, 0);
	}
	waitpid(c, NULL, 0);
	for (;;)
		pause();
}
