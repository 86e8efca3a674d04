/* SPDX-License-Identifier: Apache-2.0 */
/* ferry: checkpoint/restore for Linux processes. The CLI front; the work is in libferry. */
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/doc.h"

static const struct {
	const char *name;
	int (*fn)(struct cli_args *);
} runs[] = {
	{ "dump", cmd_dump }, { "pre-dump", cmd_dump }, { "restore", cmd_restore },
	{ "page-server", cmd_page_server }, { "image", cmd_image }, { "export", cmd_export },
	{ "import", cmd_import }, { "show", cmd_show }, { "check", cmd_check },
	{ "serve", cmd_serve }, { "migrate", cmd_migrate },
};

static int run(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct cli_args a;
	int r = cli_parse(cmd, argc, argv, &a);
	if (r != 0) {
		cli_args_free(&a);
		return r > 0 ? 0 : 2;
	}
	if (a.op)
		ferry_op_set_int(a.op, "verbosity", a.verbosity);
	if (cmd->bit & C_FREEZE)	/* parsed and checked: from here on we are the worker */
		cli_guard_worker(a.op);
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++)
		if (!strcmp(runs[i].name, cmd->name))
			r = runs[i].fn(&a);
	cli_args_free(&a);
	return r;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		doc_usage(stderr);
		return 2;
	}
	const char *c = argv[1];
	if (!strcmp(c, "--help") || !strcmp(c, "-h") || (!strcmp(c, "help") && argc == 2)) {
		doc_usage(stdout);
		return 0;
	}
	if (!strcmp(c, "--version") || !strcmp(c, "-V")) {
		doc_version(stdout);
		return 0;
	}
	int help = !strcmp(c, "help");
	const struct cli_cmd *cmd = cli_cmd_find(help ? argv[2] : c);
	if (!cmd) {
		fprintf(stderr, "Error: ferry: unknown command '%s'\n\n", help ? argv[2] : c);
		doc_usage(stderr);
		return 2;
	}
	if (help && argc > 3) {
		fprintf(stderr, "Error: ferry: usage: ferry help [COMMAND]\n");
		return 2;
	}
	if (help) {
		doc_help(stdout, cmd);
		return 0;
	}
	return run(cmd, argc - 1, argv + 1);
}
