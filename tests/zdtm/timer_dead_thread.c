// SPDX-License-Identifier: Apache-2.0
// POSIX timers aimed (SIGEV_THREAD_ID) at threads that have exited since: the kernel keeps them,
// running, but they signal nobody. One periodic (100 ms) and armed, one one-shot an hour ahead, one
// disarmed, each made by its own thread that then exited; and a live timer aimed at the main thread
// for comparison (CRIU's dead_thread_posix_timer idea). After restore every timer exists under its
// ID (timer_gettime), with its interval, no more time left than before, the dead ones still signal
// nobody (their signal never arrives), and the live one still signals the main thread.
#include "zdtm.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NS 1000000000LL
#define DEAD 3

static timer_t dead[DEAD], live;
static volatile int got_dead, got_live;

static void on_sig(int sig) { if (sig == SIGRTMIN + 4) got_dead++; else got_live++; }

static void *maker(void *arg)
{
	struct sigevent ev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGRTMIN + 4 };
	ev._sigev_un._tid = zdtm_gettid();
	return timer_create(CLOCK_MONOTONIC, &ev, (timer_t *)arg) ? (void *)1 : NULL;
}

static int64_t ns(const struct timespec *t) { return t->tv_sec * NS + t->tv_nsec; }

int main(void)
{
	zdtm_init("timer_dead_thread");
	struct sigaction sa = { .sa_handler = on_sig };
	sigaction(SIGRTMIN + 4, &sa, NULL);
	sigaction(SIGRTMIN + 5, &sa, NULL);
	for (int i = 0; i < DEAD; i++) {
		pthread_t t;
		void *res = (void *)1;
		if (pthread_create(&t, NULL, maker, &dead[i]) || pthread_join(t, &res) || res)
			zdtm_skip("a SIGEV_THREAD_ID timer: %m");
	}
	struct itimerspec arm[DEAD] = { { { 0, 100000000 }, { 0, 100000000 } }, { { 0, 0 }, { 3600, 0 } }, { { 0, 0 }, { 0, 0 } } };
	for (int i = 0; i < DEAD; i++)
		timer_settime(dead[i], 0, &arm[i], NULL);
	struct sigevent ev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGRTMIN + 5 };
	ev._sigev_un._tid = zdtm_gettid();
	struct itimerspec every = { { 0, 50000000 }, { 0, 50000000 } };
	if (timer_create(CLOCK_MONOTONIC, &ev, &live) || timer_settime(live, 0, &every, NULL))
		zdtm_skip("a live timer: %m");
	usleep(300000);
	struct itimerspec before[DEAD];
	for (int i = 0; i < DEAD; i++)
		timer_gettime(dead[i], &before[i]);
	zdtm_check(got_dead == 0, "a timer of a dead thread signalled %d times before the dump", got_dead);
	zdtm_ready();
	zdtm_wait_sigterm();

	int live0 = got_live;
	usleep(400000);
	for (int i = 0; i < DEAD; i++) {
		struct itimerspec now;
		zdtm_check(timer_gettime(dead[i], &now) == 0, "timer %d (dead thread) is gone: %m", i);
		zdtm_check(ns(&now.it_interval) == ns(&arm[i].it_interval), "timer %d: interval %lld ns", i,
			   (long long)ns(&now.it_interval));
		zdtm_check(ns(&now.it_value) <= ns(&before[i].it_value) || i == 0, "timer %d: %lld ns left, was %lld", i,
			   (long long)ns(&now.it_value), (long long)ns(&before[i].it_value));
		zdtm_check((ns(&now.it_value) == 0) == (ns(&arm[i].it_value) == 0), "timer %d: armed %d, was %d", i,
			   ns(&now.it_value) != 0, ns(&arm[i].it_value) != 0);
	}
	zdtm_check(got_dead == 0, "a timer of a dead thread signalled %d times", got_dead);
	zdtm_check(got_live > live0, "the live timer stopped signalling (%d)", got_live);
	zdtm_exit();
}
