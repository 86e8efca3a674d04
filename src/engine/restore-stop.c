/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stopped tasks at restore. The stop is made by the kernel itself: the stop signal is sent to the
 * traced leader with only that signal unblocked and delivered through its signal-delivery stop;
 * every other thread then joins the group stop. Once the group stop is complete the process is
 * "stopped" for the kernel (SIGNAL_STOP_STOPPED), the injections that follow do not change that,
 * and PTRACE_DETACH at release leaves every thread in the stop without telling the parent again.
 * While this runs, every thread points at the trampoline's int3: should a signal be discarded
 * (SIGTSTP in an orphaned process group), the thread traps there instead of running its code.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#define LOG_PREFIX "stop: "
#include "common/log.h"
#include "common/cleanup.h"
#include "engine/restore-stop.h"
#include "inject/ptrace.h"

#define TRAMP_INT3_OFF 2	/* the trampoline is `syscall; int3` (mem/mm.c) */

/* Resumes th with sig and waits for its next stop; *group says whether it is a group stop. */
static int resume(struct rthread *th, int sig, int *stopsig, int *group)
{
	int st;
	siginfo_t si;
	if (ptrace(PTRACE_CONT, th->tid, NULL, (void *)(long)sig) < 0)
		return -errno;
	int r = pt_wait_stop(th->tid, &st);
	if (r < 0)
		return r;
	*stopsig = WSTOPSIG(st);
	*group = ptrace(PTRACE_GETSIGINFO, th->tid, NULL, &si) < 0 && errno == EINVAL;
	return 0;
}

/* 0 once every thread is in the group stop of sig; 1 if the kernel discarded sig; -errno. */
static int stop_with(struct restore_ctx *ctx, struct rtask *t, int sig)
{
	struct rthread *lead = &t->threads[0];
	int got, group, r;
	if ((r = pt_set_sigmask(lead->tid, ~0ULL & ~(1ULL << (sig - 1)))) < 0 ||
	    syscall(SYS_tgkill, t->pid, lead->tid, sig) < 0)
		return fe_set(ctx->err, r < 0 ? r : errno, "pid %d: send signal %d", t->pid, sig);
	/* Its signal-delivery stop first (the signal is dequeued before any return to user mode)… */
	r = resume(lead, 0, &got, &group);
	if (r == 0 && (got != sig || group))
		r = -EPROTO;
	/* …then, delivered, the group stop — or the int3, if it was discarded. */
	if (r == 0)
		r = resume(lead, sig, &got, &group);
	int r2 = pt_set_sigmask(lead->tid, ~0ULL);
	if (r < 0 || r2 < 0)
		return fe_set(ctx->err, r < 0 ? r : r2, "pid %d: stop it with signal %d", t->pid, sig);
	if (!group)
		return got == SIGTRAP ? 1 : fe_msg(ctx->err, EPROTO, "pid %d: stopped by %d, not %d", t->pid, got, sig);
	for (size_t i = 1; i < t->nthreads; i++) {
		r = resume(&t->threads[i], 0, &got, &group);
		if (r == 0 && !group)
			r = -EPROTO;
		if (r < 0)
			return fe_set(ctx->err, r, "thread %d: join the group stop", t->threads[i].tid);
	}
	return 0;
}

/* The parent had collected the stop before the dump: it collects it again now, in the restore. */
static int collect_stop(struct restore_ctx *ctx, struct rtask *t)
{
	struct rtask *p = &ctx->tasks[t->parent];
	siginfo_t si;
	long ret;
	memset(&si, 0, sizeof(si));
	uint64_t at = inj_scratch_put(&p->threads[0].inj, 0, &si, sizeof(si));
	return RINJ(ctx, &p->threads[0].inj, &ret, "collect a child's stop (waitid)", SYS_waitid, P_PID, t->pid, at,
		    WSTOPPED | WNOHANG, 0);
}

static int stop_task(struct restore_ctx *ctx, struct rtask *t)
{
	int sig = t->pstree->stop_signal, r;
	_cleanup_free_ struct user_regs_struct *saved = calloc(t->nthreads, sizeof(*saved));
	if (!saved)
		return fe_set(ctx->err, ENOMEM, "pid %d: registers", t->pid);
	for (size_t i = 0; i < t->nthreads; i++) {
		struct user_regs_struct trap;
		if ((r = pt_getregs(t->threads[i].tid, &saved[i])) < 0)
			return fe_set(ctx->err, r, "thread %d: registers", t->threads[i].tid);
		trap = saved[i];
		trap.rip = t->tramp + TRAMP_INT3_OFF;
		trap.orig_rax = (unsigned long)-1;
		if ((r = pt_setregs(t->threads[i].tid, &trap)) < 0)
			return fe_set(ctx->err, r, "thread %d: registers", t->threads[i].tid);
	}
	r = stop_with(ctx, t, sig);
	if (r == 1 && sig != SIGSTOP) {
		pr_warn("pid %d: signal %d does not stop an orphaned process group: stopped with SIGSTOP\n", t->pid, sig);
		r = stop_with(ctx, t, SIGSTOP);
	}
	if (r == 1)
		r = fe_msg(ctx->err, EPROTO, "pid %d: SIGSTOP did not stop it", t->pid);
	for (size_t i = 0; i < t->nthreads && r == 0; i++)
		if ((r = pt_setregs(t->threads[i].tid, &saved[i])) < 0)
			r = fe_set(ctx->err, r, "thread %d: registers", t->threads[i].tid);
	if (r == 0 && t->parent >= 0 && !t->pstree->stop_waitable)
		r = collect_stop(ctx, t);
	return r;
}

int restore_tree_stops(struct restore_ctx *ctx)
{
	for (size_t k = 0; k < ctx->ntasks; k++) {
		struct rtask *t = &ctx->tasks[k];
		int sig = t->pstree->stop_signal;
		if (t->zombie || !sig)
			continue;
		if (sig < 1 || sig > 64)
			return fe_msg(ctx->err, EBADMSG, "pstree.img: pid %d: bad stop signal %d", t->pid, sig);
		pr_info("pid %d: stopped again (signal %d)\n", t->pid, sig);
		int r = stop_task(ctx, t);
		if (r < 0)
			return fe_wrap(ctx->err, r, "restore the stop of pid %d", t->pid);
	}
	return 0;
}
