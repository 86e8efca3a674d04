/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry page-server`, `ferry export`, `ferry import` and `ferry image verify|merge`. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cli/cli.h"
#include "common/log.h"
#include "common/safefile.h"
#include "engine/chain.h"
#include "engine/stats.h"

static int fail(const char *what, struct ferry_err *err, int r)
{
	fprintf(stderr, "Error: %s: %s\n", what, fe_str(err, r));
	return 1;
}

struct ps_state {
	struct cli_args *a;
	int ready_fd;		/* --daemon: tells the parent we listen; -1 otherwise */
};

/* Called once the server listens: --pidfile, --status-fd, and --daemon's parent may go. */
static void ps_listening(void *arg)
{
	struct ps_state *ps = arg;
	struct cli_args *a = ps->a;
	if (a->pidfile) {	/* relative: into DIR, as CRIU's */
		char path[4096], buf[32];
		struct ferry_err e = { 0 };
		record_path(path, sizeof(path), NULL, a->images_dir, a->pidfile);
		int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
		int r = fault_point("page-server-write-pidfile") ? fe_msg(&e, EIO, "fault injected")
								 : safe_write_path(path, buf, (size_t)n, 0644, &e);
		if (r < 0)
			pr_warn("cannot write pidfile %s: %s\n", path, fe_str(&e, r));
	}
	if (a->status_fd >= 0) {
		if (write(a->status_fd, "", 1) != 1)
			pr_warn("cannot write to --status-fd %d: %m\n", a->status_fd);
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
			pr_warn("cannot tell the caller we listen: %m\n");
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

/* -o, or page-server.log with --daemon: in DIR, made as the server makes it (safefile.h). */
static void open_log(const struct cli_args *a)
{
	char path[4096];
	struct ferry_err e = { 0 };
	record_path(path, sizeof(path), NULL, a->images_dir, a->log_file ? a->log_file : "page-server.log");
	int fd = safe_dir_open(a->images_dir, 1, &e);
	int r = fd < 0 ? fd : log_open_file(path, &e);
	if (fd >= 0)
		close(fd);
	if (r < 0)
		pr_warn("no log file: %s\n", fe_str(&e, r));
}

int cmd_page_server(struct cli_args *a)
{
	struct remote_opts *o = &a->remote;
	struct ps_state ps = { .a = a, .ready_fd = -1 };
	struct ferry_err err = { 0 };
	o->listening = ps_listening;
	o->listening_arg = &ps;
	if (a->daemon) {
		int r = daemonize(&ps.ready_fd);
		if (r < 0)
			return fail("page server: go to the background", &err, fe_set(&err, -r, "fork"));
	}
	if (a->log_file || a->daemon)
		open_log(a);
	int r = page_server_run(o, a->images_dir, a->forever, &err);
	log_close_file();
	return r < 0 ? fail("page server", &err, r) : 0;
}

int cmd_export(struct cli_args *a)
{
	struct ferry_err err = { 0 };
	int r = image_export(a->args[0], a->args[1], &err);
	return r < 0 ? fail("export", &err, r) : 0;
}

int cmd_import(struct cli_args *a)
{
	struct ferry_err err = { 0 };
	int r = image_import(a->args[0], a->args[1], &err);
	return r < 0 ? fail("import", &err, r) : 0;
}

int cmd_image(struct cli_args *a)
{
	struct ferry_err err = { 0 };
	if (a->nargs == 2 && !strcmp(a->args[0], "verify")) {
		int r = chain_verify(a->args[1], a->encrypt_key, stdout, &err);
		return r < 0 ? fail(a->args[1], &err, r) : 0;
	}
	if (a->nargs == 3 && !strcmp(a->args[0], "merge")) {
		int r = chain_merge(a->args[1], a->args[2], a->encrypt_key, &err);
		return r < 0 ? fail("merge", &err, r) : 0;
	}
	cli_error(a->cmd, "usage: ferry image verify DIR | ferry image merge DIR OUT (--encrypt-key FILE for an "
		  "encrypted image)");
	return 2;
}
