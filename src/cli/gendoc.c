/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ferry-gendoc: writes the man pages, the bash completion and docs/CLI.md from the option table
 * at build time (meson), so they say exactly what --help says.
 *   ferry-gendoc man OUTDIR        ferry.8 and ferry-COMMAND.8 for every command
 *   ferry-gendoc bash FILE         the completion script
 *   ferry-gendoc markdown [FILE]   docs/CLI.md (stdout without FILE)
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "cli/doc.h"

static int emit(const char *path, void (*fn)(FILE *, const struct cli_cmd *), const struct cli_cmd *cmd)
{
	FILE *f = path ? fopen(path, "we") : stdout;
	if (!f) {
		fprintf(stderr, "ferry-gendoc: %s: %s\n", path, strerror(errno));
		return 1;
	}
	fn(f, cmd);
	int bad = ferror(f);
	if (path && fclose(f) != 0)
		bad = 1;
	if (bad)
		fprintf(stderr, "ferry-gendoc: cannot write %s\n", path ? path : "stdout");
	return bad;
}

static void bash(FILE *f, const struct cli_cmd *cmd)
{
	doc_bash(f);
}

static void markdown(FILE *f, const struct cli_cmd *cmd)
{
	doc_markdown(f);
}

int main(int argc, char **argv)
{
	char path[4096];
	if (argc == 3 && !strcmp(argv[1], "man")) {
		snprintf(path, sizeof(path), "%s/ferry.8", argv[2]);
		int bad = emit(path, doc_man, NULL);
		for (size_t i = 0; i < cli_ncmds; i++) {
			snprintf(path, sizeof(path), "%s/ferry-%s.8", argv[2], cli_cmds[i].name);
			bad |= emit(path, doc_man, &cli_cmds[i]);
		}
		return bad;
	}
	if (argc == 3 && !strcmp(argv[1], "bash"))
		return emit(argv[2], bash, NULL);
	if ((argc == 2 || argc == 3) && !strcmp(argv[1], "markdown"))
		return emit(argc == 3 ? argv[2] : NULL, markdown, NULL);
	fprintf(stderr, "usage: ferry-gendoc man OUTDIR | bash FILE | markdown [FILE]\n");
	return 2;
}
