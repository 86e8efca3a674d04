/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Freezing a process tree for dump: every task is seized thread by thread, parents before
 * children, following /proc/PID/task/TID/children, and the children lists are read again until
 * a whole pass finds nobody new (a task may fork until the moment it is seized, or clone a
 * sibling with CLONE_PARENT); zombies are recorded, not seized; a child that exits or vanishes
 * while it is being seized is a zombie or no child at all, not an error. Also the two ways out:
 * release everything as it was, or kill the tree after a successful dump.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/kcmp.h>
#define LOG_PREFIX "pstree: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "engine/pstree.h"
#include "inject/ptrace.h"
#include "task/task.h"

#define MAX_TASKS 4096
#define MAX_PASSES 64
#define VFORK_WAIT_US (5 * 1000000ULL)	/* for a vfork child to call exec or exit */

static int known_tid(const struct dtask *t, pid_t tid)
{
	for (size_t k = 0; k < t->nthreads; k++)
		if (t->threads[k].tid == tid)
			return 1;
	return 0;
}

static int refuse_vfork(struct dump_ctx *ctx, pid_t pid, pid_t tid)
{
	return fe_msg(ctx->err, EBUSY, "pid %d: thread %d waits in vfork() for a child that shares its memory until it "
		      "calls exec or exits: it cannot be checkpointed now", pid, tid);
}

/* --timeout: the freeze must be over by ctx->freeze_deadline. */
static int past_deadline(const struct dump_ctx *ctx)
{
	return ctx->freeze_deadline && now_us() >= ctx->freeze_deadline;
}

/* The freeze gave up at --timeout; the error says what it was waiting for, if it knows. */
static int freeze_timed_out(struct dump_ctx *ctx)
{
	char why[sizeof(ctx->err->msg) - 64];
	snprintf(why, sizeof(why), "%.900s", ctx->err->code ? ctx->err->msg : "");
	return fe_msg(ctx->err, ETIMEDOUT, "freezing the tree took longer than --timeout %u s%s%s",
		      ctx->opts->freeze_timeout, why[0] ? ": " : "", why);
}

/* Between two tasks of the freeze: its deadline, and the caller's cancel request. */
static int freeze_check(struct dump_ctx *ctx)
{
	return past_deadline(ctx) ? freeze_timed_out(ctx) : dump_cancelled(ctx);
}

/*
 * A thread waiting in vfork() for a child that shares its memory cannot stop before that child
 * calls exec or exits, which it does on its own (children are seized after their parents; a
 * posix_spawn() child execs within milliseconds): wait for that a while, then refuse by name.
 */
static int wait_vfork_done(struct dump_ctx *ctx, pid_t pid, pid_t tid)
{
	uint64_t start = now_us(), nap = 100;
	while (task_in_vfork(pid, tid)) {
		if (now_us() - start > VFORK_WAIT_US)
			return refuse_vfork(ctx, pid, tid);
		if (past_deadline(ctx)) {
			refuse_vfork(ctx, pid, tid);
			return freeze_timed_out(ctx);
		}
		usleep(nap);
		if (nap < 20000)
			nap *= 2;
	}
	return 0;
}

/* The leader first (its stop says whether the task is group-stopped), then every other thread. */
static int seize_threads(struct dump_ctx *ctx, struct dtask *t)
{
	for (int round = 0; round < 100; round++) {
		pid_t *tids;
		size_t n, fresh = 0;
		int r = list_threads(t->pid, &tids, &n);
		if (r < 0)
			return fe_set(ctx->err, r, "list threads of pid %d", t->pid);
		struct dthread *nt = realloc(t->threads, (n + t->nthreads + 1) * sizeof(*nt));
		if (!nt) {
			free(tids);
			return fe_set(ctx->err, ENOMEM, "thread list");
		}
		t->threads = nt;
		for (size_t i = 0; i <= n; i++) {
			pid_t tid = i == 0 ? t->pid : tids[i - 1];
			if (known_tid(t, tid) || (i > 0 && tid == t->pid))
				continue;
			struct dthread *th = &t->threads[t->nthreads];
			memset(th, 0, sizeof(*th));
			th->tid = tid;
			r = wait_vfork_done(ctx, t->pid, tid);
			if (r == 0)
				r = pt_seize(tid, tid == t->pid ? &t->stop_signal : NULL, ctx->freeze_deadline, ctx->err);
			if (r == -ETIMEDOUT && task_in_vfork(t->pid, tid))	/* it called vfork() since */
				r = refuse_vfork(ctx, t->pid, tid);
			if (r < 0 && r != -ESRCH && past_deadline(ctx))
				r = freeze_timed_out(ctx);
			if (r == -ESRCH && tid != t->pid)
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
	for (size_t i = 0; i < t->nthreads; i++) {
		struct dthread *th = &t->threads[i];
		int r;
		if ((r = pt_getregs(th->tid, &th->regs)) < 0 || (r = pt_get_sigmask(th->tid, &th->sigmask)) < 0)
			return fe_set(ctx->err, r, "read state of thread %d", th->tid);
	}
	return 0;
}

static void comm_of(pid_t pid, char *buf, size_t len)
{
	char path[64];
	_cleanup_free_ char *c = NULL;
	snprintf(buf, len, "?");
	if (read_file(PROC_PATH(path, pid, "comm"), &c, NULL) == 0) {
		c[strcspn(c, "\n")] = 0;
		snprintf(buf, len, "%s", c);
	}
}

/* Another tracer (a debugger, strace, another checkpointer) on any thread: refused by name. */
static int check_tracer(struct dump_ctx *ctx, pid_t pid)
{
	pid_t *tids;
	size_t n;
	if (list_threads(pid, &tids, &n) < 0)
		return 0;
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		char path[96], who[64], name[64];
		_cleanup_free_ char *st = NULL;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tids[i]);
		if (read_file(path, &st, NULL) < 0)
			continue;
		const char *tr = proc_field(st, "TracerPid"), *state = proc_field(st, "State");
		int tracer = tr ? atoi(tr) : 0;
		if (!tracer)
			continue;
		comm_of(pid, name, sizeof(name));
		comm_of(tracer, who, sizeof(who));
		r = fe_msg(ctx->err, EBUSY, "process %d (%s)%s is traced by %d (%s)%s: it cannot be checkpointed while "
			   "another tracer holds it", pid, name, tids[i] == pid ? "" : " has a thread that", tracer, who,
			   state && state[0] == 't' ? ", which keeps it stopped" : "");
	}
	free(tids);
	return r;
}

/* Whether a thread of pid waits in vfork(). */
static int in_vfork(pid_t pid)
{
	pid_t *tids;
	size_t n;
	int r = 0;
	if (list_threads(pid, &tids, &n) < 0)
		return 0;
	for (size_t i = 0; i < n && !r; i++)
		r = task_in_vfork(pid, tids[i]);
	free(tids);
	return r;
}

/*
 * A process that shares its parent's memory: a vfork child before exec is not a process of its
 * own yet (its parent waits for it); any other (clone(CLONE_VM) without CLONE_THREAD) is refused.
 */
static int check_shared_vm(struct dump_ctx *ctx, pid_t pid, int ppid)
{
	if (ppid <= 1 || syscall(SYS_kcmp, pid, ppid, KCMP_VM, 0, 0) != 0)
		return 0;
	if (in_vfork(ppid))
		return fe_msg(ctx->err, EBUSY, "process %d shares the memory of its parent %d (a vfork child that has not "
			      "called exec yet): try again once it has", pid, ppid);
	return fe_msg(ctx->err, EOPNOTSUPP, "pid %d shares its address space with its parent %d (clone with CLONE_VM but "
		      "not CLONE_THREAD): not supported", pid, ppid);
}

/* A zombie leader whose other threads run on is not a zombie process. */
static int check_leader_gone(struct dump_ctx *ctx, pid_t pid)
{
	int n = task_live_threads(pid);
	return n > 0 ? fe_msg(ctx->err, EOPNOTSUPP, "process %d: its main thread has exited while %d other thread(s) "
			      "run on: not supported", pid, n) : 0;
}

static struct dtask *new_task(struct dump_ctx *ctx, pid_t pid, int parent)
{
	if (ctx->ntasks >= MAX_TASKS) {
		fe_msg(ctx->err, E2BIG, "the tree has more than %d processes", MAX_TASKS);
		return NULL;
	}
	struct dtask *nt = realloc(ctx->tasks, (ctx->ntasks + 1) * sizeof(*nt));
	if (!nt) {
		fe_set(ctx->err, ENOMEM, "task list");
		return NULL;
	}
	ctx->tasks = nt;
	struct dtask *t = &ctx->tasks[ctx->ntasks];
	memset(t, 0, sizeof(*t));
	t->pid = pid;
	t->parent = parent;
	t->pidfd = -1;
	t->uffd = -1;
	t->pagemap_fd = -1;
	return t;
}

/* Puts back the threads of a task that turned out not to be there (it exited while seized). */
static void drop_threads(struct dtask *t)
{
	for (size_t i = 0; i < t->nthreads; i++)
		if (t->threads[i].seized)
			pt_release(t->threads[i].tid, &t->threads[i].regs, t->threads[i].sigmask);
	free(t->threads);
	t->threads = NULL;
	t->nthreads = 0;
}

static int add_task(struct dump_ctx *ctx, pid_t pid, int parent)
{
	for (size_t i = 0; i < ctx->ntasks; i++)
		if (ctx->tasks[i].pid == pid)
			return 0;
	int r = freeze_check(ctx);
	if (r < 0)
		return r;
	struct dtask *t = new_task(ctx, pid, parent);
	if (!t)
		return -ctx->err->code;
	int ppid, pgid, sid;
	char state;
	if (task_read_stat(pid, &ppid, &pgid, &sid, &state) < 0) {
		if (parent >= 0)
			return 0;	/* a child that exited and was reaped since it was listed */
		return fe_msg(ctx->err, ESRCH, "process %d", pid);
	}
	if (state != 'Z' && state != 'X') {
		r = check_tracer(ctx, pid);
		if (r == 0)
			r = check_shared_vm(ctx, pid, ppid);
		if (r < 0)
			return r;
		ctx->ntasks++;
		r = seize_threads(ctx, t);
		if (r == 0)
			return read_thread_state(ctx, t);
		if (parent < 0 || !pt_thread_gone(pid))
			return r;
		/* It exited while being seized: a zombie now, or gone (its parent ignores SIGCHLD). */
		drop_threads(t);
		ctx->ntasks--;
		fe_clear(ctx->err);
		if (task_read_stat(pid, &ppid, &pgid, &sid, &state) < 0)
			return 0;
		pr_debug("pid %d exited while being seized\n", pid);
	}
	r = check_leader_gone(ctx, pid);
	if (r < 0)
		return r;
	if (parent < 0)
		return fe_msg(ctx->err, ESRCH, "process %d is a zombie", pid);
	t->zombie = 1;
	t->exit_code = task_exit_code(pid);
	ctx->ntasks++;
	return 0;
}

/* Children of every thread of task i; returns how many were new. */
static int add_children(struct dump_ctx *ctx, size_t i, size_t *added)
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
			size_t before = ctx->ntasks;
			int r = add_task(ctx, (pid_t)pid, (int)i);
			if (r < 0)
				return r;
			*added += ctx->ntasks - before;
			p = end;
		}
	}
	return 0;
}

/* Every seized task's parent is the task it was found under (none left the tree meanwhile). */
static int check_parents(struct dump_ctx *ctx)
{
	for (size_t i = 1; i < ctx->ntasks; i++) {
		struct dtask *t = &ctx->tasks[i];
		int ppid, pgid, sid;
		char state;
		if (t->zombie || task_read_stat(t->pid, &ppid, &pgid, &sid, &state) < 0)
			continue;
		if (ppid != ctx->tasks[t->parent].pid)
			return fe_msg(ctx->err, EAGAIN, "process %d left the tree while it was being frozen (its parent "
				      "is now %d, not %d): try again", t->pid, ppid, ctx->tasks[t->parent].pid);
	}
	return 0;
}

int pstree_seize(struct dump_ctx *ctx)
{
	pid_t root = ctx->opts->pid;
	if (kill(root, 0) < 0)
		return fe_set(ctx->err, errno, "process %d", root);
	pt_reports_clear();
	ctx->t_frozen = now_us();
	ctx->freeze_deadline = ctx->opts->freeze_timeout ? ctx->t_frozen + ctx->opts->freeze_timeout * 1000000ULL : 0;
	int r = add_task(ctx, root, -1);
	/* A pass that finds nobody new after every task was seized: the tree is stable. */
	for (int pass = 0; r == 0; pass++) {
		size_t added = 0;
		for (size_t i = 0; r == 0 && i < ctx->ntasks; i++)
			if (!ctx->tasks[i].zombie)
				r = add_children(ctx, i, &added);
		if (r == 0 && pass > 0 && !added)
			break;
		if (r == 0 && pass >= MAX_PASSES)
			r = fe_msg(ctx->err, EAGAIN, "the tree of pid %d keeps changing while it is being frozen", root);
	}
	if (r == 0)
		r = check_parents(ctx);
	if (r < 0)
		return r;
	size_t threads = 0;
	for (size_t i = 0; i < ctx->ntasks; i++) {
		threads += ctx->tasks[i].nthreads;
		if (ctx->tasks[i].stop_signal)
			pr_info("pid %d is stopped (signal %d)\n", ctx->tasks[i].pid, ctx->tasks[i].stop_signal);
	}
	pr_info("tree of pid %d: %zu process(es), %zu thread(s) frozen\n", root, ctx->ntasks, threads);
	return 0;
}

/*
 * Whether the parent could still collect a stopped child's stop report with waitid(WSTOPPED): a
 * waitid(WNOWAIT) injected into the parent, which consumes nothing. Runs while the parent is
 * being injected into.
 */
int pstree_dump_stops(struct dump_ctx *ctx, struct dtask *p)
{
	size_t idx = (size_t)(p - ctx->tasks);
	for (size_t i = 0; i < ctx->ntasks; i++) {
		struct dtask *c = &ctx->tasks[i];
		if (c->parent != (int)idx || c->zombie || !c->stop_signal)
			continue;
		siginfo_t si;
		long ret;
		memset(&si, 0, sizeof(si));
		uint64_t at = inj_scratch_put(&p->inj, 0, &si, sizeof(si));
		if (!at)
			return fe_msg(ctx->err, ENOSPC, "pid %d: no scratch memory", p->pid);
		int r = DINJ(ctx, p, &ret, "ask whether a stopped child was waited for", SYS_waitid, P_PID, c->pid, at,
			     WSTOPPED | WNOHANG | WNOWAIT, 0);
		if (r == 0)
			r = inj_read(&p->inj, at, &si, sizeof(si));
		if (r < 0)
			return r;
		c->stop_waitable = si.si_pid == c->pid;
		c->pstree->has_stop_waitable = 1;
		c->pstree->stop_waitable = c->stop_waitable;
		pr_debug("pid %d: stopped by signal %d, stop %s by its parent\n", c->pid, c->stop_signal,
			 c->stop_waitable ? "not yet collected" : "already collected");
	}
	return 0;
}

int pstree_release(struct dump_ctx *ctx, int resend_stashed)
{
	int r = 0;
	for (size_t k = ctx->ntasks; k-- > 0;) {
		struct dtask *t = &ctx->tasks[k];
		for (size_t i = t->nthreads; i-- > 0;) {
			struct dthread *th = &t->threads[i];
			if (!th->seized)
				continue;
			int rr = pt_release(th->tid, &th->regs, th->sigmask);
			if (rr < 0 && r == 0)
				r = fe_set(ctx->err, rr, "release thread %d of pid %d (it stays traced until ferry exits)",
					   th->tid, t->pid);
			th->seized = 0;
		}
		for (int i = 0; resend_stashed && i < t->inj.nstashed; i++)
			kill(t->pid, t->inj.stashed[i]);
		if (resend_stashed)
			t->inj.nstashed = 0;	/* a pre-dump releases twice (after the freeze, at the end) */
	}
	return r;
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
			while (t->threads[i].seized && waitpid(t->threads[i].tid, &st, __WALL) < 0 && errno == EINTR)
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
		free(ctx->tasks[k].smaps);
		if (ctx->tasks[k].pidfd >= 0)
			close(ctx->tasks[k].pidfd);
	}
	free(ctx->tasks);
	ctx->tasks = NULL;
	ctx->ntasks = 0;
	pt_reports_clear();
}
