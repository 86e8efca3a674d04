// SPDX-License-Identifier: Apache-2.0
// timerfd: a 50 ms periodic CLOCK_MONOTONIC timer (O_NONBLOCK), a one-shot that expired before the dump
// and was not read (one pending tick), a CLOCK_REALTIME absolute deadline an hour ahead, and a disarmed
// CLOCK_BOOTTIME timer, a CLOCK_REALTIME absolute deadline with TFD_TIMER_CANCEL_ON_SET and an armed
// periodic CLOCK_BOOTTIME timer (every 2 s). After restore: the periodic one keeps firing every 50 ms,
// the pending tick reads as 1, the deadline is still the same wall-clock time, the disarmed one stays
// disarmed, the cancel-on-set one keeps its flags and deadline, the boot-time one its period.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define PERIOD_NS 50000000LL
static int per, shot, abst, off, canc, boot, fl[4];
static struct timespec deadline;

static int64_t ts_ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

static void fdinfo(int fd, const char *key, char *out)
{
	char p[64];

	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fd);
	if (zdtm_status_field(p, key, out, 64) < 0)
		strcpy(out, "?");
}

static void setup(void)
{
	struct itimerspec p = { { 0, PERIOD_NS }, { 0, PERIOD_NS } }, s = { { 0, 0 }, { 0, 1000000 } }, a = { 0 };

	per = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	shot = timerfd_create(CLOCK_MONOTONIC, 0);
	abst = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC);
	off = timerfd_create(CLOCK_BOOTTIME, 0);
	if (per < 0 || shot < 0 || abst < 0 || off < 0)
		zdtm_skip("timerfd_create: %m");
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 3600;
	a.it_value = deadline;
	struct itimerspec b = { { 2, 0 }, { 2, 0 } };
	canc = timerfd_create(CLOCK_REALTIME, 0);
	boot = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK);
	if (timerfd_settime(per, 0, &p, NULL) < 0 || timerfd_settime(shot, 0, &s, NULL) < 0 ||
	    timerfd_settime(abst, TFD_TIMER_ABSTIME, &a, NULL) < 0 || canc < 0 || boot < 0 ||
	    timerfd_settime(canc, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &a, NULL) < 0 ||
	    timerfd_settime(boot, 0, &b, NULL) < 0)
		zdtm_skip("timerfd_settime: %m");
	usleep(20000);	/* the one-shot has expired */
	int fds[4] = { per, shot, abst, off };
	for (int i = 0; i < 4; i++)
		fl[i] = fcntl(fds[i], F_GETFL);
}

static uint64_t wait_ticks(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t v = 0;

	if (poll(&pfd, 1, 2000) != 1 || read(fd, &v, 8) != 8)
		return 0;
	return v;
}

static void verify(void)
{
	struct itimerspec cur;
	char v[64];
	int fds[4] = { per, shot, abst, off };

	for (int i = 0; i < 4; i++) {
		int f = fcntl(fds[i], F_GETFL);
		zdtm_check(f == fl[i], "timerfd %d: F_GETFL %#o, want %#o", i, f, fl[i]);
	}
	fdinfo(per, "clockid", v);
	zdtm_check(!strcmp(v, "1"), "periodic timer on clock %s, want 1", v);
	fdinfo(off, "clockid", v);
	zdtm_check(!strcmp(v, "7"), "disarmed timer on clock %s, want 7 (CLOCK_BOOTTIME)", v);

	/* the unread expiry of the one-shot is still there, exactly once */
	uint64_t t = 0;
	zdtm_check(read(shot, &t, 8) == 8 && t == 1, "one-shot: %llu pending ticks, want 1", (unsigned long long)t);
	zdtm_check(timerfd_gettime(shot, &cur) == 0 && !cur.it_value.tv_sec && !cur.it_value.tv_nsec,
		   "one-shot re-armed after restore");

	/* the periodic timer: same period, keeps firing */
	zdtm_check(timerfd_gettime(per, &cur) == 0 && ts_ns(cur.it_interval) == PERIOD_NS,
		   "period %lld ns, want %lld", (long long)ts_ns(cur.it_interval), PERIOD_NS);
	t = wait_ticks(per);	/* the ticks pending since the dump, if any */
	zdtm_check(t >= 1, "periodic timer: no tick after restore");
	t = wait_ticks(per);	/* the next one, at the timer's phase */
	zdtm_check(t >= 1, "periodic timer: no second tick after restore");
	/* then ticks keep coming every period: K ticks over E ns, K*P - P < E < K*P + P (wake-up delays) */
	int64_t t0 = zdtm_now_ns(CLOCK_MONOTONIC);
	uint64_t k = 0;
	for (int i = 0; i < 10 && k < 4; i++)
		k += wait_ticks(per);
	int64_t dt = zdtm_now_ns(CLOCK_MONOTONIC) - t0;
	zdtm_check(k >= 4 && dt > ((int64_t)k - 1) * PERIOD_NS && dt < ((int64_t)k + 1) * PERIOD_NS + 20000000,
		   "%llu ticks in %lld ns, want one per %lld ns", (unsigned long long)k, (long long)dt, PERIOD_NS);

	/* the absolute deadline is the same wall-clock time */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	zdtm_check(timerfd_gettime(abst, &cur) == 0, "gettime: %m");
	int64_t err = ts_ns(now) + ts_ns(cur.it_value) - ts_ns(deadline);
	zdtm_check(err > -50000000 && err < 50000000, "absolute deadline moved by %lld ns", (long long)err);
	fdinfo(abst, "settime flags", v);
	zdtm_check(!strcmp(v, "01"), "settime flags %s, want 01 (TFD_TIMER_ABSTIME)", v);
	zdtm_check(fcntl(abst, F_GETFD) == FD_CLOEXEC, "close-on-exec lost");

	zdtm_check(timerfd_gettime(off, &cur) == 0 && !ts_ns(cur.it_value) && !ts_ns(cur.it_interval),
		   "disarmed timer is armed");

	fdinfo(canc, "settime flags", v);
	zdtm_check(!strcmp(v, "03"), "cancel-on-set timer: settime flags %s, want 03", v);
	clock_gettime(CLOCK_REALTIME, &now);
	zdtm_check(timerfd_gettime(canc, &cur) == 0, "gettime: %m");
	err = ts_ns(now) + ts_ns(cur.it_value) - ts_ns(deadline);
	zdtm_check(err > -50000000 && err < 50000000, "cancel-on-set deadline moved by %lld ns", (long long)err);
	fdinfo(boot, "clockid", v);
	zdtm_check(!strcmp(v, "7"), "boot-time timer on clock %s", v);
	zdtm_check(timerfd_gettime(boot, &cur) == 0 && cur.it_interval.tv_sec == 2 && !cur.it_interval.tv_nsec &&
		   ts_ns(cur.it_value) > 0 && ts_ns(cur.it_value) <= 2000000000LL, "boot-time timer: every %lld ns, "
		   "next in %lld ns", (long long)ts_ns(cur.it_interval), (long long)ts_ns(cur.it_value));
}

int main(void)
{
	zdtm_init("timerfd");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	verify();
	zdtm_exit();
}
