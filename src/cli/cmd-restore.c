/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ferry restore`: the parsed operation, run (ferry.h), then what the CLI does around it: once
 * the tree runs --status-fd is told, --exec-cmd runs, or ferry waits for the root and exits
 * with its status.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cli/action.h"
#include "cli/cli.h"

/* The restored root's status as an exit code. */
static int wait_root(ferry_op *op, pid_t root)
{
	int st = 0;
	int r = ferry_op_wait(op, &st);
	if (r < 0) {
		fprintf(stderr, "Error: wait for the restored pid %d: %s\n", root, strerror(-r));
		return 1;
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 0;
}

int cmd_restore(struct cli_args *a)
{
	/* SIGINT, SIGTERM, SIGHUP cancel the restore until its tree runs (cli/guard.c) */
	cli_cancel_begin(a->op);
	ferry_op_set_ready(a->op, cli_cancel_end, NULL);
	int r = action_run(a, "pre-restore", 0);
	if (r == 0 && (r = ferry_op_run(a->op)) < 0)
		fprintf(stderr, "Error: restore from %s failed: %s\n", a->images_dir ? a->images_dir : a->from_export,
			ferry_op_error_message(a->op));
	if (r < 0) {
		cli_cancel_end(NULL, a->op);	/* cancelled: die by the signal that asked for it */
		return 1;
	}
	pid_t root = ferry_op_root_pid(a->op);
	if (action_run(a, "post-resume", root) < 0)
		fprintf(stderr, "Warning: the tree runs on (pid %d)\n", root);
	if (a->status_fd >= 0) {
		if (write(a->status_fd, "", 1) != 1)
			fprintf(stderr, "Warning: cannot write to --status-fd %d: %s\n", a->status_fd, strerror(errno));
		close(a->status_fd);
	}
	if (a->exec_cmd) {
		fflush(NULL);
		execvp(a->args[0], a->args);
		fprintf(stderr, "Error: --exec-cmd %s: %s (pid %d runs on, restored)\n", a->args[0], strerror(errno), root);
		return 1;
	}
	return a->detached ? 0 : wait_root(a->op, root);
}
