/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The first life of a restored task: a copy of ferry created at the old PID by clone3(set_tid).
 * It rebuilds what it can do with its own syscalls (descriptors, cwd, umask, signal actions,
 * personality, timers), reports over a pipe, asks to be traced and stops; ferry does the rest by
 * injection (engine/restore.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "engine/restore-child.h"
#include "files/files.h"

static void report(int fd, int code, int pages_fd, const char *msg)
{
	struct child_report rep = { .code = code, .pages_fd = pages_fd };
	snprintf(rep.msg, sizeof(rep.msg), "%s", msg ? msg : "");
	if (write_full(fd, &rep, sizeof(rep)) < 0)
		_exit(3);
}

static __attribute__((noreturn)) void fail(int fd, int rc, struct ferry_err *err)
{
	report(fd, rc < 0 ? -rc : EIO, -1, fe_str(err, rc));
	_exit(2);
}

/* Moves an fd to ≥ base (keeping it), returns the new number or -errno. */
static int lift(int fd, int base)
{
	if (fd < 0 || fd >= base)
		return fd;
	int n = fcntl(fd, F_DUPFD_CLOEXEC, base);
	return n < 0 ? -errno : n;
}

/* Closes every descriptor except those in keep[]. */
static void close_others(const int *keep, size_t n)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return;
	int self = dirfd(d);
	struct dirent *de;
	int fds[4096];
	size_t cnt = 0;
	while ((de = readdir(d)) && cnt < ARRAY_SIZE(fds))
		if (de->d_name[0] >= '0' && de->d_name[0] <= '9')
			fds[cnt++] = atoi(de->d_name);
	closedir(d);
	for (size_t i = 0; i < cnt; i++) {
		int k = fds[i] == self;
		for (size_t j = 0; j < n && !k; j++)
			k = keep[j] == fds[i];
		if (!k)
			close(fds[i]);
	}
}

void restore_child_main(struct restore_ctx *ctx, struct rtask *t, int sync_fd)
{
	struct ferry_err err = { 0 };
	sigset_t all;
	int r;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	/* Raw zeroed actions: glibc's signal() would leave SA_RESTART, its restorer and a mask behind. */
	static const uint64_t dfl[4] = { 0 };
	for (int sig = 1; sig < 65; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, dfl, NULL, 8);
	prctl(PR_SET_PDEATHSIG, SIGKILL);	/* until it is traced: die with ferry */
	if (getppid() != ctx->restorer_pid)
		_exit(4);
	log_close_file();

	if (t->pstree->sid == t->pid)
		setsid();
	else if (t->pstree->pgid == t->pid)
		setpgid(0, 0);

	/* ferry's own descriptors go above the task's, then everything else is closed. */
	int base = files_max_fd(t->fds) + 1;
	if (base < 3)
		base = 3;
	int keep[64 + 8], nkeep = 0;
	char pname[64];
	img_name(pname, sizeof(pname), IMG_PAGES, t->pid);
	int pages = openat(ctx->dirfd, pname, O_RDONLY | O_CLOEXEC);
	if (pages < 0)
		fail(sync_fd, fe_set(&err, errno, "open %s", pname), &err);
	if ((sync_fd = lift(sync_fd, base)) < 0 || (pages = lift(pages, base)) < 0 ||
	    (ctx->dirfd = lift(ctx->dirfd, base)) < 0)
		fail(sync_fd < 0 ? 2 : sync_fd, -EMFILE, &err);
	keep[nkeep++] = sync_fd;
	keep[nkeep++] = pages;
	keep[nkeep++] = ctx->dirfd;
	ctx->tty_fd = -1;
	if (ctx->opts->shell_job)
		for (int fd = 0; fd < 3 && ctx->tty_fd < 0; fd++)
			if (isatty(fd))
				keep[nkeep++] = ctx->tty_fd = lift(fd, base);
	struct inherit_fd *inh = ctx->inherit_moved;
	for (size_t i = 0; i < ctx->opts->n_inherit && nkeep < (int)ARRAY_SIZE(keep); i++) {
		inh[i] = ctx->opts->inherit[i];
		inh[i].fd = lift(inh[i].fd, base);
		if (inh[i].fd < 0)
			fail(sync_fd, fe_set(&err, EBADF, "--inherit-fd fd[%d]", ctx->opts->inherit[i].fd), &err);
		keep[nkeep++] = inh[i].fd;
	}
	close_others(keep, nkeep);

	for (int i = 0; task_objects[i]; i++) {
		if (!task_objects[i]->restore_self)
			continue;
		r = task_objects[i]->restore_self(ctx, t, &err);
		if (r < 0) {
			fe_wrap(&err, r, "pid %d: restore %s", t->pid, task_objects[i]->name);
			fail(sync_fd, r, &err);
		}
	}
	for (int i = 0; i < nkeep; i++)
		if (keep[i] != sync_fd && keep[i] != pages)
			close(keep[i]);
	report(sync_fd, 0, pages, NULL);
	close(sync_fd);
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
		_exit(5);
	syscall(SYS_kill, syscall(SYS_getpid), SIGSTOP);
	_exit(6);	/* never reached: ferry takes the task over while it is stopped */
}
