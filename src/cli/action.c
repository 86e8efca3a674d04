/* SPDX-License-Identifier: Apache-2.0 */
/* --action-script (action.h). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cli/action.h"

static int run_one(const char *script, const char *stage, const char *dir, pid_t root)
{
	char pid[16], abs[PATH_MAX];
	snprintf(pid, sizeof(pid), "%d", (int)root);
	if (!realpath(dir, abs))
		snprintf(abs, sizeof(abs), "%s", dir);
	fflush(NULL);
	pid_t child = fork();
	if (child < 0)
		return -errno;
	if (child == 0) {
		sigset_t pipe;	/* the operation's thread blocks SIGPIPE: not the script's */
		sigemptyset(&pipe);
		sigaddset(&pipe, SIGPIPE);
		sigprocmask(SIG_UNBLOCK, &pipe, NULL);
		setenv("CRTOOLS_SCRIPT_ACTION", stage, 1);
		setenv("CRTOOLS_IMAGE_DIR", abs, 1);
		if (root > 0)
			setenv("CRTOOLS_INIT_PID", pid, 1);
		execl(script, script, (char *)NULL);
		fprintf(stderr, "Error: --action-script %s: %s\n", script, strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(child, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return st;
}

int action_run(const struct cli_args *a, const char *stage, pid_t root)
{
	/* restore --from-export has no image directory: the work directory, if any */
	const char *dir = a->images_dir ? a->images_dir : a->work_dir ? a->work_dir : "";
	char point[64];
	snprintf(point, sizeof(point), "action-%s", stage);
	/* FERRY_FAULT=action-<stage>: as a script that fails; a stall there ends on a cancel */
	if (ferry_op_fault_point(a->op, point)) {
		fprintf(stderr, "Error: --action-script (%s): fault injected\n", stage);
		return -1;
	}
	for (size_t i = 0; i < a->nscripts; i++) {
		int st = run_one(a->scripts[i], stage, dir, root);
		if (st == 0)
			continue;
		if (st < 0)
			fprintf(stderr, "Error: --action-script %s (%s): %s\n", a->scripts[i], stage, strerror(-st));
		else if (WIFEXITED(st))
			fprintf(stderr, "Error: --action-script %s (%s) exited with %d\n", a->scripts[i], stage,
				WEXITSTATUS(st));
		else
			fprintf(stderr, "Error: --action-script %s (%s) was killed by signal %d\n", a->scripts[i], stage,
				WTERMSIG(st));
		return -1;
	}
	return 0;
}

int action_hook(void *arg, const char *stage, pid_t root)
{
	return action_run(arg, stage, root);
}
