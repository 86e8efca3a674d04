/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-thread state: general registers, XSAVE (FPU/SSE/AVX), TLS (fs_base), signal mask, rseq
 * registration, robust futex list, clear-tid address, alternate signal stack and name.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#define LOG_PREFIX "thread: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/kprobe.h"
#include "common/util.h"
#include "engine/context.h"
#include "inject/ptrace.h"
#include "task/task.h"

#define REGS_FIELDS(X) X(r15) X(r14) X(r13) X(r12) X(rbp) X(rbx) X(r11) X(r10) X(r9) X(r8) \
	X(rax) X(rcx) X(rdx) X(rsi) X(rdi) X(orig_rax) X(rip) X(cs) X(eflags) X(rsp) X(ss) \
	X(fs_base) X(gs_base) X(ds) X(es) X(fs) X(gs)

Ferry__UserRegsX86 *regs_to_image(struct arena *a, const struct user_regs_struct *r)
{
	Ferry__UserRegsX86 *m = ARENA_NEW(a, Ferry__UserRegsX86);
	if (!m)
		return NULL;
	ferry__user_regs_x86__init(m);
#define X(f) m->f = r->f;
	REGS_FIELDS(X)
#undef X
	return m;
}

void regs_from_image(struct user_regs_struct *r, const Ferry__UserRegsX86 *m)
{
#define X(f) r->f = m->f;
	REGS_FIELDS(X)
#undef X
}

/*
 * A thread caught inside restart_syscall (its sleep was already interrupted and resumed once,
 * e.g. by an earlier dump with -R) cannot re-run that call in a new task: the restart block stays
 * behind in the kernel. The argument registers still hold the original call's arguments, so find
 * its number: glibc loads it with `mov $nr, %eax` right before `syscall`; otherwise judge by the
 * arguments of the calls that can restart this way (nanosleep, clock_nanosleep, futex, poll).
 */
/* A readable struct timespec at addr, as a sleep's request is. */
static int is_timespec(struct injector *inj, uint64_t addr)
{
	struct timespec ts;
	return addr >= 4096 && inj_read(inj, addr, &ts, sizeof(ts)) == 0 && ts.tv_sec >= 0 && ts.tv_nsec >= 0 &&
	       ts.tv_nsec < 1000000000L;
}

static long restarted_syscall_nr(struct injector *inj, const struct user_regs_struct *r)
{
	uint8_t code[7];
	if (inj_read(inj, r->rip - 7, code, sizeof(code)) == 0 && code[0] == 0xb8 && code[5] == 0x0f && code[6] == 0x05) {
		uint32_t nr;
		memcpy(&nr, code + 1, 4);
		if (nr != SYS_restart_syscall && nr < 1024)
			return nr;
	}
	/* the argument shapes, checked against memory: a futex word holding the value waited for */
	int word;
	unsigned op = r->rsi & 0x7f;
	if ((op == 0 || op == 9) && is_timespec(inj, r->r10) && inj_read(inj, r->rdi, &word, sizeof(word)) == 0 &&
	    word == (int)r->rdx)	/* FUTEX_WAIT[_BITSET] with a timeout */
		return SYS_futex;
	if (r->rdi < 16 && r->rsi <= 1 && is_timespec(inj, r->rdx))	/* clockid, flags, request */
		return SYS_clock_nanosleep;
	if (is_timespec(inj, r->rdi))
		return SYS_nanosleep;
	if (r->rdi > 4096 && r->rsi < 65536 && (long)r->rdx >= 0 && r->rdx < (1UL << 31) && r->rsi)
		return SYS_poll;
	return SYS_nanosleep;
}

int thread_inj_open(struct dump_ctx *ctx, struct dtask *t, struct dthread *th, struct injector *inj)
{
	int r = (t->inj.seized ? inj_open_seized : inj_open)(inj, th->tid, t->sc_addr, ctx->err);
	if (r < 0)
		return r;
	inj_share_scratch(inj, &t->inj);
	return 0;
}

int thread_inj_close(struct dump_ctx *ctx, struct injector *inj, int r)
{
	pid_t tid = inj->tid;
	int r2 = inj_finish(inj);
	if (r < 0)
		return r;
	return r2 < 0 ? fe_set(ctx->err, r2, "put back registers of thread %d", tid) : 0;
}

static int dump_one_thread(struct dump_ctx *ctx, struct dtask *t, struct dthread *th)
{
	struct arena *a = &ctx->arena;
	Ferry__ThreadCore *c = th->core;
	int r;

	c->regs = regs_to_image(a, &th->regs);
	c->sigmask = th->sigmask;

	uint32_t xsize = kprobe_get()->xsave_size;
	if (xsize) {
		size_t len = xsize;
		void *buf = arena_alloc(a, xsize);
		if (!buf || !c->regs)
			return fe_set(ctx->err, ENOMEM, "thread %d", th->tid);
		r = pt_get_xsave(th->tid, buf, &len);
		if (r < 0)
			return fe_set(ctx->err, r, "read FPU/XSAVE state of thread %d", th->tid);
		c->has_xsave = 1;
		c->xsave.data = buf;
		c->xsave.len = len;
	}

	struct ptrace_rseq_conf rc;
	if (pt_get_rseq(th->tid, &rc) == 0 && rc.rseq_abi_pointer) {
		c->rseq = ARENA_NEW(a, Ferry__Rseq);
		ferry__rseq__init(c->rseq);
		c->rseq->ptr = rc.rseq_abi_pointer;
		c->rseq->len = rc.rseq_abi_size;
		c->rseq->flags = rc.flags;
		c->rseq->sig = rc.signature;
	}

	void *head = NULL;
	size_t hlen = 0;
	if (syscall(SYS_get_robust_list, th->tid, &head, &hlen) == 0) {
		c->has_robust_list = c->has_robust_list_len = 1;
		c->robust_list = (uintptr_t)head;
		c->robust_list_len = hlen;
	}

	char path[96];
	_cleanup_free_ char *name = NULL;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", t->pid, th->tid);
	if (read_file(path, &name, NULL) == 0) {
		name[strcspn(name, "\n")] = 0;
		c->name = arena_strdup(a, name);
	}

	/* clear-tid address and sigaltstack need the thread itself: inject into it. */
	struct injector inj;
	r = thread_inj_open(ctx, t, th, &inj);
	if (r < 0)
		return r;
	long ret;
	r = INJ(&inj, &ret, ctx->err, SYS_prctl, PR_GET_TID_ADDRESS, inj.scratch);
	if (!r && ret == 0) {
		uint64_t addr;
		if (inj_read(&inj, inj.scratch, &addr, sizeof(addr)) == 0) {
			c->has_clear_tid_addr = 1;
			c->clear_tid_addr = addr;
		}
	}
	if (!r)
		r = INJ(&inj, &ret, ctx->err, SYS_prctl, PR_GET_TIMERSLACK);
	if (!r && ret >= 0) {
		c->has_timer_slack_ns = 1;
		c->timer_slack_ns = ret;
	}
	if (!r)
		r = INJ(&inj, &ret, ctx->err, SYS_sigaltstack, 0, inj.scratch);
	if (!r && ret == 0) {
		stack_t ss;
		if (inj_read(&inj, inj.scratch, &ss, sizeof(ss)) == 0 && !(ss.ss_flags & SS_DISABLE)) {
			c->altstack = ARENA_NEW(a, Ferry__SigAltStack);
			ferry__sig_alt_stack__init(c->altstack);
			c->altstack->sp = (uintptr_t)ss.ss_sp;
			c->altstack->flags = ss.ss_flags & ~SS_ONSTACK;
			c->altstack->size = ss.ss_size;
		}
	}
	if (!r)
		r = prctl_dump_thread(ctx, t, th, &inj);
	if (!r && th->regs.orig_rax == SYS_restart_syscall) {
		c->regs->orig_rax = restarted_syscall_nr(&inj, &th->regs);
		pr_info("thread %d: inside restart_syscall; saved as syscall %llu to re-run\n", th->tid,
			(unsigned long long)c->regs->orig_rax);
	}
	return thread_inj_close(ctx, &inj, r);
}

static int thread_dump(struct dump_ctx *ctx, struct dtask *t)
{
	for (size_t i = 0; i < t->nthreads; i++) {
		int r = dump_one_thread(ctx, t, &t->threads[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516

enum { RESUME_RERUN, RESUME_RESTART_BLOCK, RESUME_DONE };

/*
 * A relative (clock_)nanosleep interrupted by the dump sleeps on for the time it had left, as after
 * a stop and SIGCONT, not for its whole request again. The kernel wrote that time into the
 * caller's remaining-time buffer when the dump interrupted it: a sleep for it with the same buffer,
 * interrupted at once, leaves in the new thread the restart block that restart_syscall resumes.
 * Without a buffer the time left is unknown and the call re-runs whole (never early). Pending
 * signals are already queued (blocked): the SIGSTOP is taken by the tracer, never by the task.
 */
static int restart_sleep(struct restore_ctx *ctx, struct rtask *t, struct rthread *th)
{
	const Ferry__UserRegsX86 *g = th->core->regs;
	uint64_t clk, rmtp;
	struct timespec left;
	long ret;

	th->resume = RESUME_RERUN;
	if ((long)g->rax != -ERESTART_RESTARTBLOCK)
		return 0;
	if (g->orig_rax == SYS_nanosleep) {
		clk = CLOCK_MONOTONIC;
		rmtp = g->rsi;
	} else if (g->orig_rax == SYS_clock_nanosleep) {
		clk = g->rdi;
		rmtp = g->r10;
	} else {
		return 0;
	}
	if (!rmtp || inj_read(&th->inj, rmtp, &left, sizeof(left)) < 0)
		return 0;
	if (signal_pending_in(t, SIGCONT)) {	/* the SIGSTOP below would discard it */
		pr_info("thread %d: a SIGCONT is pending: its sleep re-runs whole\n", th->tid);
		return 0;
	}
	uint64_t at = inj_scratch_put(&th->inj, 0, &left, sizeof(left));
	int r = inj_syscall_interrupted(&th->inj, &ret, SYS_clock_nanosleep,
					(const unsigned long[6]){ clk, 0, at, rmtp }, ctx->err);
	if (r < 0)
		return fe_wrap(ctx->err, r, "thread %d: resume its sleep of %ld.%09ld s", th->tid,
			       (long)left.tv_sec, left.tv_nsec);
	th->resume = ret == -ERESTART_RESTARTBLOCK ? RESUME_RESTART_BLOCK : ret == 0 ? RESUME_DONE : RESUME_RERUN;
	pr_info("thread %d: sleep with %ld.%09ld s left resumes %s\n", th->tid, (long)left.tv_sec, left.tv_nsec,
		th->resume == RESUME_RESTART_BLOCK ? "from its restart block" :
		th->resume == RESUME_DONE ? "as over" : "whole");
	return 0;
}

static int thread_restore_thread(struct restore_ctx *ctx, struct rtask *t, struct rthread *th)
{
	Ferry__ThreadCore *c = th->core;
	struct injector *inj = &th->inj;
	long ret;
	int r;

	if (c->rseq) {
		r = RINJ(ctx, inj, &ret, "register rseq", SYS_rseq, c->rseq->ptr, c->rseq->len, 0, c->rseq->sig);
		if (r < 0)
			return r;
	}
	if (c->has_clear_tid_addr) {
		r = RINJ(ctx, inj, &ret, "set_tid_address", SYS_set_tid_address, c->clear_tid_addr);
		if (r < 0)
			return r;
	}
	if (c->has_robust_list && c->robust_list) {
		r = RINJ(ctx, inj, &ret, "set_robust_list", SYS_set_robust_list, c->robust_list, c->robust_list_len);
		if (r < 0)
			return r;
	}
	if (c->altstack) {
		stack_t ss = { .ss_sp = (void *)(uintptr_t)c->altstack->sp, .ss_flags = c->altstack->flags,
			       .ss_size = c->altstack->size };
		uint64_t at = inj_scratch_put(inj, 0, &ss, sizeof(ss));
		r = RINJ(ctx, inj, &ret, "sigaltstack", SYS_sigaltstack, at, 0);
		if (r < 0)
			return r;
	}
	if (c->has_timer_slack_ns) {
		r = RINJ(ctx, inj, &ret, "set timer slack", SYS_prctl, PR_SET_TIMERSLACK, c->timer_slack_ns);
		if (r < 0)
			return r;
	}
	if (c->name) {
		char name[16] = { 0 };
		snprintf(name, sizeof(name), "%s", c->name);
		uint64_t at = inj_scratch_put(inj, 0, name, sizeof(name));
		r = RINJ(ctx, inj, &ret, "set thread name", SYS_prctl, PR_SET_NAME, at);
		if (r < 0)
			return r;
	}
	return restart_sleep(ctx, t, th);
}

/*
 * A thread stopped inside an interruptible syscall must re-run it: the kernel's restart block
 * (for clock_nanosleep, futex waits…) belonged to the old task, so restart from scratch.
 */
void regs_prepare_for_resume(struct user_regs_struct *r)
{
	long rv = (long)r->rax;
	if ((long)r->orig_rax >= 0 &&
	    (rv == -ERESTARTSYS || rv == -ERESTARTNOINTR || rv == -ERESTARTNOHAND || rv == -ERESTART_RESTARTBLOCK)) {
		r->rax = r->orig_rax;
		r->rip -= 2;
	}
	r->orig_rax = (unsigned long)-1;
}

int thread_restore_final(struct restore_ctx *ctx, struct rthread *th)
{
	Ferry__ThreadCore *c = th->core;
	struct user_regs_struct regs;
	int r;

	regs_from_image(&regs, c->regs);
	if (th->resume == RESUME_RESTART_BLOCK) {
		regs.rax = SYS_restart_syscall;
		regs.rip -= 2;
		regs.orig_rax = (unsigned long)-1;
	} else if (th->resume == RESUME_DONE) {
		regs.rax = 0;
		regs.orig_rax = (unsigned long)-1;
	} else {
		regs_prepare_for_resume(&regs);
	}
	r = pt_setregs(th->tid, &regs);
	if (r < 0)
		return fe_set(ctx->err, r, "set registers of thread %d", th->tid);
	if (c->has_xsave) {
		r = pt_set_xsave(th->tid, c->xsave.data, c->xsave.len);
		if (r < 0)
			return fe_set(ctx->err, r, "set FPU/XSAVE state of thread %d (%zu bytes)", th->tid, c->xsave.len);
	}
	r = pt_set_sigmask(th->tid, c->sigmask);
	if (r < 0)
		return fe_set(ctx->err, r, "set signal mask of thread %d", th->tid);
	return task_sud_restore(ctx, th);	/* last: nothing is injected after it */
}

const struct task_obj_ops thread_obj = {
	.name = "thread",
	.dump = thread_dump,
	.restore_thread = thread_restore_thread,
};
