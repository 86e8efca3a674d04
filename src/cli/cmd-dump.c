/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry dump` and `ferry pre-dump`: the parsed operation, run (ferry.h). */
#include <errno.h>
#include <stdio.h>
#include "cli/action.h"
#include "cli/cli.h"

int cmd_dump(struct cli_args *a)
{
	const char *cmd = a->cmd->name;
	if (action_run(a, "pre-dump", a->pid) < 0)
		return 1;
	int r = ferry_op_run(a->op);
	if (r < 0) {
		fprintf(stderr, "Error: %s of pid %d failed: %s\n", cmd, a->pid, ferry_op_error_message(a->op));
		if (r != -ESRCH)
			fprintf(stderr, "(the process keeps running as it was; the log in %s has the details)\n",
				a->work_dir ? a->work_dir : a->images_dir);
		return 1;
	}
	return 0;
}
