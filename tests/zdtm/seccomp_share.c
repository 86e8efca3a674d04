// SPDX-License-Identifier: Apache-2.0
// Seccomp filters shared between threads, as the kernel shares them: threads A and B exist when
// the main thread installs F1 with TSYNC (one object in all three); A adds F2 of its own; the main
// thread adds F3 and then creates C, which inherits F1 and F3 (the same objects) and adds F4.
// After restore every thread's filters act as before and /proc shows the same counts, and the
// objects are shared as before: a TSYNC from B, A and C fails naming the first thread whose chain
// is not a prefix of the caller's (main, main, A), and once A and B have exited, a TSYNC from C
// succeeds (the main thread's chain is C's own F1 and F3) and reaches the main thread.
#include "zdtm.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { T_MAIN, T_A, T_B, T_C, NT };
static const char *names[NT] = { "main", "A", "B", "C" };
static const int blocked[4] = { SYS_getppid, SYS_getpgrp, SYS_getsid, SYS_getpriority };
static const int nfilters[NT] = { 2, 2, 1, 3 };
static const unsigned mask[NT] = { 0x5, 0x3, 0x1, 0xd };	/* which of F1..F4 act in each thread */
static pid_t tids[NT];
static volatile int stage, f1_done, ready;

static long install(int f, unsigned flags)
{
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, blocked[f], 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (100 + f)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog fp = { sizeof(prog) / sizeof(prog[0]), prog };
	struct sock_filter allow[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
	struct sock_fprog fa = { 1, allow };
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, f < 0 ? &fa : &fp);
}

static int count(void)
{
	char path[64], v[32];
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", zdtm_gettid());
	return zdtm_status_field(path, "Seccomp_filters", v, sizeof(v)) == 0 ? atoi(v) : -1;
}

static void check_filters(int i)
{
	zdtm_check(count() == nfilters[i], "%s: %d filters, want %d", names[i], count(), nfilters[i]);
	for (int f = 0; f < 4; f++) {
		errno = 0;
		long r = syscall(blocked[f], 0, 0);
		int on = (mask[i] >> f) & 1;
		zdtm_check(on ? r == -1 && errno == 100 + f : errno != 100 + f, "%s: F%d %s", names[i], f + 1,
			   on ? "does not act" : "acts");
	}
}

/* A TSYNC that must fail naming thread `want` (and so installs nothing), or succeed (want < 0). */
static void check_tsync(int i, int want)
{
	long r = install(-1, SECCOMP_FILTER_FLAG_TSYNC);
	long expect = want < 0 ? 0 : tids[want];
	zdtm_check(r == expect, "%s: TSYNC gives %ld, want %ld (%s)", names[i], r, expect, want < 0 ? "success" : names[want]);
}

static void wait_stage(int s)
{
	while (__atomic_load_n(&stage, __ATOMIC_SEQ_CST) < s)
		usleep(1000);
}

static void *worker(void *arg)
{
	long i = (long)arg;
	tids[i] = zdtm_gettid();
	while (i != T_C && !__atomic_load_n(&f1_done, __ATOMIC_SEQ_CST))
		usleep(1000);	/* F1 is synced to us */
	if (i == T_A && install(1, 0) != 0)
		zdtm_fail("A: F2: %s", strerror(errno));
	if (i == T_C && install(3, 0) != 0)
		zdtm_fail("C: F4: %s", strerror(errno));
	__atomic_fetch_add(&ready, 1, __ATOMIC_SEQ_CST);
	while (!zdtm_sigterm_received())
		usleep(10000);
	check_filters((int)i);
	if (i == T_B)
		check_tsync(T_B, T_MAIN);
	if (i == T_A)
		check_tsync(T_A, T_MAIN);
	if (i == T_C) {
		wait_stage(100);	/* A and B are gone */
		check_tsync(T_C, -1);
	}
	return NULL;
}

int main(void)
{
	pthread_t th[NT];
	zdtm_init("seccomp_share");
	tids[T_MAIN] = zdtm_gettid();
	pthread_create(&th[T_A], NULL, worker, (void *)(long)T_A);
	pthread_create(&th[T_B], NULL, worker, (void *)(long)T_B);
	while (!tids[T_A] || !tids[T_B])
		usleep(1000);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (install(0, SECCOMP_FILTER_FLAG_TSYNC) != 0)
		zdtm_fail("F1 with TSYNC: %s", strerror(errno));
	__atomic_store_n(&f1_done, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&ready, __ATOMIC_SEQ_CST) < 2)
		usleep(1000);	/* A and B are set up */
	if (install(2, 0) != 0)
		zdtm_fail("F3: %s", strerror(errno));
	pthread_create(&th[T_C], NULL, worker, (void *)(long)T_C);
	while (__atomic_load_n(&ready, __ATOMIC_SEQ_CST) < 3)
		usleep(1000);
	zdtm_ready();
	zdtm_wait_sigterm();

	check_filters(T_MAIN);
	pthread_join(th[T_A], NULL);
	pthread_join(th[T_B], NULL);
	__atomic_store_n(&stage, 100, __ATOMIC_SEQ_CST);
	pthread_join(th[T_C], NULL);
	zdtm_check(count() == nfilters[T_C] + 1, "main: %d filters after C's TSYNC, want %d", count(), nfilters[T_C] + 1);
	zdtm_exit();
}
