/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry check [--json] [--feature NAME]`: what this kernel and CPU offer, and whether the engine can run here. */
#include <errno.h>
#include <stdio.h>
#include "cli/cli.h"

int cmd_check(struct cli_args *a)
{
	int r = ferry_op_run(a->op);
	if (r == -ENOENT)	/* a feature nobody knows: absent, as CRIU answers */
		fprintf(stderr, "ferry check: %s\n", ferry_op_error_message(a->op));
	else if (r < 0 && ferry_op_error_class(a->op) == FERRY_ERR_UNSUPPORTED && a->feature_asked)
		;	/* "NAME is not supported" was the answer, or -v0 and the status says it */
	else if (r < 0)
		fprintf(stderr, "Error: %s\n", ferry_op_error_message(a->op));
	return r < 0 ? 1 : 0;
}
