// SPDX-License-Identifier: Apache-2.0
// Threads: four threads with their own TID, TLS value, signal mask and name; one in
// pthread_cond_timedwait, one in clock_nanosleep, one spinning, one in a futex wait. After restore each
// keeps its identity and makes progress.
#include "zdtm.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NT 4
#define SLEEP_NS 1000000000LL

enum role { COND, SLEEP, SPIN, FUTEX };

struct th {
	pthread_t pt;
	enum role role;
	int idx;
	volatile int tid;
	char name[16];
	char blk[64];
	char comm[32];
	volatile long progress;
};

static struct th th[NT];
static __thread long tls_val;
static volatile int stop, started;
static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int main_tid;

static long tls_for(int i)
{
	return 0x5eed0000L + 0x1111L * (i + 1);
}

static void thread_mask(int i, sigset_t *m)
{
	sigemptyset(m);
	sigaddset(m, SIGTERM);             /* SIGTERM goes to the main thread */
	sigaddset(m, SIGRTMIN + i);
	if (i % 2 == 0)
		sigaddset(m, SIGUSR1);
	if (i == 3)
		sigaddset(m, SIGWINCH);
}

static void run_role(struct th *t)
{
	struct timespec ts;
	int64_t t0, el;
	int r;

	switch (t->role) {
	case COND:
		pthread_mutex_lock(&mtx);
		while (!stop) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 60;
			r = pthread_cond_timedwait(&cond, &mtx, &ts);
			zdtm_check(r == 0 || r == ETIMEDOUT, "cond_timedwait: %s", strerror(r));
			t->progress++;
		}
		pthread_mutex_unlock(&mtx);
		break;
	case SLEEP:
		while (!stop) {
			ts.tv_sec = SLEEP_NS / 1000000000LL;
			ts.tv_nsec = SLEEP_NS % 1000000000LL;
			t0 = zdtm_now_ns(CLOCK_MONOTONIC);
			r = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
			el = zdtm_now_ns(CLOCK_MONOTONIC) - t0;
			zdtm_check(r == 0, "clock_nanosleep: %s (no signal can reach this thread)", strerror(r));
			zdtm_check(el >= SLEEP_NS, "clock_nanosleep returned after %lld ns < %lld", (long long)el,
				   SLEEP_NS);
			t->progress++;
		}
		break;
	case SPIN:
		while (!stop) {
			if (tls_val != tls_for(t->idx)) {
				zdtm_fail("spinning thread: TLS %#lx, want %#lx", tls_val, tls_for(t->idx));
				break;
			}
			t->progress++;
		}
		break;
	case FUTEX:
		while (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST)) {
			syscall(SYS_futex, &stop, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
			t->progress++;
		}
		break;
	}
}

static void *thread_main(void *arg)
{
	struct th *t = arg;
	sigset_t want, now;
	char name[16];

	tls_val = tls_for(t->idx);
	thread_mask(t->idx, &want);
	pthread_sigmask(SIG_SETMASK, &want, NULL);
	snprintf(t->name, sizeof(t->name), "zthr-%d-%s", t->idx, t->role == COND ? "cond" : t->role == SLEEP ? "sleep"
					 : t->role == SPIN ? "spin" : "futex");
	pthread_setname_np(pthread_self(), t->name);
	t->tid = zdtm_gettid();
	__atomic_fetch_add(&started, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &started, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);

	run_role(t);

	zdtm_check(zdtm_gettid() == t->tid, "thread %d: tid %d, want %d", t->idx, zdtm_gettid(), t->tid);
	zdtm_check(tls_val == tls_for(t->idx), "thread %d: TLS %#lx, want %#lx", t->idx, tls_val, tls_for(t->idx));
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	for (int s = 1; s <= 64; s++)
		zdtm_check(sigismember(&now, s) == sigismember(&want, s), "thread %d: mask bit %d differs", t->idx, s);
	pthread_getname_np(pthread_self(), name, sizeof(name));
	zdtm_check(!strcmp(name, t->name), "thread %d: name %s, want %s", t->idx, name, t->name);
	return NULL;
}

static void task_paths(struct th *t, char *status, char *comm, size_t size)
{
	snprintf(status, size, "/proc/self/task/%d/status", t->tid);
	snprintf(comm, size, "/proc/self/task/%d/comm", t->tid);
}

static long wait_progress(struct th *t, long from)
{
	int64_t deadline = zdtm_now_ns(CLOCK_MONOTONIC) + 5 * SLEEP_NS;

	while (t->progress == from && zdtm_now_ns(CLOCK_MONOTONIC) < deadline)
		usleep(10000);
	return t->progress;
}

int main(void)
{
	char status[64], comm[64], buf[64], tasks[256], now_tasks[256];
	long before[NT];

	zdtm_init("threads");
	main_tid = zdtm_gettid();
	tls_val = tls_for(-1);
	for (int i = 0; i < NT; i++) {
		th[i].idx = i;
		th[i].role = (enum role)i;
		pthread_create(&th[i].pt, NULL, thread_main, &th[i]);
	}
	while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < NT)
		syscall(SYS_futex, &started, FUTEX_WAIT_PRIVATE, started, NULL, NULL, 0);
	for (int i = 0; i < NT; i++) {
		task_paths(&th[i], status, comm, sizeof(status));
		zdtm_status_field(status, "SigBlk", th[i].blk, sizeof(th[i].blk));
		zdtm_read_line(comm, th[i].comm, sizeof(th[i].comm));
	}
	snprintf(tasks, sizeof(tasks), "%d %d %d %d %d", main_tid, th[0].tid, th[1].tid, th[2].tid, th[3].tid);

	zdtm_ready();
	zdtm_wait_sigterm();

	snprintf(now_tasks, sizeof(now_tasks), "%d", zdtm_gettid());
	for (int i = 0; i < NT; i++) {
		task_paths(&th[i], status, comm, sizeof(status));
		if (access(status, F_OK)) {
			zdtm_fail("thread %d: /proc/self/task/%d is gone", i, th[i].tid);
			continue;
		}
		snprintf(now_tasks + strlen(now_tasks), sizeof(now_tasks) - strlen(now_tasks), " %d", th[i].tid);
		zdtm_status_field(status, "SigBlk", buf, sizeof(buf));
		zdtm_check(!strcmp(buf, th[i].blk), "thread %d: SigBlk %s, want %s", i, buf, th[i].blk);
		zdtm_read_line(comm, buf, sizeof(buf));
		zdtm_check(!strcmp(buf, th[i].comm), "thread %d: comm %s, want %s", i, buf, th[i].comm);
		before[i] = th[i].progress;
	}
	zdtm_check(!strcmp(now_tasks, tasks), "tasks %s, want %s", now_tasks, tasks);
	zdtm_check(zdtm_gettid() == main_tid && getpid() == main_tid, "main tid %d pid %d, want %d", zdtm_gettid(),
		   getpid(), main_tid);
	zdtm_check(tls_val == tls_for(-1), "main thread TLS %#lx", tls_val);
	zdtm_check(wait_progress(&th[SPIN], before[SPIN]) > before[SPIN], "spinning thread makes no progress");
	zdtm_check(wait_progress(&th[SLEEP], before[SLEEP]) > before[SLEEP], "sleeping thread never wakes up");

	__atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &stop, FUTEX_WAKE_PRIVATE, NT, NULL, NULL, 0);
	pthread_mutex_lock(&mtx);
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mtx);
	for (int i = 0; i < NT; i++)
		pthread_join(th[i].pt, NULL);
	zdtm_exit();
}
