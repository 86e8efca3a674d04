/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry page-server`, `ferry export`, `ferry import` and `ferry image verify|merge`: operations of ferry.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cli/cli.h"

static int fail(const char *what, ferry_op *op)
{
	fprintf(stderr, "Error: %s: %s\n", what, ferry_op_error_message(op));
	return 1;
}

struct ps_state {
	struct cli_args *a;
	int ready_fd;		/* --daemon: tells the parent we listen; -1 otherwise */
};

/* Called once the server listens (after --pidfile): --status-fd, and --daemon's parent may go. */
static void ps_listening(void *arg, ferry_op *op)
{
	struct ps_state *ps = arg;
	struct cli_args *a = ps->a;
	(void)op;
	if (a->status_fd >= 0) {
		if (write(a->status_fd, "", 1) != 1)
			fprintf(stderr, "Warn  cannot write to --status-fd %d: %s\n", a->status_fd, strerror(errno));
		close(a->status_fd);
	}
	if (ps->ready_fd >= 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {	/* a daemon keeps no terminal and no caller's pipe */
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			close(null);
		}
		if (write(ps->ready_fd, "", 1) < 0)
			fprintf(stderr, "Warn  cannot tell the caller we listen: %s\n", strerror(errno));
		close(ps->ready_fd);
		ps->ready_fd = -1;
	}
}

/* --daemon: the parent returns 0 once the child listens, or the child's failure. */
static int daemonize(int *ready_fd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		close(p[0]);
		setsid();
		*ready_fd = p[1];
		return 0;
	}
	close(p[1]);
	char c;
	ssize_t n;
	while ((n = read(p[0], &c, 1)) < 0 && errno == EINTR)
		;
	if (n == 1)
		_exit(0);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	_exit(WIFEXITED(st) && WEXITSTATUS(st) ? WEXITSTATUS(st) : 1);
}

int cmd_page_server(struct cli_args *a)
{
	struct ps_state ps = { .a = a, .ready_fd = -1 };
	ferry_op_set_ready(a->op, ps_listening, &ps);
	if (a->daemon) {
		int r = daemonize(&ps.ready_fd);
		if (r < 0) {
			fprintf(stderr, "Error: page server: go to the background: fork: %s\n", strerror(-r));
			return 1;
		}
	}
	if (a->daemon && !a->log_file)	/* -o, or page-server.log with --daemon: in DIR */
		ferry_op_set_str(a->op, "log-file", "page-server.log");
	int r = ferry_op_run(a->op);
	return r < 0 ? fail("page server", a->op) : 0;
}

int cmd_export(struct cli_args *a)
{
	int r = ferry_op_set_str(a->op, "images-dir", a->args[0]);
	if (r == 0)
		r = ferry_op_set_str(a->op, "file", a->args[1]);
	if (r == 0)
		r = ferry_op_run(a->op);
	return r < 0 ? fail("export", a->op) : 0;
}

int cmd_import(struct cli_args *a)
{
	int r = ferry_op_set_str(a->op, "file", a->args[0]);
	if (r == 0)
		r = ferry_op_set_str(a->op, "images-dir", a->args[1]);
	if (r == 0)
		r = ferry_op_run(a->op);
	return r < 0 ? fail("import", a->op) : 0;
}

/* `image verify DIR` and `image merge DIR OUT`: the operation is made once the subcommand is known. */
static int image_op(struct cli_args *a, enum ferry_op_kind kind, const char *what)
{
	a->op = ferry_op_new(kind);
	if (!a->op) {
		fprintf(stderr, "Error: %s: %s\n", what, strerror(errno));
		return 1;
	}
	int r = ferry_op_set_int(a->op, "verbosity", a->verbosity);
	if (r == 0)
		r = ferry_op_set_str(a->op, "images-dir", a->args[1]);
	if (r == 0 && kind == FERRY_OP_MERGE)
		r = ferry_op_set_str(a->op, "output", a->args[2]);
	if (r == 0)
		r = ferry_op_set_str(a->op, "encrypt-key", a->encrypt_key);
	if (r == 0)
		r = ferry_op_run(a->op);
	return r < 0 ? fail(what, a->op) : 0;
}

int cmd_image(struct cli_args *a)
{
	if (a->nargs == 2 && !strcmp(a->args[0], "verify"))
		return image_op(a, FERRY_OP_VERIFY, a->args[1]);
	if (a->nargs == 3 && !strcmp(a->args[0], "merge"))
		return image_op(a, FERRY_OP_MERGE, "merge");
	cli_error(a->cmd, "usage: ferry image verify DIR | ferry image merge DIR OUT (--encrypt-key FILE for an "
		  "encrypted image)");
	return 2;
}
