/* SPDX-License-Identifier: Apache-2.0 */
/*
 * timerfd: clock, flags, period, time left and expirations not yet read. At dump,
 * timerfd_gettime() on ferry's copy brings an expired periodic timer's count up to date (as a
 * read would, without consuming it) and fdinfo then shows every pending tick. At restore the
 * timer is armed for the time it had left (an absolute CLOCK_REALTIME deadline stays absolute)
 * and the pending ticks are put back with TFD_IOC_SET_TICKS.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#define LOG_PREFIX "timerfd: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "files/files.h"

#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif
#ifndef TFD_TIMER_CANCEL_ON_SET
#define TFD_TIMER_CANCEL_ON_SET (1 << 1)
#endif
#define NSEC 1000000000ULL

static int timerfd_match(const struct fd_info *fi, const struct dump_opts *o)
{
	return strcmp(fi->link, "anon_inode:[timerfd]") == 0;
}

static int is_realtime(int clockid)
{
	return clockid == CLOCK_REALTIME || clockid == CLOCK_REALTIME_ALARM;
}

static int valid_clock(int clockid)
{
	return is_realtime(clockid) || clockid == CLOCK_MONOTONIC || clockid == CLOCK_BOOTTIME ||
	       clockid == CLOCK_BOOTTIME_ALARM;
}

/* The clock clock_gettime() reads for a timer clock (the _ALARM ones are not readable directly). */
static int read_clock(int clockid)
{
	return clockid == CLOCK_REALTIME_ALARM ? CLOCK_REALTIME :
	       clockid == CLOCK_BOOTTIME_ALARM ? CLOCK_BOOTTIME : clockid;
}

/* Fills clockid, settime flags and ticks from ferry's fdinfo of fd (read after timerfd_gettime). */
static int read_state(int fd, Ferry__TimerfdEntry *e)
{
	char path[64];
	_cleanup_free_ char *text = NULL;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	int r = read_file(path, &text, NULL);
	if (r < 0)
		return r;
	const char *clk = proc_field(text, "clockid"), *ticks = proc_field(text, "ticks");
	const char *fl = proc_field(text, "settime flags");
	if (!clk || !ticks || !fl)
		return -EIO;
	e->clockid = (int32_t)strtol(clk, NULL, 10);
	e->ticks = strtoull(ticks, NULL, 10);
	e->settime_flags = (uint32_t)strtoul(fl, NULL, 8);
	return 0;
}

/* An absolute wall-clock deadline stays one: store now + remaining on that clock. */
static void make_absolute(Ferry__TimerfdEntry *e)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t ns = e->value_nsec + (uint64_t)now.tv_nsec;
	e->value_sec += (uint64_t)now.tv_sec + ns / NSEC;
	e->value_nsec = ns % NSEC;
	e->value_abs = 1;
}

static int timerfd_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	Ferry__TimerfdEntry *e = ARENA_NEW(&ctx->arena, Ferry__TimerfdEntry);
	struct itimerspec cur;
	if (!e)
		return fe_set(ctx->err, ENOMEM, "timerfd entry");
	ferry__timerfd_entry__init(e);
	if (timerfd_gettime(fi->stolen, &cur) < 0)
		return fe_set(ctx->err, errno, "timerfd_gettime");
	int r = read_state(fi->stolen, e);
	if (r < 0)
		return fe_set(ctx->err, -r, "timerfd: read clockid, ticks and flags from fdinfo");
	e->has_ino = e->has_clockid = e->has_settime_flags = e->has_ticks = 1;
	e->has_value_sec = e->has_value_nsec = e->has_value_abs = e->has_interval_sec = e->has_interval_nsec = 1;
	e->ino = fi->st.st_ino;
	e->value_sec = cur.it_value.tv_sec;
	e->value_nsec = cur.it_value.tv_nsec;
	e->interval_sec = cur.it_interval.tv_sec;
	e->interval_nsec = cur.it_interval.tv_nsec;
	if ((e->settime_flags & TFD_TIMER_ABSTIME) && is_realtime(e->clockid) && (e->value_sec || e->value_nsec))
		make_absolute(e);
	fe->timerfd = e;
	return 0;
}

/* The it_value to arm with: absolute as stored, re-based on this host's clock, or relative. */
static int arm_value(const Ferry__TimerfdEntry *e, struct timespec *v, int *flags)
{
	*flags = e->settime_flags & (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET);
	v->tv_sec = (time_t)e->value_sec;
	v->tv_nsec = e->value_nsec;
	if (e->value_abs || !(*flags & TFD_TIMER_ABSTIME) || (!e->value_sec && !e->value_nsec))
		return 0;
	struct timespec now;
	if (clock_gettime(read_clock(e->clockid), &now) < 0)
		return -errno;
	uint64_t ns = (uint64_t)v->tv_nsec + (uint64_t)now.tv_nsec;
	v->tv_sec += now.tv_sec + (time_t)(ns / NSEC);
	v->tv_nsec = (long)(ns % NSEC);
	return 0;
}

static int check_entry(const Ferry__FileEntry *fe, struct ferry_err *err)
{
	const Ferry__TimerfdEntry *e = fe->timerfd;
	if (!e || !e->has_clockid)
		return fe_msg(err, EBADMSG, "files.img: timerfd file %u lacks its clock", fe->id);
	if (!valid_clock(e->clockid))
		return fe_msg(err, EBADMSG, "files.img: timerfd file %u has unknown clock %d", fe->id, e->clockid);
	if (e->value_nsec >= NSEC || e->interval_nsec >= NSEC || e->value_sec > INT64_MAX / 2 ||
	    e->interval_sec > INT64_MAX / 2)
		return fe_msg(err, EBADMSG, "files.img: timerfd file %u has an invalid time", fe->id);
	return 0;
}

static int timerfd_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	const Ferry__TimerfdEntry *e = fe->timerfd;
	int r = check_entry(fe, err), flags;
	if (r < 0)
		return r;
	_cleanup_close_ int fd = timerfd_create(e->clockid, TFD_CLOEXEC | ((fe->flags & O_NONBLOCK) ? TFD_NONBLOCK : 0));
	if (fd < 0)
		return fe_set(err, errno, "create a timerfd on clock %d", e->clockid);
	struct itimerspec its = { .it_interval = { (time_t)e->interval_sec, e->interval_nsec } };
	r = arm_value(e, &its.it_value, &flags);
	if (r < 0)
		return fe_set(err, -r, "read clock %d", e->clockid);
	if ((flags || its.it_value.tv_sec || its.it_value.tv_nsec || e->interval_sec || e->interval_nsec) &&
	    timerfd_settime(fd, flags, &its, NULL) < 0)
		return fe_set(err, errno, "arm timerfd (clock %d, %llu.%09u s left, every %llu.%09u s)", e->clockid,
			      (unsigned long long)e->value_sec, e->value_nsec, (unsigned long long)e->interval_sec,
			      e->interval_nsec);
	uint64_t ticks = e->ticks;
	if (ticks && ioctl(fd, TFD_IOC_SET_TICKS, &ticks) < 0)
		return fe_set(err, errno, "put back %llu unread expirations of a timerfd (TFD_IOC_SET_TICKS)",
			      (unsigned long long)ticks);
	return TAKE_FD(fd);
}

const struct file_ops timerfd_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_TIMERFD, .name = "timerfd",
	.match = timerfd_match, .dump = timerfd_dump, .open = timerfd_open,
};
