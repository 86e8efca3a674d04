/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parsing a command's arguments with the option table (opttab.h): getopt_long built from the
 * table, strict values, and the one place (cli_apply in options.c) where a flag becomes an option
 * of the operation (ferry_op_set_*, include/ferry/ferry.h).
 */
#pragma once
#include <stddef.h>
#include <sys/types.h>
#include "cli/opttab.h"
#include "ferry/ferry.h"

/*
 * A parsed command line: the operation (ferry.h) with every option that is the library's set on
 * it, and what the CLI itself does around it.
 */
struct cli_args {
	const struct cli_cmd *cmd;
	ferry_op *op;			/* NULL for `image` until its subcommand is known (cmd_image) */
	int verbosity;			/* FERRY_LOG_* */
	pid_t pid;			/* -t */
	const char *images_dir;		/* -D */
	const char *work_dir;		/* -W */
	int page_server;		/* --page-server */
	int tls;			/* --tls: default certificate files when none is given */
	int tls_files;			/* one of --tls-cert, --tls-key, --tls-cacert was given */
	const char *address;		/* --address */
	int port;			/* --port */
	int daemon;			/* page-server */
	int detached;			/* restore -d */
	int restore_sibling;
	int port_set;			/* --port was given (the page server's may be 0) */
	int exec_cmd;			/* restore --exec-cmd: args[] is the command */
	int feature_asked;		/* check --feature */
	const char *check_image;	/* check --image */
	const char *from_export;	/* restore --from-export */
	const char *encrypt_key;	/* restore, image, show */
	const char *log_file;		/* -o */
	int status_fd;			/* --status-fd, or -1 */
	const char *listen;		/* serve --listen ADDR:PORT */
	const char *to;			/* migrate --to ADDR:PORT */
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
