/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ferry check [--json] [--feature NAME]`: what this kernel and CPU offer, and whether the engine
 * can run here; `ferry check --image DIR`: whether that image can be restored here.
 */
#include <errno.h>
#include <stdio.h>
#include "cli/cli.h"

/* Every difference on its own line (the run's findings). */
static int check_image(struct cli_args *a)
{
	int r = ferry_op_run(a->op);
	size_t n = ferry_op_finding_count(a->op);
	if (r < 0 && !n)
		fprintf(stderr, "Error: %s: %s\n", a->check_image, ferry_op_error_message(a->op));
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "Error: %s: %s\n", a->check_image, ferry_op_finding(a->op, i));
	return r < 0 ? 1 : 0;
}

int cmd_check(struct cli_args *a)
{
	if (a->check_image)
		return check_image(a);
	int r = ferry_op_run(a->op);
	if (r == -ENOENT)	/* a feature nobody knows: absent, as CRIU answers */
		fprintf(stderr, "ferry check: %s\n", ferry_op_error_message(a->op));
	else if (r < 0 && ferry_op_error_class(a->op) == FERRY_ERR_UNSUPPORTED && a->feature_asked)
		;	/* "NAME is not supported" was the answer, or -v0 and the status says it */
	else if (r < 0)
		fprintf(stderr, "Error: %s\n", ferry_op_error_message(a->op));
	return r < 0 ? 1 : 0;
}
