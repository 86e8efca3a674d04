/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parsing a command's arguments with the option table (opttab.h): getopt_long built from the
 * table, strict values, and the one place (cli_apply in options.c) where a flag becomes a field
 * of dump_opts, restore_opts, remote_opts or transform_opts.
 */
#pragma once
#include <stddef.h>
#include "cli/opttab.h"
#include "engine/engine.h"
#include "transform/transform.h"
#include "transport/transport.h"

/* --cpu-cap bits */
enum { CPU_CAP_FPU = 1 };

struct cli_args {
	const struct cli_cmd *cmd;
	struct dump_opts dump;
	struct restore_opts restore;
	struct remote_opts remote;
	struct transform_opts transform;
	int verbosity;			/* LOG_* */
	int page_server;		/* --page-server */
	int tls;			/* --tls: default certificate files when none is given */
	int json;			/* check --json */
	const char *feature;		/* check --feature */
	int forever, daemon;		/* page-server */
	int port_set;			/* --port was given (the page server's may be 0) */
	int exec_cmd;			/* restore --exec-cmd: args[] is the command */
	unsigned cpu_cap;		/* CPU_CAP_* to check at restore */
	const char *encrypt_key;	/* restore (also restore.key_file), image, show */
	const char *images_dir;		/* page-server -D */
	const char *pidfile;		/* page-server --pidfile (restore: restore.pidfile) */
	const char *log_file;		/* page-server -o */
	int status_fd;			/* --status-fd, or -1 */
	const char *listen;		/* serve --listen ADDR:PORT */
	const char *to;			/* migrate --to ADDR:PORT */
	int mode;			/* migrate --mode: enum migrate_mode */
	int force;			/* migrate --force */
	struct inherit_fd *inherit;
	const char **irmap;
	const char **scripts;		/* --action-script, in order */
	size_t nscripts;
	char **args;			/* positional arguments */
	int nargs;
};

/*
 * Parses argv (argv[0] is the command's name) into *a. Returns 0 to run the command, 1 when
 * it printed the help (exit 0), -1 when it printed an error naming the option and the value
 * (exit 2). Nothing else happens while parsing: no probe, no file is touched.
 */
int cli_parse(const struct cli_cmd *cmd, int argc, char **argv, struct cli_args *a);
void cli_args_free(struct cli_args *a);
/* "Error: ferry CMD: ..." on stderr. */
void cli_error(const struct cli_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
