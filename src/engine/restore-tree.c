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
#include <sys/prctl.h>
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
#include "task/task.h"

/* Creates task t (or thread t/tid) by an injected clone3 in `in`; it stops before running. */
static int inject_clone_any(struct restore_ctx *ctx, struct injector *in, pid_t *tid, unsigned long flags,
			    int exit_signal)
{
	uint64_t tid_at = inj_scratch_put(in, 512, tid, sizeof(*tid));
	struct clone_args ca = { .flags = flags, .exit_signal = exit_signal, .set_tid = *tid ? tid_at : 0,
				 .set_tid_size = *tid ? 1 : 0 };
	uint64_t at = inj_scratch_put(in, 0, &ca, sizeof(ca));
	long ret;
	int r;
	/* as for the root: a number whose last holder was reaped a moment ago may still be on its way out */
	for (int i = 0; (r = RINJ(ctx, in, &ret, "clone3", SYS_clone3, at, sizeof(ca))) == -EEXIST && i < 200; i++)
		usleep(10000);
	if (r < 0)
		return fe_wrap(ctx->err, r, "create %d", *tid);
	if (*tid && ret != *tid)
		return fe_msg(ctx->err, EEXIST, "%d came back as %ld", *tid, ret);
	*tid = (pid_t)ret;
	int st;
	r = pt_wait_stop(*tid, &st);
	return r < 0 ? fe_set(ctx->err, r, "%d did not stop after its creation", *tid) : 0;
}

static int inject_clone(struct restore_ctx *ctx, struct injector *in, pid_t tid, unsigned long flags, int exit_signal)
{
	return inject_clone_any(ctx, in, &tid, flags, exit_signal);
}

static int make_threads(struct restore_ctx *ctx, struct rtask *t);

/* The thread of p that created t (its parent-death signal fires when that thread exits). */
static struct rthread *creator(struct rtask *p, const struct rtask *t)
{
	const Ferry__ProcAttrs *pa = t->core ? t->core->attrs : NULL;
	for (size_t i = 1; pa && pa->has_parent_tid && i < p->nthreads; i++)
		if (p->threads[i].tid == pa->parent_tid)
			return &p->threads[i];
	return &p->threads[0];
}

/* Creates t, a child of p, by a clone3 injected in thread `by` (of p, or of a copy of p). */
static int fork_task(struct restore_ctx *ctx, struct rtask *p, struct rtask *t, struct rthread *by)
{
	uint64_t t0 = now_us();
	int sig = t->pstree->has_exit_signal ? t->pstree->exit_signal : SIGCHLD;
	if (sig < 0 || sig > 64)
		return fe_msg(ctx->err, EBADMSG, "pstree.img: pid %d has exit signal %d", t->pid, sig);
	int r = by != &p->threads[0] && by == creator(p, t) ? make_threads(ctx, p) : 0;
	if (r < 0)
		return r;
	if (t->zombie) {
		t->threads = calloc(1, sizeof(*t->threads));
		if (!t->threads)
			return fe_set(ctx->err, ENOMEM, "zombie %d", t->pid);
		t->nthreads = 1;
		t->threads[0].tid = t->pid;
		t->threads[0].inj.memfd = -1;
	}
	const Ferry__ProcAttrs *pa = t->core ? t->core->attrs : NULL;
	unsigned long share = files_clone_flags(t);	/* CLONE_FILES, CLONE_FS (files/files.c) */
	if (pa && pa->fs_shared)
		share |= CLONE_FS;
	if (share && by != creator(p, t))	/* forked by a zombie sibling: it would share with the wrong task */
		return fe_msg(ctx->err, EOPNOTSUPP, "pid %d shares its fd table or fs info with its parent %d but "
			      "must be forked by another task (its session leader): not supported", t->pid, p->pid);
	r = inject_clone(ctx, &by->inj, t->pid, share, sig);
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
	t->threads[0].inj.trap_ok = 1;
	long ret;
	if (t->pstree->sid == t->pid && (r = RINJ(ctx, &t->threads[0].inj, &ret, "setsid", SYS_setsid)) < 0)
		return r;
	if ((r = files_task_created(ctx, t)) < 0)	/* before its children: they inherit its terminal */
		return r;
	ctx->stats.forking_us += now_us() - t0;
	return 0;
}

/*
 * Who forks t. A task in a session neither its own nor its parent's was made by a member of that
 * session and came to its parent (a child subreaper) when its maker died. The case rebuilt: the
 * session's leader is a zombie child of the same parent. Until it is made to exit, that zombie is
 * alive, a copy of the parent (zombies get no memory of their own), in the session: it forks t,
 * and t goes to the parent when it exits (restore_tree_sessions). NULL if no one can.
 */
static struct rtask *session_forker(struct restore_ctx *ctx, struct rtask *p, const struct rtask *t)
{
	const Ferry__PstreeEntry *e = t->pstree;
	if (e->sid == e->pid || e->sid == p->pstree->sid)
		return p;
	for (size_t k = 1; k < ctx->ntasks; k++)
		if (ctx->tasks[k].pid == e->sid && ctx->tasks[k].zombie && ctx->tasks[k].parent == t->parent)
			return &ctx->tasks[k];
	return NULL;
}

static int create_task(struct restore_ctx *ctx, struct rtask *p, struct rtask *f, struct rtask *t)
{
	long ret;
	int r = 0;
	if (f != p) {	/* t comes to p when f exits: p must be a subreaper by then */
		if (!p->core->has_child_subreaper || !p->core->child_subreaper)
			return fe_msg(ctx->err, EOPNOTSUPP, "pid %d is in session %d, led by a zombie, but its parent %d "
				      "is not a child subreaper", t->pid, t->pstree->sid, p->pid);
		r = RINJ(ctx, &p->threads[0].inj, &ret, "become a child subreaper", SYS_prctl, PR_SET_CHILD_SUBREAPER, 1);
	}
	if (r == 0)
		r = fork_task(ctx, p, t, f == p ? creator(p, t) : &f->threads[0]);
	if (r == 0 && !t->zombie)
		r = mem_restore_child(ctx, t, p);
	if (r == 0 && !t->zombie)
		r = misc_restore_loginuid(ctx, t, p);
	return r < 0 ? fe_wrap(ctx->err, r, "restore pid %d", t->pid) : 0;
}

/* Parents first; a task whose maker (session_forker) comes later waits for it. */
int restore_tree_tasks(struct restore_ctx *ctx)
{
	int r = files_task_created(ctx, &ctx->tasks[0]);	/* the root's terminal, before its children */
	if (r == 0)
		r = misc_restore_loginuid(ctx, &ctx->tasks[0], NULL);
	size_t left = ctx->ntasks - 1;
	for (size_t pass = 0; r == 0 && left && pass < ctx->ntasks; pass++)
		for (size_t k = 1; r == 0 && k < ctx->ntasks; k++) {
			struct rtask *t = &ctx->tasks[k], *p = &ctx->tasks[t->parent];
			if (t->alive || !p->alive)
				continue;
			struct rtask *f = session_forker(ctx, p, t);
			if (!f)
				return fe_msg(ctx->err, EOPNOTSUPP, "pid %d is in session %d, which neither it, its parent "
					      "%d nor a zombie sibling leads", t->pid, t->pstree->sid, p->pid);
			if (f->alive && (r = create_task(ctx, p, f, t)) == 0)
				left--;
		}
	return r < 0 ? r : left ? fe_msg(ctx->err, EINVAL, "pstree.img: %zu tasks cannot be created", left) : 0;
}

#define THREAD_FLAGS (CLONE_VM | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM)

/* An injector into a new thread of t, sharing the leader's trampoline scratch. */
static int open_thread_inj(struct restore_ctx *ctx, struct rtask *t, pid_t tid, struct injector *inj)
{
	int r = inj_open(inj, tid, t->tramp, ctx->err);
	inj->scratch = t->threads[0].inj.scratch;
	inj->scratch_len = t->threads[0].inj.scratch_len;
	inj->trap_ok = 1;
	return r;
}

int restore_tree_clone_thread(struct restore_ctx *ctx, struct rtask *t, struct injector *from, struct rthread *th)
{
	const Ferry__ThreadAttrs *a = th->core->attrs;
	unsigned long fs = a && a->fs ? 0 : CLONE_FS;	/* a thread with its own cwd, root and umask */
	int r = inject_clone(ctx, from, th->tid, THREAD_FLAGS | fs, 0);
	if (r < 0)
		return fe_wrap(ctx->err, r, "thread of pid %d", t->pid);
	th->attached = 1;
	return open_thread_inj(ctx, t, th->tid, &th->inj);
}

int restore_tree_clone_carrier(struct restore_ctx *ctx, struct rtask *t, struct injector *from, pid_t *tid,
			       struct injector *inj)
{
	*tid = 0;
	int r = inject_clone_any(ctx, from, tid, THREAD_FLAGS | CLONE_FS, 0);
	return r < 0 ? fe_wrap(ctx->err, r, "a helper thread of pid %d", t->pid) : open_thread_inj(ctx, t, *tid, inj);
}

/* t's threads that will (pending = 1) or will not enter its time namespace for children. */
static int clone_threads(struct restore_ctx *ctx, struct rtask *t, int pending)
{
	for (size_t i = 1; i < t->nthreads; i++) {
		const Ferry__ThreadAttrs *a = t->threads[i].core->attrs;
		int r = (a && a->timens_for_children) != pending ? 0 :
			restore_tree_clone_thread(ctx, t, &t->threads[0].inj, &t->threads[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Clones t's threads with their TIDs, once (before its children if a thread made one of them).
 * A new time namespace for children is made in between: the threads cloned after share it.
 */
static int make_threads(struct restore_ctx *ctx, struct rtask *t)
{
	if (t->zombie || t->threads_made)
		return 0;
	t->threads_made = 1;
	if (seccomp_shares(t->core->seccomp))	/* never with a pending time namespace (task/seccomp-share.c) */
		return seccomp_make_threads(ctx, t);
	int r = clone_threads(ctx, t, 0);
	if (r == 0)
		r = misc_restore_timens(ctx, t);
	if (r == 0)
		r = clone_threads(ctx, t, 1);
	return r;
}

int restore_tree_threads(struct restore_ctx *ctx)
{
	for (size_t k = 0; k < ctx->ntasks; k++) {
		int r = make_threads(ctx, &ctx->tasks[k]);
		if (r < 0)
			return r;
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

/*
 * Group leaders first (a session leader already leads its group), then the members. The root's
 * group is set here only when a task of the tree leads it; otherwise it stays in the restorer's.
 */
static int join_groups(struct restore_ctx *ctx)
{
	long ret;
	for (int pass = 0; pass < 2; pass++)
		for (size_t k = 0; k < ctx->ntasks; k++) {
			struct rtask *t = &ctx->tasks[k];
			const Ferry__PstreeEntry *e = t->pstree;
			int leader = e->pgid == e->pid, r;
			if (e->sid == e->pid || leader != (pass == 0) || (k == 0 && (leader || !in_tree(ctx, e->pgid))))
				continue;
			if ((r = RINJ(ctx, &t->threads[0].inj, &ret, "getpgid", SYS_getpgid, 0)) < 0)
				return r;
			if (ret != e->pgid &&
			    (r = RINJ(ctx, &t->threads[0].inj, &ret, "join its process group", SYS_setpgid, 0, e->pgid)) < 0)
				return fe_wrap(ctx->err, r, "process group %d", e->pgid);
		}
	return 0;
}

int restore_tree_sessions(struct restore_ctx *ctx)
{
	size_t nhelpers = 0;
	struct group_helper *gh = calloc(ctx->ntasks + 1, sizeof(*gh));
	if (!gh)
		return fe_set(ctx->err, ENOMEM, "group helpers");
	int r = make_group_helpers(ctx, gh, &nhelpers);
	if (r == 0)
		r = join_groups(ctx);
	for (size_t i = 0; r == 0 && i < nhelpers; i++)
		r = stop_group_helper(ctx, &gh[i]);
	free(gh);
	for (size_t k = 1; r == 0 && k < ctx->ntasks; k++)
		if (ctx->tasks[k].zombie)
			r = make_zombie(ctx, &ctx->tasks[k]);
	return r;
}
