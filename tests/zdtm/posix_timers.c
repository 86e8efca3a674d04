// SPDX-License-Identifier: Apache-2.0
// POSIX timers: a periodic SIGEV_SIGNAL timer with a pointer si_value, a periodic SIGEV_THREAD_ID
// timer aimed at a helper thread, an armed SIGEV_NONE timer and a disarmed one, with IDs made
// non-contiguous by deleted timers. After restore: same IDs, clocks, notifications, intervals,
// time left no larger than before, and signals keep arriving with the right si_value and timer ID.
#include "zdtm.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SIG_A (SIGRTMIN + 3)
#define SIG_B SIGUSR2
#define VALUE_A ((void *)0x1234abcd5678ef01ULL)
#define VALUE_B 4242
#define NTIMERS 4

static timer_t ids[NTIMERS];	/* A: signal, B: thread id, C: none, D: disarmed */
static struct itimerspec before[NTIMERS];
static char blocks[NTIMERS][256];
static volatile int count_a, count_b, helper_tid;
static volatile int stop_helper;

static void on_a(int sig, siginfo_t *si, void *uc)
{
	if (si->si_code != SI_TIMER || si->si_value.sival_ptr != VALUE_A || si->si_timerid != (int)(long)ids[0])
		zdtm_fail("timer A: signal with code %d value %p timer %d", si->si_code, si->si_value.sival_ptr,
			  si->si_timerid);
	count_a++;
}

static void on_b(int sig, siginfo_t *si, void *uc)
{
	if (si->si_code == SI_TKILL && stop_helper)
		return;	/* the wake-up at exit */
	if (si->si_code != SI_TIMER || si->si_value.sival_int != VALUE_B || si->si_timerid != (int)(long)ids[1])
		zdtm_fail("timer B: signal with code %d value %d timer %d", si->si_code, si->si_value.sival_int,
			  si->si_timerid);
	if (zdtm_gettid() != helper_tid)
		zdtm_fail("timer B: signal delivered to thread %d, not %d", zdtm_gettid(), helper_tid);
	count_b++;
}

static void *helper(void *arg)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIG_A);	/* A's signals go to the main thread, B's only here */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	helper_tid = zdtm_gettid();
	while (!stop_helper)
		pause();
	return NULL;
}

static int make_timer(clockid_t clock, int notify, int sig, union sigval v, int tid, timer_t *id)
{
	struct sigevent sev;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = notify;
	sev.sigev_signo = sig;
	sev.sigev_value = v;
	sev._sigev_un._tid = tid;
	int kid = -1;
	if (syscall(SYS_timer_create, clock, &sev, &kid) < 0)
		return -errno;
	*id = (timer_t)(long)kid;
	return 0;
}

static void arm(timer_t id, long value_ms, long interval_ms)
{
	struct itimerspec its = { { interval_ms / 1000, interval_ms % 1000 * 1000000 },
				  { value_ms / 1000, value_ms % 1000 * 1000000 } };
	if (timer_settime(id, 0, &its, NULL) < 0)
		zdtm_fail("timer_settime: %s", strerror(errno));
}

/* The four lines /proc/self/timers shows for timer id. */
static void proc_block(timer_t id, char *out, size_t size)
{
	static char text[16384];
	char key[32];
	out[0] = 0;
	if (zdtm_read_file("/proc/self/timers", text, sizeof(text)) < 0)
		return;
	snprintf(key, sizeof(key), "ID: %d\n", (int)(long)id);
	for (char *p = text; (p = strstr(p, key)); p++) {
		if (p != text && p[-1] != '\n')
			continue;
		char *end = strstr(p + 1, "\nID: ");
		size_t n = end ? (size_t)(end - p) : strlen(p);
		while (n && p[n - 1] == '\n')
			n--;
		snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), p);
		return;
	}
}

static void setup(void)
{
	struct sigaction sa = { .sa_flags = SA_SIGINFO | SA_RESTART };
	sa.sa_sigaction = on_a;
	sigaction(SIG_A, &sa, NULL);
	sa.sa_sigaction = on_b;
	sigaction(SIG_B, &sa, NULL);
	timer_t junk[3];
	for (int i = 0; i < 3; i++)	/* holes in the ID space */
		make_timer(CLOCK_MONOTONIC, SIGEV_NONE, 0, (union sigval){ 0 }, 0, &junk[i]);
	int r = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIG_A, (union sigval){ .sival_ptr = VALUE_A }, 0, &ids[0]);
	timer_delete(junk[0]);
	r = r ?: make_timer(CLOCK_REALTIME, SIGEV_THREAD_ID, SIG_B, (union sigval){ .sival_int = VALUE_B },
			    helper_tid, &ids[1]);
	timer_delete(junk[2]);
	r = r ?: make_timer(CLOCK_BOOTTIME, SIGEV_NONE, 0, (union sigval){ .sival_int = 7 }, 0, &ids[2]);
	r = r ?: make_timer(CLOCK_PROCESS_CPUTIME_ID, SIGEV_SIGNAL, SIGWINCH, (union sigval){ .sival_int = 9 }, 0,
			    &ids[3]);
	if (r)
		zdtm_skip("timer_create: %s", strerror(-r));
	arm(ids[0], 20, 20);
	arm(ids[1], 30, 30);
	arm(ids[2], 1000000, 500000);
	for (int i = 0; i < NTIMERS; i++) {
		timer_gettime(ids[i], &before[i]);
		proc_block(ids[i], blocks[i], sizeof(blocks[i]));
	}
}

static void verify(void)
{
	char now[256];
	for (int i = 0; i < NTIMERS; i++) {
		struct itimerspec its;
		if (timer_gettime(ids[i], &its) < 0) {
			zdtm_fail("timer %d: timer_gettime: %s", (int)(long)ids[i], strerror(errno));
			continue;
		}
		zdtm_check(its.it_interval.tv_sec == before[i].it_interval.tv_sec &&
				   its.it_interval.tv_nsec == before[i].it_interval.tv_nsec,
			   "timer %d: interval %ld.%09ld, was %ld.%09ld", (int)(long)ids[i], its.it_interval.tv_sec,
			   its.it_interval.tv_nsec, before[i].it_interval.tv_sec, before[i].it_interval.tv_nsec);
		proc_block(ids[i], now, sizeof(now));
		zdtm_check(!strcmp(now, blocks[i]), "timer %d: /proc/self/timers shows\n%s\nwas\n%s", (int)(long)ids[i],
			   now, blocks[i]);
	}
	struct itimerspec c, d;
	timer_gettime(ids[2], &c);
	timer_gettime(ids[3], &d);
	zdtm_check(c.it_value.tv_sec > 0 && c.it_value.tv_sec <= before[2].it_value.tv_sec,
		   "SIGEV_NONE timer: %ld s left, was %ld s", c.it_value.tv_sec, before[2].it_value.tv_sec);
	zdtm_check(!d.it_value.tv_sec && !d.it_value.tv_nsec, "disarmed timer is armed after restore");
	int a0 = count_a, b0 = count_b;
	for (int i = 0; i < 50 && (count_a < a0 + 3 || count_b < b0 + 3); i++)
		usleep(20000);
	zdtm_check(count_a >= a0 + 3, "timer A: %d signals after restore", count_a - a0);
	zdtm_check(count_b >= b0 + 3, "timer B: %d signals after restore", count_b - b0);
	timer_t extra;
	zdtm_check(timer_create(CLOCK_MONOTONIC, NULL, &extra) == 0, "new timer after restore: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	pthread_t th;
	zdtm_init("posix_timers");
	pthread_create(&th, NULL, helper, NULL);
	while (!helper_tid)
		usleep(1000);
	setup();
	for (int i = 0; i < 100 && (count_a < 2 || count_b < 2); i++)
		usleep(10000);
	if (count_a < 2 || count_b < 2)
		zdtm_fail("timers do not fire before the dump (%d, %d)", count_a, count_b);
	zdtm_ready();
	zdtm_wait_sigterm();
	verify();
	stop_helper = 1;
	pthread_kill(th, SIG_B);
	pthread_join(th, NULL);
	zdtm_exit();
}
