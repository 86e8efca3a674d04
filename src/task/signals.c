/* SPDX-License-Identifier: Apache-2.0 */
/* Signal dispositions (handler, flags, restorer, mask) and queued signals, process-wide and per thread. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#define LOG_PREFIX "signals: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "engine/context.h"
#include "inject/ptrace.h"
#include "task/task.h"

/* The kernel's struct sigaction for rt_sigaction on x86_64. */
struct ksigaction {
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};

static uint64_t status_mask(const char *status, const char *key)
{
	const char *v = proc_field(status, key);
	return v ? strtoull(v, NULL, 16) : 0;
}

#define TRAP_BIT (1ULL << (SIGTRAP - 1))

int task_sigtrap_unused(pid_t pid)
{
	char path[96];
	pid_t *tids;
	size_t n;
	if (list_threads(pid, &tids, &n) < 0)
		return 0;
	int unused = 1;
	for (size_t i = 0; i < n && unused; i++) {
		_cleanup_free_ char *st = NULL;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tids[i]);
		if (read_file(path, &st, NULL) < 0)
			unused = 0;
		else
			unused = !((status_mask(st, "SigCgt") | status_mask(st, "SigIgn") | status_mask(st, "SigPnd") |
				    status_mask(st, "ShdPnd")) & TRAP_BIT);
	}
	free(tids);
	return unused;
}

static int dump_actions(struct dump_ctx *ctx, struct dtask *t)
{
	uint64_t wanted = status_mask(t->status, "SigCgt") | status_mask(t->status, "SigIgn");
	Ferry__TaskCore *c = t->core;
	c->sigactions = ARENA_ARRAY(&ctx->arena, Ferry__SigAction *, 64);
	for (int sig = 1; sig <= 64; sig++) {
		if (!(wanted & (1ULL << (sig - 1))) || sig == SIGKILL || sig == SIGSTOP)
			continue;
		long ret;
		int r = DINJ(ctx, t, &ret, "read signal action", SYS_rt_sigaction, sig, 0, t->inj.scratch, 8);
		if (r < 0)
			return r;
		struct ksigaction ka;
		r = inj_read(&t->inj, t->inj.scratch, &ka, sizeof(ka));
		if (r < 0)
			return fe_set(ctx->err, r, "read signal action %d of pid %d", sig, t->pid);
		Ferry__SigAction *sa = ARENA_NEW(&ctx->arena, Ferry__SigAction);
		ferry__sig_action__init(sa);
		sa->signo = sig;
		sa->handler = ka.handler;
		sa->flags = ka.flags;
		sa->restorer = ka.restorer;
		sa->mask = ka.mask;
		c->sigactions[c->n_sigactions++] = sa;
	}
	return 0;
}

static int dump_queue(struct dump_ctx *ctx, pid_t tid, int shared, Ferry__SigInfo ***out, size_t *n)
{
	void *infos;
	size_t cnt;
	int r = pt_peek_siginfo(tid, shared, &infos, &cnt);
	if (r < 0)
		return fe_set(ctx->err, r, "read pending signals of thread %d", tid);
	*out = ARENA_ARRAY(&ctx->arena, Ferry__SigInfo *, cnt ? cnt : 1);
	for (size_t i = 0; i < cnt; i++) {
		const siginfo_t *si = (const siginfo_t *)((char *)infos + i * 128);
		Ferry__SigInfo *s = ARENA_NEW(&ctx->arena, Ferry__SigInfo);
		ferry__sig_info__init(s);
		s->signo = si->si_signo;
		s->siginfo.len = 128;
		s->siginfo.data = arena_memdup(&ctx->arena, si, 128);
		(*out)[i] = s;
	}
	*n = cnt;
	free(infos);
	return 0;
}

static int signals_dump(struct dump_ctx *ctx, struct dtask *t)
{
	int r = dump_actions(ctx, t);
	if (r < 0)
		return r;
	r = dump_queue(ctx, t->pid, 1, &t->core->shared_pending, &t->core->n_shared_pending);
	for (size_t i = 0; !r && i < t->nthreads; i++) {
		Ferry__ThreadCore *c = t->threads[i].core;
		r = dump_queue(ctx, t->threads[i].tid, 0, &c->pending, &c->n_pending);
	}
	return r;
}

/*
 * Every task starts with all actions at default (the restorer reset them before the root task
 * stopped, and children are forked before any action is set), so only the saved ones are set.
 * Every signal is still blocked, so handlers may point anywhere until release.
 */
static int restore_actions(struct restore_ctx *ctx, struct rtask *t)
{
	struct injector *inj = &t->threads[0].inj;
	for (size_t i = 0; i < t->core->n_sigactions; i++) {
		const Ferry__SigAction *sa = t->core->sigactions[i];
		struct ksigaction ka = { sa->handler, sa->flags, sa->restorer, sa->mask };
		long ret;
		if (sa->signo <= 0 || sa->signo > 64 || sa->signo == SIGKILL || sa->signo == SIGSTOP)
			return fe_msg(ctx->err, EBADMSG, "core-%d.img: bad signal number %d", t->pid, sa->signo);
		uint64_t at = inj_scratch_put(inj, 0, &ka, sizeof(ka));
		int r = RINJ(ctx, inj, &ret, "restore a signal action", SYS_rt_sigaction, sa->signo, at, 0, 8);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Signals the restore itself caused (SIGCHLD from recreated zombies) are not the task's. */
static int drain_pending(struct restore_ctx *ctx, struct rtask *t)
{
	struct injector *inj = &t->threads[0].inj;
	struct { uint64_t set; struct timespec zero; } a = { ~0ULL, { 0, 0 } };
	uint64_t at = inj_scratch_put(inj, 0, &a, sizeof(a));
	for (int i = 0; i < 256; i++) {
		long ret;
		int r = inj_syscall(inj, &ret, SYS_rt_sigtimedwait,
				    (const unsigned long[6]){ at, 0, at + 8, 8 }, ctx->err);
		if (r < 0)
			return r;
		if (ret < 0)
			return 0;
		pr_debug("pid %d: dropped signal %ld raised by the restore\n", t->pid, ret);
	}
	return 0;
}

/*
 * The kernel lets a task queue a signal with an arbitrary siginfo only to itself: process-wide
 * ones from the leader (tid == tgid), thread-directed ones from that very thread.
 */
static int queue_signal(struct restore_ctx *ctx, struct rtask *t, struct rthread *th, const Ferry__SigInfo *s)
{
	struct injector *inj = th ? &th->inj : &t->threads[0].inj;
	pid_t tid = th ? th->tid : 0;
	long ret;
	if (s->siginfo.len != 128 || s->signo <= 0 || s->signo > 64)
		return fe_msg(ctx->err, EBADMSG, "core-%d.img: malformed pending signal", t->pid);
	uint64_t at = inj_scratch_put(inj, 0, s->siginfo.data, 128);
	if (tid)
		return RINJ(ctx, inj, &ret, "queue a thread's pending signal", SYS_rt_tgsigqueueinfo,
			    t->pid, tid, s->signo, at);
	return RINJ(ctx, inj, &ret, "queue a pending signal", SYS_rt_sigqueueinfo, t->pid, s->signo, at);
}

int signal_pending_in(const struct rtask *t, int signo)
{
	for (size_t i = 0; i < t->core->n_shared_pending; i++)
		if (t->core->shared_pending[i]->signo == signo)
			return 1;
	for (size_t k = 0; k < t->nthreads; k++)
		for (size_t i = 0; i < t->threads[k].core->n_pending; i++)
			if (t->threads[k].core->pending[i]->signo == signo)
				return 1;
	return 0;
}

/* Does the task have a SIGTRAP action or a SIGTRAP pending anywhere? */
static int uses_sigtrap(const struct rtask *t)
{
	for (size_t i = 0; i < t->core->n_sigactions; i++)
		if (t->core->sigactions[i]->signo == SIGTRAP)
			return 1;
	return signal_pending_in(t, SIGTRAP);
}

/*
 * Runs once all threads exist and still block everything; the real masks are set last. From
 * here on a task that uses SIGTRAP is injected into without single-steps (inject/syscall.h).
 */
static int signals_restore_inject(struct restore_ctx *ctx, struct rtask *t)
{
	int exact = uses_sigtrap(t);
	for (size_t k = 0; exact && k < t->nthreads; k++) {
		t->threads[k].inj.trap_ok = 0;	/* and block SIGTRAP again: each step unblocked it */
		int r = pt_set_sigmask(t->threads[k].tid, ~0ULL);
		if (r < 0)
			return fe_set(ctx->err, r, "block signals of thread %d", t->threads[k].tid);
	}
	int r0 = restore_actions(ctx, t);
	if (r0 == 0)
		r0 = drain_pending(ctx, t);
	if (r0 < 0)
		return r0;
	for (size_t i = 0; i < t->core->n_shared_pending; i++) {
		int r = queue_signal(ctx, t, NULL, t->core->shared_pending[i]);
		if (r < 0)
			return r;
	}
	for (size_t k = 0; k < t->nthreads; k++) {
		Ferry__ThreadCore *c = t->threads[k].core;
		for (size_t i = 0; i < c->n_pending; i++) {
			int r = queue_signal(ctx, t, &t->threads[k], c->pending[i]);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

const struct task_obj_ops signals_obj = {
	.name = "signals",
	.dump = signals_dump,
	.restore_inject = signals_restore_inject,
};
