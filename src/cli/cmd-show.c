/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry show DIR|FILE`: images as JSON. */
#include <stdio.h>
#include "cli/cli.h"
#include "image/show.h"

int cmd_show(struct cli_args *a)
{
	struct ferry_err err = { 0 };
	int r = img_show_dir(a->args[0], stdout, &err);
	if (r < 0) {
		fprintf(stderr, "Error: %s\n", fe_str(&err, r));
		return 1;
	}
	return 0;
}
