// SPDX-License-Identifier: Apache-2.0
// Blocking calls across a checkpoint: the main thread in a 5 s nanosleep, threads in an absolute
// clock_nanosleep, a futex wait with a timeout and one without. Each sleep completes, never early, and
// no call returns EINTR when no signal was sent to its thread.
#include "zdtm.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NS 1000000000LL

static volatile int stop, never;
static volatile long rounds[3];
static pthread_t th[3];

static void block_sigterm(void)
{
	sigset_t m;

	sigemptyset(&m);
	sigaddset(&m, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &m, NULL);
}

static void *abs_sleeper(void *arg)
{
	struct timespec ts;
	int64_t deadline;
	int r;

	block_sigterm();
	while (!stop) {
		deadline = zdtm_now_ns(CLOCK_MONOTONIC) + 3 * NS;
		ts.tv_sec = deadline / NS;
		ts.tv_nsec = deadline % NS;
		r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		zdtm_check(r == 0, "clock_nanosleep(ABSTIME): %s", strerror(r));
		zdtm_check(zdtm_now_ns(CLOCK_MONOTONIC) >= deadline, "clock_nanosleep(ABSTIME) woke up early");
		rounds[0]++;
	}
	return NULL;
}

static void *futex_timed(void *arg)
{
	struct timespec ts = { 2, 0 };
	int64_t t0, el;
	long r;

	block_sigterm();
	while (!stop) {
		t0 = zdtm_now_ns(CLOCK_MONOTONIC);
		r = syscall(SYS_futex, &never, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
		el = zdtm_now_ns(CLOCK_MONOTONIC) - t0;
		zdtm_check(r < 0 && errno == ETIMEDOUT, "timed futex wait: %ld/%s, want ETIMEDOUT", r, strerror(errno));
		zdtm_check(el >= 2 * NS, "timed futex wait returned after %lld ns", (long long)el);
		rounds[1]++;
	}
	return NULL;
}

static void *futex_forever(void *arg)
{
	long r;

	block_sigterm();
	while (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST)) {
		r = syscall(SYS_futex, &stop, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
		if (r < 0 && errno == EINTR)
			zdtm_fail("futex wait without timeout returned EINTR (no signal was sent)");
		else if (r == 0 && !__atomic_load_n(&stop, __ATOMIC_SEQ_CST))
			zdtm_fail("futex wait woke up without a FUTEX_WAKE");
		rounds[2]++;
	}
	return NULL;
}

/* Sleeps 5 s in full, going on after EINTR (from SIGTERM) with the remaining time. */
static void main_sleep(void)
{
	struct timespec req = { 5, 0 }, rem;
	int64_t t0 = zdtm_now_ns(CLOCK_MONOTONIC), el;

	while (nanosleep(&req, &rem) < 0) {
		if (errno != EINTR) {
			zdtm_fail("nanosleep: %m");
			return;
		}
		if (!zdtm_sigterm_received())
			zdtm_fail("main nanosleep interrupted but no SIGTERM arrived");
		zdtm_check(rem.tv_sec <= 5 && rem.tv_nsec < NS, "nanosleep remaining time %ld.%09ld", rem.tv_sec,
			   rem.tv_nsec);
		req = rem;
	}
	el = zdtm_now_ns(CLOCK_MONOTONIC) - t0;
	zdtm_check(el >= 5 * NS, "main 5 s nanosleep took %lld ns", (long long)el);
}

int main(void)
{
	long before[3], main_rounds = 0;

	zdtm_init("sleeping");
	pthread_create(&th[0], NULL, abs_sleeper, NULL);
	pthread_create(&th[1], NULL, futex_timed, NULL);
	pthread_create(&th[2], NULL, futex_forever, NULL);
	zdtm_ready();
	while (!zdtm_sigterm_received()) {
		main_sleep();
		main_rounds++;
	}
	for (int i = 0; i < 3; i++)
		before[i] = rounds[i];
	/* the timed sleepers must keep going: wait for one more round of each */
	for (int i = 0; i < 40 && (rounds[0] == before[0] || rounds[1] == before[1]); i++)
		usleep(100000);
	zdtm_check(rounds[0] > before[0], "absolute sleeper stopped (%ld rounds)", rounds[0]);
	zdtm_check(rounds[1] > before[1], "timed futex waiter stopped (%ld rounds)", rounds[1]);
	zdtm_check(rounds[2] == 0, "forever futex waiter returned %ld times before the wake", rounds[2]);
	__atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &stop, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	zdtm_check(rounds[2] == 1, "forever futex waiter: %ld returns, want 1", rounds[2]);
	zdtm_check(main_rounds >= 1, "main never slept");
	zdtm_exit();
}
