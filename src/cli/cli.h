/* SPDX-License-Identifier: Apache-2.0 */
/* Subcommands of the ferry CLI. Each parses its own options and returns the process exit code. */
#pragma once
#include <signal.h>

int cmd_dump(int argc, char **argv);
int cmd_pre_dump(int argc, char **argv);
int cmd_page_server(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_check(int argc, char **argv);
/* -v, -vN, -vvv: CRIU's verbosity scale (0 silent … 4 debug). */
int cli_verbosity(const char *arg, int current);

/*
 * dump/pre-dump: forks; only the worker returns, with the flag that SIGINT/SIGTERM/SIGHUP (sent
 * to the front, forwarded) and the front's death set. The front exits with the worker's status.
 */
const volatile sig_atomic_t *cli_guard_worker(void);
/* restore: those signals set the returned flag, until cli_cancel_end() gives them back their default. */
const volatile sig_atomic_t *cli_cancel_begin(void);
/* Default dispositions again; a signal caught meanwhile is raised now. */
void cli_cancel_end(void *unused);
/* The signal that cancelled the operation, 0 if none. */
int cli_cancelled_by(void);
