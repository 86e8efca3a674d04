/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry serve` and `ferry migrate`: the parsed operation, run (ferry.h); the work is in src/migrate/. */
#include <stdio.h>
#include "cli/cli.h"

static int run(struct cli_args *a)
{
	if (ferry_op_run(a->op) == 0)
		return 0;
	fprintf(stderr, "Error: %s: %s\n", a->cmd->name, ferry_op_error_message(a->op));
	return 1;
}

int cmd_serve(struct cli_args *a)
{
	return run(a);
}

/* A cancel (SIGINT, SIGTERM, SIGHUP at the front: cli/guard.c) stops it until the tree is killed here. */
int cmd_migrate(struct cli_args *a)
{
	return run(a);
}
