/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Each thread's scheduling — policy, nice, real-time priority, deadline parameters, flags
 * (reset-on-fork), a fair thread's time slice, utilization clamps — its CPU affinity and its I/O
 * priority. All are read and set by ferry itself on the thread's TID (no injection), and set
 * last, once nothing more is injected that a low priority or a deadline would slow down. A core
 * scheduling cookie is refused (its value cannot be chosen).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#define LOG_PREFIX "sched: "
#include "common/log.h"
#include "common/util.h"
#include "engine/context.h"
#include "task/task.h"

/* The kernel's struct sched_attr (SCHED_ATTR_SIZE_VER1). */
struct ksched_attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
	uint32_t util_min, util_max;
};

#define SCHED_DEADLINE_ 6
#define FLAG_KEEP_ALL 0x18		/* SCHED_FLAG_KEEP_POLICY | KEEP_PARAMS */
#define FLAG_UTIL_CLAMP 0x60		/* SCHED_FLAG_UTIL_CLAMP_MIN | MAX */
#define IOPRIO_WHO_PROCESS 1
#define MAX_CPU_WORDS 1024		/* 65536 CPUs */
#define PR_SCHED_CORE_ 62
#define PR_SCHED_CORE_GET_ 0

static int get_attr(pid_t tid, struct ksched_attr *a)
{
	memset(a, 0, sizeof(*a));
	return syscall(SYS_sched_getattr, tid, a, sizeof(*a), 0) < 0 ? -errno : 0;
}

static int get_affinity(pid_t tid, uint64_t *mask, size_t *nwords)
{
	for (size_t words = 16; words <= MAX_CPU_WORDS; words *= 4) {
		long n = syscall(SYS_sched_getaffinity, tid, words * 8, mask);
		if (n > 0) {
			*nwords = (n + 7) / 8;
			return 0;
		}
		if (errno != EINVAL)
			return -errno;
	}
	return -E2BIG;
}

static int dump_thread(struct dump_ctx *ctx, Ferry__ThreadCore *c)
{
	struct ksched_attr a;
	int r = get_attr(c->tid, &a);
	if (r < 0)
		return fe_set(ctx->err, r, "read the scheduling of thread %d", c->tid);
	Ferry__SchedAttr *s = ARENA_NEW(&ctx->arena, Ferry__SchedAttr);
	uint64_t *mask = ARENA_ARRAY(&ctx->arena, uint64_t, MAX_CPU_WORDS);
	if (!s || !mask)
		return -ENOMEM;
	ferry__sched_attr__init(s);
	s->policy = a.policy;
	s->has_flags = s->has_nice = s->has_priority = s->has_runtime = 1;
	s->flags = a.flags & ~(uint64_t)(FLAG_KEEP_ALL | FLAG_UTIL_CLAMP);
	s->nice = a.nice;
	s->priority = a.priority;
	s->runtime = a.runtime;
	s->has_deadline = s->has_period = a.policy == SCHED_DEADLINE_;
	s->deadline = a.deadline;
	s->period = a.period;
	s->has_util_min = s->has_util_max = a.util_max != 0;
	s->util_min = a.util_min;
	s->util_max = a.util_max;
	if ((r = get_affinity(c->tid, mask, &s->n_affinity)) < 0)
		return fe_set(ctx->err, r, "read the CPU affinity of thread %d", c->tid);
	s->affinity = mask;
	uint64_t cookie = 0;	/* core scheduling: its cookie's value cannot be chosen */
	if (prctl(PR_SCHED_CORE_, PR_SCHED_CORE_GET_, c->tid, 0 /* PIDTYPE_PID */, &cookie) == 0 && cookie)
		return fe_msg(ctx->err, EOPNOTSUPP, "thread %d has a core scheduling cookie (PR_SCHED_CORE %#llx), which "
			      "this version cannot restore", c->tid, (unsigned long long)cookie);
	long io = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, c->tid);
	if (io < 0)
		return fe_set(ctx->err, errno, "read the I/O priority of thread %d", c->tid);
	s->has_ioprio = io != 0;
	s->ioprio = io;
	c->sched = s;
	return 0;
}

static int sched_dump(struct dump_ctx *ctx, struct dtask *t)
{
	for (size_t i = 0; i < t->nthreads; i++) {
		int r = dump_thread(ctx, t->threads[i].core);
		if (r < 0)
			return fe_wrap(ctx->err, r, "pid %d", t->pid);
	}
	return 0;
}

/*
 * The policy and its parameters, set only where they differ from what the thread has now (a
 * fresh thread has the restorer's): a fair thread's slice is set only if it was not the default,
 * so it stays "not custom"; utilization clamps only where the kernel has them.
 */
static int restore_attr(struct restore_ctx *ctx, pid_t tid, const Ferry__SchedAttr *s)
{
	struct ksched_attr now, want = { .size = sizeof(want) };
	int r = get_attr(tid, &now);
	if (r < 0)
		return fe_set(ctx->err, r, "read the scheduling of thread %d", tid);
	want.policy = s->policy;
	want.flags = s->flags;
	want.nice = s->nice;
	want.priority = s->priority;
	want.runtime = s->runtime;
	want.deadline = s->deadline;
	want.period = s->period;
	int fair = s->policy == SCHED_OTHER || s->policy == SCHED_BATCH || s->policy == SCHED_IDLE;
	if (fair && s->runtime == now.runtime)
		want.runtime = 0;
	int clamp = s->has_util_max && (s->util_min != now.util_min || s->util_max != now.util_max);
	if (clamp) {
		want.flags |= FLAG_UTIL_CLAMP;
		want.util_min = s->util_min;
		want.util_max = s->util_max;
	}
	if (now.policy == want.policy && now.flags == want.flags && now.nice == want.nice &&
	    now.priority == want.priority && (fair ? s->runtime == now.runtime : now.runtime == want.runtime) &&
	    now.deadline == want.deadline && now.period == want.period && !clamp)
		return 0;
	if (syscall(SYS_sched_setattr, tid, &want, 0) < 0)
		return fe_set(ctx->err, errno, "thread %d: set scheduling policy %u (nice %d, priority %u, runtime %llu, "
			      "deadline %llu, period %llu, flags %#llx)", tid, s->policy, s->nice, s->priority,
			      (unsigned long long)s->runtime, (unsigned long long)s->deadline,
			      (unsigned long long)s->period, (unsigned long long)s->flags);
	return 0;
}

static int restore_thread_sched(struct restore_ctx *ctx, pid_t tid, const Ferry__SchedAttr *s)
{
	if (s->n_affinity > MAX_CPU_WORDS)
		return fe_msg(ctx->err, EBADMSG, "thread %d: CPU mask of %zu words", tid, s->n_affinity);
	/* Affinity first: a deadline thread must be allowed on every CPU of its root domain. */
	if (s->n_affinity && syscall(SYS_sched_setaffinity, tid, s->n_affinity * 8, s->affinity) < 0)
		return fe_set(ctx->err, errno, "thread %d: set its CPU affinity (first word %#llx)", tid,
			      (unsigned long long)s->affinity[0]);
	if (s->has_ioprio && syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, tid, s->ioprio) < 0)
		return fe_set(ctx->err, errno, "thread %d: set I/O priority %#x", tid, s->ioprio);
	return restore_attr(ctx, tid, s);
}

static int sched_restore_late(struct restore_ctx *ctx, struct rtask *t)
{
	for (size_t i = 0; i < t->nthreads; i++) {
		const Ferry__SchedAttr *s = t->threads[i].core->sched;
		int r = s ? restore_thread_sched(ctx, t->threads[i].tid, s) : 0;
		if (r < 0)
			return r;
	}
	return 0;
}

const struct task_obj_ops sched_obj = {
	.name = "sched",
	.dump = sched_dump,
	.restore_late = sched_restore_late,
};
