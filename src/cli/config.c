/* SPDX-License-Identifier: Apache-2.0 */
/* --config files (config.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/config.h"
#include "cli/options.h"

struct argv_buf {
	char **v;
	int n;
};

static int add(struct argv_buf *b, char *s)
{
	char **nv = s ? realloc(b->v, (size_t)(b->n + 2) * sizeof(*nv)) : NULL;
	if (!nv)
		return -ENOMEM;
	nv[b->n++] = s;
	nv[b->n] = NULL;
	b->v = nv;
	return 0;
}

/* A double-quoted value at p (after the quote) into out; the end, or NULL if unterminated. */
static char *quoted(char *p, char *out)
{
	for (; *p && *p != '"'; p++)
		*out++ = (*p == '\\' && p[1] == '"') ? *++p : *p;
	char *end = *p == '"' ? p + 1 : NULL;
	*out = 0;	/* may be where the closing quote was */
	return end;
}

/* One line: nothing, or "--name" / "--name=value" into *opt (malloc'd). 0 or -EINVAL. */
static int config_line(char *line, char **opt)
{
	*opt = NULL;
	char *p = line + strspn(line, " \t");
	p[strcspn(p, "\r\n")] = 0;
	if (!*p || *p == '#')
		return 0;
	char *name = p;
	p += strcspn(p, " \t#");
	char *name_end = p, *value = NULL;
	p += strspn(p, " \t");
	if (*p == '"') {
		value = p + 1;
		char *after = quoted(p + 1, value);
		if (!after)
			return -EINVAL;
		after += strspn(after, " \t");
		if (*after && *after != '#')
			return -EINVAL;
	} else if (*p && *p != '#') {
		value = p;
		char *e = p + strcspn(p, "#");
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		*e = 0;
	}
	*name_end = 0;
	int n = value ? asprintf(opt, "--%s=%s", name, value) : asprintf(opt, "--%s", name);
	return n < 0 ? -ENOMEM : 0;
}

static int read_config(const struct cli_cmd *cmd, const char *path, struct argv_buf *b)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		cli_error(cmd, "--config '%s': %s", path, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	int no = 0, r = 0;
	while (r == 0 && getline(&line, &cap, f) >= 0) {
		char *opt;
		no++;
		if ((r = config_line(line, &opt)) == 0 && opt)
			r = add(b, opt);
		if (r < 0)
			cli_error(cmd, "--config '%s', line %d: %s", path, no,
				  r == -EINVAL ? "an unterminated or misplaced quote" : strerror(-r));
	}
	free(line);
	fclose(f);
	return r < 0 ? -1 : 0;
}

int config_expand(const struct cli_cmd *cmd, int argc, char **argv, int *nargc, char ***nargv)
{
	struct argv_buf b = { 0 };
	if (add(&b, argv[0]) < 0)
		return -1;
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		const char *path = NULL;
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			path = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			path = argv[i] + 9;
		if (path && read_config(cmd, path, &b) < 0)
			return -1;
	}
	for (int i = 1; i < argc; i++)
		if (add(&b, argv[i]) < 0)
			return -1;
	*nargc = b.n;
	*nargv = b.v;
	return 0;
}
