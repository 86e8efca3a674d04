/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Freezing a process tree for dump: every task is seized thread by thread, parents before
 * children, following /proc/PID/task/TID/children; zombies are recorded, not seized. Also the
 * two ways out: release everything as it was, or kill the tree after a successful dump.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#define LOG_PREFIX "pstree: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "engine/pstree.h"
#include "inject/ptrace.h"
#include "task/task.h"

#define MAX_TASKS 4096

static int seize_threads(struct dump_ctx *ctx, struct dtask *t)
{
	for (int round = 0; round < 100; round++) {
		pid_t *tids;
		size_t n, fresh = 0;
		int r = list_threads(t->pid, &tids, &n);
		if (r < 0)
			return fe_set(ctx->err, r, "list threads of pid %d", t->pid);
		struct dthread *nt = realloc(t->threads, (n + t->nthreads) * sizeof(*nt));
		if (!nt) {
			free(tids);
			return fe_set(ctx->err, ENOMEM, "thread list");
		}
		t->threads = nt;
		for (size_t i = 0; i < n; i++) {
			int known = 0;
			for (size_t k = 0; k < t->nthreads && !known; k++)
				known = t->threads[k].tid == tids[i];
			if (known)
				continue;
			struct dthread *th = &t->threads[t->nthreads];
			memset(th, 0, sizeof(*th));
			th->tid = tids[i];
			if (task_in_vfork(t->pid, tids[i])) {
				free(tids);
				return fe_msg(ctx->err, EBUSY, "pid %d: thread %d waits in vfork() for a child that shares its "
					      "memory until it calls exec or exits: it cannot be checkpointed now", t->pid,
					      th->tid);
			}
			r = pt_seize(th->tid, ctx->err);
			if (r == -ESRCH && tids[i] != t->pid)
				continue;	/* the thread exited meanwhile */
			if (r < 0) {
				free(tids);
				return r;
			}
			th->seized = 1;
			t->nthreads++;
			fresh++;
		}
		free(tids);
		if (!fresh)
			return 0;
	}
	return fe_msg(ctx->err, EAGAIN, "pid %d keeps creating threads", t->pid);
}

/* Leader first, then registers and masks as they were when the thread stopped. */
static int read_thread_state(struct dump_ctx *ctx, struct dtask *t)
{
	for (size_t i = 0; i < t->nthreads; i++)
		if (t->threads[i].tid == t->pid && i) {
			struct dthread tmp = t->threads[0];
			t->threads[0] = t->threads[i];
			t->threads[i] = tmp;
		}
	for (size_t i = 0; i < t->nthreads; i++) {
		struct dthread *th = &t->threads[i];
		int r;
		if ((r = pt_getregs(th->tid, &th->regs)) < 0 || (r = pt_get_sigmask(th->tid, &th->sigmask)) < 0)
			return fe_set(ctx->err, r, "read state of thread %d", th->tid);
	}
	return 0;
}

static int traced_by(pid_t pid)
{
	char path[64];
	_cleanup_free_ char *st = NULL;
	if (read_file(PROC_PATH(path, pid, "status"), &st, NULL) < 0)
		return 0;
	const char *tr = proc_field(st, "TracerPid");
	return tr ? atoi(tr) : 0;
}

static int add_task(struct dump_ctx *ctx, pid_t pid, int parent)
{
	for (size_t i = 0; i < ctx->ntasks; i++)
		if (ctx->tasks[i].pid == pid)
			return 0;
	if (ctx->ntasks >= MAX_TASKS)
		return fe_msg(ctx->err, E2BIG, "the tree has more than %d processes", MAX_TASKS);
	struct dtask *nt = realloc(ctx->tasks, (ctx->ntasks + 1) * sizeof(*nt));
	if (!nt)
		return fe_set(ctx->err, ENOMEM, "task list");
	ctx->tasks = nt;
	struct dtask *t = &ctx->tasks[ctx->ntasks];
	memset(t, 0, sizeof(*t));
	t->pid = pid;
	t->parent = parent;
	t->pidfd = -1;
	t->uffd = -1;
	t->pagemap_fd = -1;
	int ppid, pgid, sid;
	char state;
	if (task_read_stat(pid, &ppid, &pgid, &sid, &state) < 0)
		return fe_msg(ctx->err, ESRCH, "process %d", pid);
	if ((state == 'Z' || state == 'X') && task_live_threads(pid) > 0)
		return fe_msg(ctx->err, EOPNOTSUPP, "process %d: its main thread has exited while %d other thread(s) "
			      "run on: not supported", pid, task_live_threads(pid));
	if (state == 'Z' || state == 'X') {
		if (parent < 0)
			return fe_msg(ctx->err, ESRCH, "process %d is a zombie", pid);
		t->zombie = 1;
		t->exit_code = task_exit_code(pid);
		ctx->ntasks++;
		return 0;
	}
	int tracer = traced_by(pid);
	if (tracer)
		return fe_msg(ctx->err, EBUSY, "process %d is being traced by %d", pid, tracer);
	ctx->ntasks++;
	int r = seize_threads(ctx, &ctx->tasks[ctx->ntasks - 1]);
	if (r == 0)
		r = read_thread_state(ctx, &ctx->tasks[ctx->ntasks - 1]);
	return r;
}

/* Children of every thread of task i (a seized task's list can no longer change). */
static int add_children(struct dump_ctx *ctx, size_t i)
{
	char path[96];
	for (size_t k = 0; k < ctx->tasks[i].nthreads; k++) {
		_cleanup_free_ char *kids = NULL;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", ctx->tasks[i].pid, ctx->tasks[i].threads[k].tid);
		if (read_file(path, &kids, NULL) < 0)
			continue;
		for (char *p = kids; *p;) {
			char *end;
			long pid = strtol(p, &end, 10);
			if (end == p)
				break;
			int r = add_task(ctx, (pid_t)pid, (int)i);
			if (r < 0)
				return r;
			p = end;
		}
	}
	return 0;
}

int pstree_seize(struct dump_ctx *ctx)
{
	pid_t root = ctx->opts->pid;
	if (kill(root, 0) < 0)
		return fe_set(ctx->err, errno, "process %d", root);
	ctx->t_frozen = now_us();
	int r = add_task(ctx, root, -1);
	for (size_t i = 0; r == 0 && i < ctx->ntasks; i++)
		if (!ctx->tasks[i].zombie)
			r = add_children(ctx, i);
	if (r < 0)
		return r;
	size_t threads = 0;
	for (size_t i = 0; i < ctx->ntasks; i++)
		threads += ctx->tasks[i].nthreads;
	pr_info("tree of pid %d: %zu process(es), %zu thread(s) frozen\n", root, ctx->ntasks, threads);
	return fault_point("dump-after-seize") ? fe_msg(ctx->err, EIO, "fault injected after seize") : 0;
}

void pstree_release(struct dump_ctx *ctx, int resend_stashed)
{
	for (size_t k = ctx->ntasks; k-- > 0;) {
		struct dtask *t = &ctx->tasks[k];
		for (size_t i = t->nthreads; i-- > 0;) {
			struct dthread *th = &t->threads[i];
			if (!th->seized)
				continue;
			pt_setregs(th->tid, &th->regs);
			pt_set_sigmask(th->tid, th->sigmask);
			pt_detach(th->tid, 0);
			th->seized = 0;
		}
		for (int i = 0; resend_stashed && i < t->inj.nstashed; i++)
			kill(t->pid, t->inj.stashed[i]);
	}
}

/* After a dump without -R: children first, non-leader threads before their leader. */
void pstree_kill(struct dump_ctx *ctx)
{
	for (size_t k = 0; k < ctx->ntasks; k++)
		if (!ctx->tasks[k].zombie)
			kill(ctx->tasks[k].pid, SIGKILL);
	for (size_t k = ctx->ntasks; k-- > 0;) {
		struct dtask *t = &ctx->tasks[k];
		for (size_t i = t->nthreads; i-- > 0;) {
			int st;
			while (waitpid(t->threads[i].tid, &st, __WALL) < 0 && errno == EINTR)
				;
			t->threads[i].seized = 0;
		}
	}
}

void pstree_free(struct dump_ctx *ctx)
{
	for (size_t k = 0; k < ctx->ntasks; k++) {
		free(ctx->tasks[k].threads);
		free(ctx->tasks[k].status);
		if (ctx->tasks[k].pidfd >= 0)
			close(ctx->tasks[k].pidfd);
	}
	free(ctx->tasks);
	ctx->tasks = NULL;
	ctx->ntasks = 0;
}
