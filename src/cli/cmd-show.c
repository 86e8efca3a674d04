/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry show DIR|FILE`: images as JSON. */
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "image/show.h"

int cmd_show(int argc, char **argv)
{
	if (argc != 2 || !strcmp(argv[1], "--help")) {
		fprintf(argc == 2 ? stdout : stderr, "usage: ferry show DIR|FILE\n");
		return argc == 2 ? 0 : 2;
	}
	struct ferry_err err = { 0 };
	int r = img_show_dir(argv[1], stdout, &err);
	if (r < 0) {
		fprintf(stderr, "Error: %s\n", fe_str(&err, r));
		return 1;
	}
	return 0;
}
