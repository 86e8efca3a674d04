/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Subcommands of the ferry CLI. main.c parses a command's arguments with the option table
 * (options.h) and runs it; each returns the process exit code (0 done, 1 failed, 2 refused).
 */
#pragma once
#include <signal.h>
#include "cli/options.h"

int cmd_dump(struct cli_args *a);	/* dump and pre-dump */
int cmd_restore(struct cli_args *a);
int cmd_page_server(struct cli_args *a);
int cmd_export(struct cli_args *a);
int cmd_import(struct cli_args *a);
int cmd_image(struct cli_args *a);
int cmd_show(struct cli_args *a);
int cmd_check(struct cli_args *a);
int cmd_serve(struct cli_args *a);
int cmd_migrate(struct cli_args *a);

/*
 * Commands that freeze a tree (C_FREEZE): forks; only the worker returns, with the flag that
 * SIGINT/SIGTERM/SIGHUP (sent to the front, forwarded) and the front's death set. The front
 * exits with the worker's status (cli/guard.c).
 */
const volatile sig_atomic_t *cli_guard_worker(void);
/* restore: those signals set the returned flag, until cli_cancel_end() gives them back their default. */
const volatile sig_atomic_t *cli_cancel_begin(void);
/* Default dispositions again; a signal caught meanwhile is raised now. */
void cli_cancel_end(void *unused);
/* The signal that cancelled the operation, 0 if none. */
int cli_cancelled_by(void);
