// SPDX-License-Identifier: Apache-2.0
// A time namespace made for children to come: thread A exists, then the main thread calls
// unshare(CLONE_NEWTIME) and sets the offsets (monotonic +1000 s, boottime +2000.5 s), then
// thread B is created (it shares the pending namespace; A does not). No child exists yet. After
// restore: ns/time vs ns/time_for_children per thread, /proc/self/timens_offsets, and children
// forked now by the main thread and by B are both in one namespace with the offsets applied.
#include "zdtm.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static pid_t tid_a, tid_b;
static volatile int stage;
static char offsets[256];

static void ns_of(pid_t tid, const char *name, char *buf, size_t len)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/self/task/%d/ns/%s", tid, name);
	if (zdtm_readlink(path, buf, len) < 0)
		snprintf(buf, len, "?");
}

static void *thread_main(void *arg)
{
	*(pid_t *)arg = zdtm_gettid();
	__atomic_fetch_add(&stage, 1, __ATOMIC_SEQ_CST);
	while (!zdtm_sigterm_received() || __atomic_load_n(&stage, __ATOMIC_SEQ_CST) < 10)
		usleep(10000);
	return NULL;
}

/* A child's clock offsets against ours (seconds, monotonic and boottime), and its namespace. */
static void child_view(double *mono, double *boot, char *ns, size_t len)
{
	int p[2];
	struct { struct timespec m, b; char ns[64]; } v, me;
	pipe(p);
	pid_t kid = fork();
	if (kid == 0) {
		clock_gettime(CLOCK_MONOTONIC, &v.m);
		clock_gettime(CLOCK_BOOTTIME, &v.b);
		zdtm_readlink("/proc/self/ns/time", v.ns, sizeof(v.ns));
		write(p[1], &v, sizeof(v));
		_exit(0);
	}
	memset(&v, 0, sizeof(v));
	read(p[0], &v, sizeof(v));
	clock_gettime(CLOCK_MONOTONIC, &me.m);
	clock_gettime(CLOCK_BOOTTIME, &me.b);
	waitpid(kid, NULL, 0);
	close(p[0]);
	close(p[1]);
	*mono = (v.m.tv_sec - me.m.tv_sec) + (v.m.tv_nsec - me.m.tv_nsec) / 1e9;
	*boot = (v.b.tv_sec - me.b.tv_sec) + (v.b.tv_nsec - me.b.tv_nsec) / 1e9;
	snprintf(ns, len, "%s", v.ns);
}

static void *fork_from_b(void *arg)
{
	double m, b;
	child_view(&m, &b, arg, 64);
	return NULL;
}

int main(void)
{
	pthread_t a, b;
	char t0[64], k0[64], t1[64], k1[64], kb[64], ka[64], ta[64];
	zdtm_init("timens_children");
	pthread_create(&a, NULL, thread_main, &tid_a);
	while (__atomic_load_n(&stage, __ATOMIC_SEQ_CST) < 1)
		usleep(1000);
	if (unshare(CLONE_NEWTIME) < 0)
		zdtm_skip("unshare(CLONE_NEWTIME): %s", strerror(errno));
	FILE *f = fopen("/proc/self/timens_offsets", "w");
	if (!f || fprintf(f, "monotonic 1000 0\nboottime 2000 500000000\n") < 0 || fclose(f) != 0)
		zdtm_fail("write timens_offsets: %s", strerror(errno));
	zdtm_read_file("/proc/self/timens_offsets", offsets, sizeof(offsets));
	pthread_create(&b, NULL, thread_main, &tid_b);
	while (__atomic_load_n(&stage, __ATOMIC_SEQ_CST) < 2)
		usleep(1000);
	ns_of(zdtm_gettid(), "time", t0, sizeof(t0));
	ns_of(zdtm_gettid(), "time_for_children", k0, sizeof(k0));
	zdtm_check(strcmp(t0, k0) != 0, "no pending time namespace after unshare");
	zdtm_ready();
	zdtm_wait_sigterm();

	char now[256];
	zdtm_read_file("/proc/self/timens_offsets", now, sizeof(now));
	zdtm_check(!strcmp(now, offsets), "timens_offsets:\n%s\nwant:\n%s", now, offsets);
	ns_of(zdtm_gettid(), "time", t1, sizeof(t1));
	ns_of(zdtm_gettid(), "time_for_children", k1, sizeof(k1));
	zdtm_check(!strcmp(t1, t0), "main: in %s, want %s", t1, t0);
	zdtm_check(strcmp(k1, t1) != 0, "main: no pending time namespace (%s)", k1);
	ns_of(tid_b, "time_for_children", kb, sizeof(kb));
	ns_of(tid_a, "time_for_children", ka, sizeof(ka));
	ns_of(tid_a, "time", ta, sizeof(ta));
	zdtm_check(!strcmp(kb, k1), "thread B's children go to %s, the main thread's to %s", kb, k1);
	zdtm_check(!strcmp(ka, ta), "thread A has a pending time namespace (%s)", ka);
	double mono, boot;
	char kns[64] = "", bns[64] = "";
	child_view(&mono, &boot, kns, sizeof(kns));
	zdtm_check(mono > 995 && mono < 1005 && boot > 1995.5 && boot < 2005.5,
		   "a new child's clocks are off by %.3f s (monotonic) and %.3f s (boottime)", mono, boot);
	zdtm_check(!strcmp(kns, k1), "a new child is in %s, want %s", kns, k1);
	pthread_t c;
	pthread_create(&c, NULL, fork_from_b, bns);	/* a thread made now shares it too */
	pthread_join(c, NULL);
	zdtm_check(!strcmp(bns, k1), "a child of a new thread is in %s, want %s", bns, k1);
	__atomic_store_n(&stage, 10, __ATOMIC_SEQ_CST);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	zdtm_exit();
}
