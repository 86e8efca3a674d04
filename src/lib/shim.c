/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Restore through a shim (the conmon pattern): the caller forks twice; the grandchild, the shim,
 * runs the restore, so the restored root is its child and not the caller's. The shim sends the
 * restore's log, progress and result to the caller through a pipe, then drops everything it
 * inherited but that pipe and the status file, reaps the tree's orphans (child subreaper) and,
 * once the root exits, writes its status ("exit N" or "signal N") to "shim-status-file" and to
 * the pipe. The caller may exit at any time after ferry_op_run(): the tree and its shim run on.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common/cleanup.h"
#include "common/util.h"
#include "lib/op.h"

enum { SR_HELLO = 1, SR_LOG, SR_PROGRESS, SR_DONE, SR_STATUS };

struct shim_rec {
	uint32_t type, len;
};

struct shim_progress {
	const char *phase;	/* a string of the library: the same address in the caller (a fork) */
	uint64_t done, total;
	int unit, tree;
};

struct shim_done {
	int rc;
	pid_t shim;
	struct ferry_err err;
	struct op_report report;	/* pids follow the record */
};

static int shim_wfd = -1;		/* the shim's end of the pipe (the shim is a process of its own) */
static volatile sig_atomic_t *shim_cancel;

static void send_rec(int type, const void *a, size_t alen, const void *b, size_t blen)
{
	struct shim_rec h = { (uint32_t)type, (uint32_t)(alen + blen) };
	if (write_full(shim_wfd, &h, sizeof(h)) == 0 && write_full(shim_wfd, a, alen) == 0 && blen)
		write_full(shim_wfd, b, blen);
}

static void shim_log(void *arg, int level, const char *msg)
{
	send_rec(SR_LOG, &level, sizeof(level), msg, strlen(msg) + 1);
}

static void shim_progress(void *arg, const char *phase, uint64_t done, uint64_t total, int unit, int tree)
{
	struct shim_progress p = { phase, done, total, unit, tree };
	send_rec(SR_PROGRESS, &p, sizeof(p), NULL, 0);
}

static void on_term(int sig)
{
	*shim_cancel = 1;
}

static int root_status(pid_t root)
{
	int st = 0;
	for (;;) {	/* the tree's orphans come to us too (child subreaper): reap them on the way */
		pid_t p = waitpid(-1, &st, __WALL);
		if (p == root)
			return st;
		if (p < 0 && errno != EINTR)
			return -1;
	}
}

static __attribute__((noreturn)) void shim_main(ferry_op *op, int wfd)
{
	shim_wfd = wfd;
	shim_cancel = &op->cancel;
	setsid();
	prctl(PR_SET_NAME, "ferry-shim");
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGPIPE, SIG_IGN);	/* the caller may be gone: its pipe is then only an error */
	signal(SIGTERM, on_term);	/* the caller's ferry_op_cancel() */
	pid_t self = getpid();
	send_rec(SR_HELLO, &self, sizeof(self), NULL, 0);
	int sfd = op->shim_status_file ? open(op->shim_status_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
	/* everything the caller's sink would show goes to it, the log file stays here */
	if (op->sink.fn_level < op->sink.console_level)
		op->sink.fn_level = op->sink.console_level;
	op->sink.console_level = -1;
	op->sink.fn = shim_log;
	op->report.progress = shim_progress;
	op->restore.released = NULL;	/* the caller hears of it from the result */
	op->restore.detached = op->restore.restore_sibling = 0;	/* the root is the shim's child */
	int r = op_restore_direct(op);
	struct shim_done d = { .rc = r, .shim = getpid(), .err = op->err, .report = op->report };
	send_rec(SR_DONE, &d, sizeof(d), op->report.pids, op->report.npids * sizeof(pid_t));
	if (r < 0)
		_exit(1);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {	/* keep nothing of the caller's: no terminal, no socket */
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}
	int keep[5] = { 0, 1, 2, wfd, sfd };	/* sorted: both are above 2 */
	if (sfd >= 0 && sfd < wfd) {
		keep[3] = sfd;
		keep[4] = wfd;
	}
	close_all_but(keep, sfd >= 0 ? 5 : 4);
	int st = root_status(op->report.pids[0]);
	if (sfd >= 0) {
		char line[32];
		int n = WIFSIGNALED(st) ? snprintf(line, sizeof(line), "signal %d\n", WTERMSIG(st))
					: snprintf(line, sizeof(line), "exit %d\n", WEXITSTATUS(st));
		write_full(sfd, line, (size_t)n);
	}
	send_rec(SR_STATUS, &st, sizeof(st), NULL, 0);
	_exit(0);
}

/* One record into buf (*len: its size); 1, 0 at the end of the pipe, or -errno. */
static int read_rec(int fd, struct shim_rec *h, char **buf)
{
	int r = read_full(fd, h, sizeof(*h));
	if (r < 0)
		return r == -EIO ? 0 : r;
	if (h->len > (1u << 20))
		return -EBADMSG;
	free(*buf);
	*buf = malloc(h->len + 1);
	if (!*buf)
		return -ENOMEM;
	(*buf)[h->len] = 0;
	r = read_full(fd, *buf, h->len);
	return r < 0 ? r : 1;
}

static void got_done(ferry_op *op, const char *buf, size_t len)
{
	struct shim_done d;
	memcpy(&d, buf, sizeof(d));
	op->err = d.err;
	op->shim_pid = d.shim;
	op->report = d.report;
	op->report.progress = NULL;
	op->report.pids = NULL;
	size_t n = (len - sizeof(d)) / sizeof(pid_t);
	op->report.npids = 0;
	if (n && (op->report.pids = malloc(n * sizeof(pid_t)))) {
		memcpy(op->report.pids, buf + sizeof(d), n * sizeof(pid_t));
		op->report.npids = n;
	}
	op->rc = d.rc;
}

/* Waits for the shim's result, passing its log and progress on; cancels it on request. */
static int follow(ferry_op *op, int fd)
{
	_cleanup_free_ char *buf = NULL;
	struct shim_rec h;
	int told = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (op->cancel && !told && op->shim_pid > 0)
			told = kill(op->shim_pid, SIGTERM) == 0;
		if (poll(&p, 1, 100) <= 0)
			continue;
		int r = read_rec(fd, &h, &buf);
		if (r <= 0)
			return fe_msg(&op->err, ECHILD, "the restore's shim died before it reported");
		if (h.type == SR_HELLO && h.len == sizeof(pid_t))
			op->shim_pid = *(pid_t *)buf;
		else if (h.type == SR_LOG && h.len > sizeof(int))
			log_printf(*(int *)buf, "", "%s", buf + sizeof(int));
		else if (h.type == SR_PROGRESS && h.len == sizeof(struct shim_progress)) {
			struct shim_progress *sp = (struct shim_progress *)buf;
			op_progress(op, sp->phase, sp->done, sp->total, sp->unit, sp->tree);
		} else if (h.type == SR_DONE && h.len >= sizeof(struct shim_done)) {
			got_done(op, buf, h.len);
			return op->rc;
		}
	}
}

int op_restore_shim(ferry_op *op)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return fe_set(&op->err, errno, "shim: pipe");
	fflush(NULL);
	pid_t mid = fork();
	if (mid < 0) {
		close(p[0]);
		close(p[1]);
		return fe_set(&op->err, errno, "shim: fork");
	}
	if (mid == 0) {	/* the shim is a grandchild: never the caller's child, nothing for it to reap */
		close(p[0]);
		pid_t shim = fork();
		if (shim == 0)
			shim_main(op, p[1]);
		_exit(shim < 0);
	}
	close(p[1]);
	int st = 0;
	while (waitpid(mid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		close(p[0]);
		return fe_msg(&op->err, EAGAIN, "shim: could not fork the shim");
	}
	op->shim_pid = -1;	/* known from its first record */
	int r = follow(op, p[0]);
	if (r < 0) {
		close(p[0]);
		return r;
	}
	op->shim_fd = p[0];
	op_ready(op);
	return 0;
}

int op_shim_wait(ferry_op *op, int *wstatus)
{
	_cleanup_free_ char *buf = NULL;
	struct shim_rec h;
	if (op->shim_fd < 0)
		return -ECHILD;
	for (;;) {
		int r = read_rec(op->shim_fd, &h, &buf);
		if (r <= 0)
			return r < 0 ? r : -ECHILD;
		if (h.type == SR_STATUS && h.len == sizeof(int)) {
			if (wstatus)
				*wstatus = *(int *)buf;
			return 0;
		}
	}
}
