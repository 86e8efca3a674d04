/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tree below the root. Each task is forked by an injected clone3(set_tid) in its parent
 * once the parent's memory is restored, so pages they still shared at dump time stay shared
 * copy-on-write; then only what differs is fixed up. Zombies are forked like the others and
 * exit with their saved status at the end; the SIGCHLD that raises is dropped with the rest of
 * the restore's own signals (task/signals.c).
 */
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#define LOG_PREFIX "tree: "
#include "common/log.h"
#include "common/util.h"
#include "engine/restore-tree.h"
#include "files/files.h"
#include "inject/ptrace.h"
#include "mem/mem.h"

/* Creates task t (or thread t/tid) by an injected clone3 in `in`; it stops before running. */
static int inject_clone(struct restore_ctx *ctx, struct injector *in, pid_t tid, unsigned long flags, int exit_signal)
{
	uint64_t tid_at = inj_scratch_put(in, 512, &tid, sizeof(tid));
	struct clone_args ca = { .flags = flags, .exit_signal = exit_signal, .set_tid = tid_at, .set_tid_size = 1 };
	uint64_t at = inj_scratch_put(in, 0, &ca, sizeof(ca));
	long ret;
	int r = RINJ(ctx, in, &ret, "clone3", SYS_clone3, at, sizeof(ca));
	if (r < 0)
		return fe_wrap(ctx->err, r, "create %d", tid);
	if (ret != tid)
		return fe_msg(ctx->err, EEXIST, "%d came back as %ld", tid, ret);
	int st;
	r = pt_wait_stop(tid, &st);
	return r < 0 ? fe_set(ctx->err, r, "%d did not stop after its creation", tid) : 0;
}

static int fork_task(struct restore_ctx *ctx, struct rtask *p, struct rtask *t)
{
	uint64_t t0 = now_us();
	if (t->zombie) {
		t->threads = calloc(1, sizeof(*t->threads));
		if (!t->threads)
			return fe_set(ctx->err, ENOMEM, "zombie %d", t->pid);
		t->nthreads = 1;
		t->threads[0].tid = t->pid;
		t->threads[0].inj.memfd = -1;
	}
	int r = inject_clone(ctx, &p->threads[0].inj, t->pid, files_clone_flags(t), SIGCHLD);
	if (r < 0)
		return r;
	t->alive = 1;
	t->threads[0].attached = 1;
	t->tramp = p->tramp;
	r = inj_open(&t->threads[0].inj, t->pid, p->tramp, ctx->err);
	if (r < 0)
		return r;
	t->threads[0].inj.scratch = p->threads[0].inj.scratch;
	t->threads[0].inj.scratch_len = p->threads[0].inj.scratch_len;
	long ret;
	if (t->pstree->sid == t->pid && (r = RINJ(ctx, &t->threads[0].inj, &ret, "setsid", SYS_setsid)) < 0)
		return r;
	if ((r = files_task_created(ctx, t)) < 0)	/* before its children: they inherit its terminal */
		return r;
	ctx->stats.forking_us += now_us() - t0;
	return 0;
}

int restore_tree_tasks(struct restore_ctx *ctx)
{
	int r0 = files_task_created(ctx, &ctx->tasks[0]);
	if (r0 < 0)
		return fe_wrap(ctx->err, r0, "restore pid %d", ctx->tasks[0].pid);
	for (size_t k = 1; k < ctx->ntasks; k++) {
		struct rtask *t = &ctx->tasks[k];
		int r = fork_task(ctx, &ctx->tasks[t->parent], t);
		if (r == 0 && !t->zombie)
			r = mem_restore_child(ctx, t, &ctx->tasks[t->parent]);
		if (r < 0)
			return fe_wrap(ctx->err, r, "restore pid %d", t->pid);
	}
	return 0;
}

int restore_tree_threads(struct restore_ctx *ctx)
{
	for (size_t k = 0; k < ctx->ntasks; k++) {
		struct rtask *t = &ctx->tasks[k];
		struct injector *lead = &t->threads[0].inj;
		for (size_t i = 1; !t->zombie && i < t->nthreads; i++) {
			struct rthread *th = &t->threads[i];
			int r = inject_clone(ctx, lead, th->tid, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
					     CLONE_THREAD | CLONE_SYSVSEM, 0);
			if (r < 0)
				return fe_wrap(ctx->err, r, "thread of pid %d", t->pid);
			th->attached = 1;
			r = inj_open(&th->inj, th->tid, t->tramp, ctx->err);
			if (r < 0)
				return r;
			th->inj.scratch = lead->scratch;
			th->inj.scratch_len = lead->scratch_len;
		}
	}
	return 0;
}

/* Makes a stopped, traced task exit as the zombie did: by exit code or by signal, no core. */
static int make_zombie(struct restore_ctx *ctx, struct rtask *t)
{
	struct injector *inj = &t->threads[0].inj;
	int status = t->pstree->exit_status, st;
	struct rlimit nocore = { 0, 0 };
	long ret;
	uint64_t at = inj_scratch_put(inj, 0, &nocore, sizeof(nocore));
	int r = RINJ(ctx, inj, &ret, "disable core dumps", SYS_prlimit64, 0, RLIMIT_CORE, at, 0);
	if (r < 0)
		return r;
	struct user_regs_struct regs = inj->base;
	regs.rip = inj->sc_addr;
	regs.orig_rax = (unsigned long)-1;
	if (WIFSIGNALED(status)) {
		pt_set_sigmask(t->pid, 0);
		regs.rax = SYS_kill;
		regs.rdi = t->pid;
		regs.rsi = WTERMSIG(status);
	} else {
		regs.rax = SYS_exit_group;
		regs.rdi = WEXITSTATUS(status);
	}
	inj_close(inj);
	if ((r = pt_setregs(t->pid, &regs)) < 0 || ptrace(PTRACE_CONT, t->pid, NULL, NULL) < 0)
		return fe_set(ctx->err, r ? r : errno, "let zombie %d exit", t->pid);
	for (;;) {	/* pass its own fatal signal through; the tracer's wait leaves it to its parent */
		if (waitpid(t->pid, &st, __WALL) < 0)
			return fe_set(ctx->err, errno, "wait for zombie %d", t->pid);
		if (WIFEXITED(st) || WIFSIGNALED(st))
			break;
		ptrace(PTRACE_CONT, t->pid, NULL, (void *)(long)(WIFSTOPPED(st) ? WSTOPSIG(st) : 0));
	}
	t->alive = 0;
	t->threads[0].attached = 0;
	return 0;
}

static int in_tree(const struct restore_ctx *ctx, pid_t pid)
{
	for (size_t k = 0; k < ctx->ntasks; k++)
		if (ctx->tasks[k].pid == pid)
			return 1;
	return 0;
}

/*
 * A process group whose leader has exited: a helper task forked from the group's first member
 * takes the leader's PID, creates the group, and — once the members joined — exits and is reaped
 * by that member, leaving nothing behind.
 */
struct group_helper {
	pid_t pgid;
	struct rtask *member;
};

static int start_group_helper(struct restore_ctx *ctx, struct rtask *m, pid_t pgid)
{
	struct injector hinj = { .memfd = -1 };
	long ret;
	int r = inject_clone(ctx, &m->threads[0].inj, pgid, 0, SIGCHLD);
	if (r < 0)
		return fe_wrap(ctx->err, r, "process group %d, whose leader has exited: a stand-in leader", pgid);
	if ((r = inj_open(&hinj, pgid, m->tramp, ctx->err)) == 0)
		r = RINJ(ctx, &hinj, &ret, "create the process group", SYS_setpgid, 0, 0);
	inj_close(&hinj);
	return r;
}

static int stop_group_helper(struct restore_ctx *ctx, const struct group_helper *g)
{
	struct user_regs_struct regs;
	int st, r = pt_getregs(g->pgid, &regs);
	if (r < 0)
		return fe_set(ctx->err, r, "group stand-in %d", g->pgid);
	regs.rip = g->member->tramp;
	regs.rax = SYS_exit_group;
	regs.rdi = 0;
	regs.orig_rax = (unsigned long)-1;
	if ((r = pt_setregs(g->pgid, &regs)) < 0 || ptrace(PTRACE_CONT, g->pgid, NULL, NULL) < 0)
		return fe_set(ctx->err, r ? r : errno, "end group stand-in %d", g->pgid);
	while (waitpid(g->pgid, &st, __WALL) == g->pgid && !WIFEXITED(st) && !WIFSIGNALED(st))
		ptrace(PTRACE_CONT, g->pgid, NULL, NULL);
	long ret;
	return RINJ(ctx, &g->member->threads[0].inj, &ret, "reap the group stand-in", SYS_wait4, g->pgid, 0, __WALL, 0);
}

/* Groups named by a task of the tree whose leader is neither in the tree nor ferry's own group. */
static int make_group_helpers(struct restore_ctx *ctx, struct group_helper *gh, size_t *n)
{
	pid_t ours = getpgrp();
	*n = 0;
	for (size_t k = 1; k < ctx->ntasks; k++) {
		const Ferry__PstreeEntry *e = ctx->tasks[k].pstree;
		int known = in_tree(ctx, e->pgid) || e->pgid == ours || e->pgid == ctx->tasks[0].pstree->pgid;
		for (size_t i = 0; i < *n && !known; i++)
			known = gh[i].pgid == e->pgid;
		if (known || ctx->tasks[k].zombie)
			continue;
		gh[*n] = (struct group_helper){ e->pgid, &ctx->tasks[k] };
		int r = start_group_helper(ctx, &ctx->tasks[k], e->pgid);
		if (r < 0)
			return r;
		(*n)++;
	}
	return 0;
}

int restore_tree_sessions(struct restore_ctx *ctx)
{
	long ret;
	size_t nhelpers = 0;
	struct group_helper *gh = calloc(ctx->ntasks + 1, sizeof(*gh));
	if (!gh)
		return fe_set(ctx->err, ENOMEM, "group helpers");
	int r = make_group_helpers(ctx, gh, &nhelpers);
	if (r < 0) {
		free(gh);
		return r;
	}
	/* Group leaders first (a session leader already leads its group), then the members. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t k = 1; k < ctx->ntasks; k++) {
			struct rtask *t = &ctx->tasks[k];
			const Ferry__PstreeEntry *e = t->pstree;
			int leader = e->pgid == e->pid;
			if (e->sid == e->pid || leader != (pass == 0))
				continue;
			if ((r = RINJ(ctx, &t->threads[0].inj, &ret, "getpgid", SYS_getpgid, 0)) < 0) {
				free(gh);
				return r;
			}
			if (ret == e->pgid)
				continue;
			r = RINJ(ctx, &t->threads[0].inj, &ret, "join its process group", SYS_setpgid, 0, e->pgid);
			if (r < 0) {
				free(gh);
				return fe_wrap(ctx->err, r, "process group %d", e->pgid);
			}
		}
	for (size_t i = 0; i < nhelpers; i++)
		if ((r = stop_group_helper(ctx, &gh[i])) < 0) {
			free(gh);
			return r;
		}
	free(gh);
	for (size_t k = 1; k < ctx->ntasks; k++)
		if (ctx->tasks[k].zombie && (r = make_zombie(ctx, &ctx->tasks[k])) < 0)
			return r;
	return 0;
}
