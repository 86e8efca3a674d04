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
 * Commands that freeze a tree (C_FREEZE): forks; only the worker returns, and SIGINT/SIGTERM/
 * SIGHUP (sent to the front, forwarded) and the front's death cancel op (ferry_op_cancel). The
 * front exits with the worker's status (cli/guard.c).
 */
void cli_guard_worker(ferry_op *op);
/* restore: those signals cancel op, until cli_cancel_end() gives them back their default. */
void cli_cancel_begin(ferry_op *op);
/* Default dispositions again; a signal caught meanwhile is raised now (a ferry_ready_fn). */
void cli_cancel_end(void *unused, ferry_op *op);
/* The signal that cancelled the operation, 0 if none. */
int cli_cancelled_by(void);
