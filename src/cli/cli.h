/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Subcommands of the ferry CLI. main.c parses a command's arguments with the option table
 * (options.h) and runs it; each returns the process exit code (0 done, 1 failed, 2 refused).
 */
#pragma once
#include "cli/options.h"

int cmd_dump(struct cli_args *a);	/* dump and pre-dump */
int cmd_restore(struct cli_args *a);
int cmd_page_server(struct cli_args *a);
int cmd_export(struct cli_args *a);
int cmd_import(struct cli_args *a);
int cmd_image(struct cli_args *a);
int cmd_show(struct cli_args *a);
int cmd_check(struct cli_args *a);
