/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry show [--encrypt-key FILE] DIR|FILE`: images as JSON, encoded ones decoded as they are read. */
#include <stdio.h>
#include "cli/cli.h"

int cmd_show(struct cli_args *a)
{
	int r = ferry_op_set_str(a->op, "path", a->args[0]);
	if (r == 0)
		r = ferry_op_run(a->op);
	if (r < 0) {
		fprintf(stderr, "Error: %s\n", ferry_op_error_message(a->op));
		return 1;
	}
	return 0;
}
