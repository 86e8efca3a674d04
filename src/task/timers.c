/* SPDX-License-Identifier: Apache-2.0 */
/*
 * POSIX timers (timer_create) of a process: ID, clock, notification, interval and time left.
 * Dumped from /proc/PID/timers plus an injected timer_gettime per timer; restored by injection
 * with PR_TIMER_CREATE_RESTORE_IDS on, so each timer gets back the ID the program holds.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#define LOG_PREFIX "timers: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "engine/context.h"
#include "task/task.h"

#ifndef PR_TIMER_CREATE_RESTORE_IDS
#define PR_TIMER_CREATE_RESTORE_IDS 77
#endif
#define RESTORE_IDS_OFF 0
#define RESTORE_IDS_ON 1

/* Kernel sigev_notify values (SIGEV_THREAD_ID is a flag the kernel shows as "tid"). */
#define NOTIFY_SIGNAL 0
#define NOTIFY_NONE 1
#define NOTIFY_THREAD 2
#define NOTIFY_THREAD_ID 4

#define NSEC 1000000000ULL
#define MAX_TIMERS 65536

/* The kernel's struct sigevent on x86_64 (64 bytes). */
struct ksigevent {
	uint64_t value;
	int32_t signo;
	int32_t notify;
	int32_t tid;
	int32_t pad[11];
};

struct kitimerspec {
	int64_t interval_sec, interval_nsec;
	int64_t value_sec, value_nsec;
};

/* Scratch layout of the restore: sigevent, then the timer ID, then the itimerspec. */
#define SEV_OFF 0
#define ID_OFF 64
#define ITS_OFF 128

static int parse_notify(const char *s, int *notify, int *tid)
{
	char kind[16], who[8];
	if (sscanf(s, "%15[a-z]/%7[a-z].%d", kind, who, tid) != 3)
		return -EINVAL;
	if (!strcmp(kind, "signal"))
		*notify = NOTIFY_SIGNAL;
	else if (!strcmp(kind, "none"))
		*notify = NOTIFY_NONE;
	else if (!strcmp(kind, "thread"))
		*notify = NOTIFY_THREAD;
	else
		return -EINVAL;
	if (!strcmp(who, "tid"))
		*notify |= NOTIFY_THREAD_ID;
	else if (strcmp(who, "pid"))
		return -EINVAL;
	return 0;
}

/*
 * One "ID:/signal:/notify:/ClockID:" block of /proc/PID/timers; id points past "ID:", *next is
 * where the next block may start.
 */
static int parse_block(struct arena *a, const char *id, const char **next, Ferry__PosixTimer **out)
{
	const char *sig = proc_field(id, "signal");
	const char *notify = proc_field(id, "notify"), *clock = proc_field(id, "ClockID");
	if (!sig || !notify || !clock)
		return -EINVAL;
	Ferry__PosixTimer *pt = ARENA_NEW(a, Ferry__PosixTimer);
	if (!pt)
		return -ENOMEM;
	ferry__posix_timer__init(pt);
	unsigned long long value;
	int tid = 0;
	if (sscanf(sig, "%d/%llx", &pt->signo, &value) != 2 || parse_notify(notify, &pt->notify, &tid) < 0)
		return -EINVAL;
	pt->id = atoi(id);
	pt->clock_id = atoi(clock);
	pt->sigev_value = value;
	if (pt->notify & NOTIFY_THREAD_ID) {
		pt->has_notify_tid = 1;
		pt->notify_tid = tid;
	}
	*next = strchr(clock, '\n');
	*out = pt;
	return 0;
}

/* Time left, interval and overrun, read by the task itself. */
static int dump_times(struct dump_ctx *ctx, struct dtask *t, Ferry__PosixTimer *pt)
{
	struct kitimerspec its;
	long ret;
	int r = DINJ(ctx, t, &ret, "read a POSIX timer", SYS_timer_gettime, pt->id, t->inj.scratch);
	if (r < 0)
		return fe_wrap(ctx->err, r, "timer %d", pt->id);
	r = inj_read(&t->inj, t->inj.scratch, &its, sizeof(its));
	if (r < 0)
		return fe_set(ctx->err, r, "pid %d: read POSIX timer %d", t->pid, pt->id);
	pt->interval_ns = its.interval_sec * NSEC + its.interval_nsec;
	pt->value_ns = its.value_sec * NSEC + its.value_nsec;
	r = DINJ(ctx, t, &ret, "read a POSIX timer's overrun", SYS_timer_getoverrun, pt->id);
	if (r < 0)
		return fe_wrap(ctx->err, r, "timer %d", pt->id);
	pt->has_overrun = 1;
	pt->overrun = ret;
	return 0;
}

static int timers_dump(struct dump_ctx *ctx, struct dtask *t)
{
	char path[64];
	_cleanup_free_ char *text = NULL;
	int r = read_file(PROC_PATH(path, t->pid, "timers"), &text, NULL);
	if (r < 0)
		return fe_set(ctx->err, r, "read %s", path);
	size_t n = 0;
	for (const char *p = text; (p = proc_field(p, "ID"));)
		n++;
	if (!n)
		return 0;
	if (n > MAX_TIMERS)
		return fe_msg(ctx->err, E2BIG, "pid %d has %zu POSIX timers", t->pid, n);
	Ferry__TaskCore *c = t->core;
	c->posix_timers = ARENA_ARRAY(&ctx->arena, Ferry__PosixTimer *, n);
	if (!c->posix_timers)
		return -ENOMEM;
	const char *p = text, *id;
	while (c->n_posix_timers < n && p && (id = proc_field(p, "ID"))) {
		Ferry__PosixTimer *pt;
		r = parse_block(&ctx->arena, id, &p, &pt);
		if (r < 0)
			return fe_set(ctx->err, r, "pid %d: parse %s", t->pid, path);
		if ((r = dump_times(ctx, t, pt)) < 0)
			return r;
		pr_debug("pid %d: timer %d clock %d notify %d/%d signal %d value %#llx left %llu ns interval %llu ns\n",
			 t->pid, pt->id, pt->clock_id, pt->notify, pt->notify_tid, pt->signo,
			 (unsigned long long)pt->sigev_value, (unsigned long long)pt->value_ns,
			 (unsigned long long)pt->interval_ns);
		c->posix_timers[c->n_posix_timers++] = pt;
	}
	return 0;
}

/* Whether tid is a thread of t (the target of a SIGEV_THREAD_ID timer). */
static int has_thread(const struct rtask *t, int32_t tid)
{
	for (size_t i = 0; i < t->nthreads; i++)
		if (t->threads[i].tid == tid)
			return 1;
	return 0;
}

static int check_timer(struct restore_ctx *ctx, struct rtask *t, const Ferry__PosixTimer *pt)
{
	int kind = pt->notify & ~NOTIFY_THREAD_ID;
	int ok = pt->id >= 0 && pt->signo >= 0 && pt->signo <= 64 &&
		 (kind == NOTIFY_SIGNAL || kind == NOTIFY_NONE || kind == NOTIFY_THREAD) &&
		 (pt->notify & ~(NOTIFY_THREAD_ID | 3)) == 0 &&
		 !!(pt->notify & NOTIFY_THREAD_ID) == !!pt->has_notify_tid && (!pt->has_notify_tid || pt->notify_tid > 0);
	return ok ? 0 : fe_msg(ctx->err, EBADMSG, "core-%d.img: malformed POSIX timer %d", t->pid, pt->id);
}

static int restore_one(struct restore_ctx *ctx, struct rtask *t, struct injector *inj, const Ferry__PosixTimer *pt)
{
	struct ksigevent sev = { .value = pt->sigev_value, .signo = pt->signo, .notify = pt->notify,
				 .tid = pt->has_notify_tid ? pt->notify_tid : 0 };
	int32_t id = pt->id;
	long ret;
	int r = check_timer(ctx, t, pt);
	if (r < 0)
		return r;
	/*
	 * Its thread had exited by the dump: the kernel keeps such a timer, running, but it never
	 * signals anyone. The same timer without a notification is what a program can still see.
	 */
	if (pt->has_notify_tid && !has_thread(t, pt->notify_tid)) {
		sev.notify = NOTIFY_NONE;
		sev.tid = 0;
		pr_info("pid %d: POSIX timer %d notified thread %d, gone before the dump: restored without "
			"notification\n", t->pid, pt->id, pt->notify_tid);
	}
	uint64_t sev_at = inj_scratch_put(inj, SEV_OFF, &sev, sizeof(sev));
	uint64_t id_at = inj_scratch_put(inj, ID_OFF, &id, sizeof(id));
	r = RINJ(ctx, inj, &ret, "create a POSIX timer", SYS_timer_create, pt->clock_id, sev_at, id_at);
	if (r < 0)
		return fe_wrap(ctx->err, r, "timer %d (clock %d)", pt->id, pt->clock_id);
	if ((r = inj_read(inj, id_at, &id, sizeof(id))) < 0)
		return fe_set(ctx->err, r, "pid %d: read the ID of POSIX timer %d", t->pid, pt->id);
	if (id != pt->id)
		return fe_msg(ctx->err, EEXIST, "pid %d: POSIX timer %d came back as %d", t->pid, pt->id, id);
	if (!pt->value_ns)
		return 0;	/* disarmed */
	struct kitimerspec its = { pt->interval_ns / NSEC, pt->interval_ns % NSEC, pt->value_ns / NSEC,
				   pt->value_ns % NSEC };
	uint64_t its_at = inj_scratch_put(inj, ITS_OFF, &its, sizeof(its));
	r = RINJ(ctx, inj, &ret, "arm a POSIX timer", SYS_timer_settime, pt->id, 0, its_at, 0);
	return r < 0 ? fe_wrap(ctx->err, r, "timer %d", pt->id) : 0;
}

/* Time left is restored relative: a timer armed with TIMER_ABSTIME keeps its remaining delay. */
static int timers_restore_inject(struct restore_ctx *ctx, struct rtask *t)
{
	const Ferry__TaskCore *c = t->core;
	struct injector *inj = &t->threads[0].inj;
	long ret;
	if (!c->n_posix_timers)
		return 0;
	int r = RINJ(ctx, inj, &ret, "turn on timer ID restore (PR_TIMER_CREATE_RESTORE_IDS, Linux 6.13)",
		     SYS_prctl, PR_TIMER_CREATE_RESTORE_IDS, RESTORE_IDS_ON, 0, 0, 0);
	if (r < 0)
		return r;
	for (size_t i = 0; i < c->n_posix_timers; i++)
		if ((r = restore_one(ctx, t, inj, c->posix_timers[i])) < 0)
			return r;
	return RINJ(ctx, inj, &ret, "turn off timer ID restore", SYS_prctl, PR_TIMER_CREATE_RESTORE_IDS,
		    RESTORE_IDS_OFF, 0, 0, 0);
}

const struct task_obj_ops posix_timers_obj = {
	.name = "posix-timers",
	.dump = timers_dump,
	.restore_inject = timers_restore_inject,
};
