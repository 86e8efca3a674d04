/* SPDX-License-Identifier: Apache-2.0 */
/* ferry: checkpoint/restore for Linux processes. The CLI front; the work is in libferry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} cmds[] = {
	{ "dump", cmd_dump, "checkpoint a process tree into an image directory" },
	{ "pre-dump", cmd_pre_dump, "copy a tree's memory while it runs on (incremental checkpoints)" },
	{ "restore", cmd_restore, "restore a process tree from an image directory" },
	{ "page-server", cmd_page_server, "receive images from dumps on other hosts" },
	{ "image", cmd_image, "verify an image (and its parent chain), or merge a chain into one" },
	{ "export", cmd_export, "pack an image directory into one file" },
	{ "import", cmd_import, "unpack a file made by export into an image directory" },
	{ "show", cmd_show, "print an image directory or file as JSON" },
	{ "check", cmd_check, "probe the kernel and CPU for what ferry uses" },
};

int cli_verbosity(const char *arg, int current)
{
	if (!arg)
		return current + 1;
	if (arg[0] >= '0' && arg[0] <= '9')
		return atoi(arg);
	int n = current + 1;
	for (const char *p = arg; *p == 'v'; p++)
		n++;
	return n;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: ferry COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(out, "  %-12s %s\n", cmds[i].name, cmds[i].help);
	fprintf(out, "\n'ferry COMMAND --help' shows a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("ferry %s\n", FERRY_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "ferry: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
