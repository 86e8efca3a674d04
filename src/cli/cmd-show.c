/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry show [--encrypt-key FILE] DIR|FILE`: images as JSON, encoded ones decoded as they are read. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include "cli/cli.h"
#include "image/show.h"
#include "transform/transform.h"

static int show(const char *path, const char *key, struct ferry_err *err)
{
	char dir[PATH_MAX], base[PATH_MAX];
	struct stat st;
	if (stat(path, &st) < 0)
		return fe_set(err, errno, "%s", path);
	int one = !S_ISDIR(st.st_mode);
	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(base, sizeof(base), "%s", path);
	struct img_src src;
	int r = img_src_open(&src, one ? dirname(dir) : path, err);
	if (r == 0)
		r = transform_src_attach(&src, key, err);
	if (r == 0)
		r = img_show_src(&src, one ? basename(base) : NULL, stdout, err);
	img_src_close(&src);
	return r;
}

int cmd_show(struct cli_args *a)
{
	struct ferry_err err = { 0 };
	int r = show(a->args[0], a->encrypt_key, &err);
	if (r < 0) {
		fprintf(stderr, "Error: %s\n", fe_str(&err, r));
		return 1;
	}
	return 0;
}
