// SPDX-License-Identifier: Apache-2.0
// Scheduling, per thread and per process: each thread of the main process has its own policy
// (SCHED_OTHER with a nice value and a custom time slice, BATCH, IDLE, FIFO with reset-on-fork,
// RR, DEADLINE), CPU affinity and I/O priority; a child process has its own too. After restore
// each thread compares sched_getattr, getpriority, sched_getaffinity and ioprio_get with what it
// had.
#include "zdtm.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct kattr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
	uint32_t util_min, util_max;
};

#define RESET_ON_FORK 1
#define IOPRIO(cls, data) ((cls) << 13 | (data))

struct setup {
	const char *name;
	struct kattr attr;
	int cpu;		/* the one CPU it may run on, or -1 for all */
	int ioprio;
};

static const struct setup setups[] = {
	{ "main", { .policy = SCHED_OTHER, .nice = 7, .runtime = 2500000 }, 0, IOPRIO(2, 3) },
	{ "batch", { .policy = SCHED_BATCH, .nice = -3 }, 1, IOPRIO(3, 0) },
	{ "idle", { .policy = SCHED_IDLE }, -1, 0 },
	{ "fifo", { .policy = SCHED_FIFO, .priority = 17, .flags = RESET_ON_FORK }, 1, IOPRIO(1, 2) },
	{ "rr", { .policy = SCHED_RR, .priority = 3 }, 0, IOPRIO(2, 7) },
	{ "deadline", { .policy = 6, .runtime = 2000000, .deadline = 30000000, .period = 40000000 }, -1, 0 },
	{ "child", { .policy = SCHED_BATCH, .nice = 4, .flags = RESET_ON_FORK }, 0, IOPRIO(2, 1) },
};
#define NTHREADS 6

struct state {
	struct kattr attr;
	int nice, ioprio;
	cpu_set_t cpus;
};

static struct state saved[NTHREADS];
static int have_deadline = 1;
static volatile int up;

static int read_state(struct state *s)
{
	memset(s, 0, sizeof(*s));
	if (syscall(SYS_sched_getattr, 0, &s->attr, sizeof(s->attr), 0) < 0)
		return -errno;
	errno = 0;
	s->nice = getpriority(PRIO_PROCESS, zdtm_gettid());
	s->ioprio = syscall(SYS_ioprio_get, 1, zdtm_gettid());
	return sched_getaffinity(0, sizeof(s->cpus), &s->cpus) < 0 ? -errno : 0;
}

static int apply(const struct setup *st)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (st->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(st->cpu % ncpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0)
			return -errno;
	}
	if (st->ioprio && syscall(SYS_ioprio_set, 1, zdtm_gettid(), st->ioprio) < 0)
		return -errno;
	struct kattr a = st->attr;
	a.size = sizeof(a);
	return syscall(SYS_sched_setattr, 0, &a, 0) < 0 ? -errno : 0;
}

static void compare(const char *who, const struct state *was)
{
	struct state now;
	int r = read_state(&now);
	zdtm_check(r == 0, "%s: read its scheduling: %s", who, strerror(-r));
	const struct kattr *a = &now.attr, *b = &was->attr;
	zdtm_check(a->policy == b->policy && a->flags == b->flags && a->nice == b->nice && a->priority == b->priority &&
		   a->runtime == b->runtime && a->deadline == b->deadline && a->period == b->period &&
		   a->util_min == b->util_min && a->util_max == b->util_max,
		   "%s: policy %u flags %#llx nice %d prio %u runtime %llu deadline %llu period %llu, want %u %#llx %d "
		   "%u %llu %llu %llu", who, a->policy, (unsigned long long)a->flags, a->nice, a->priority,
		   (unsigned long long)a->runtime, (unsigned long long)a->deadline, (unsigned long long)a->period,
		   b->policy, (unsigned long long)b->flags, b->nice, b->priority, (unsigned long long)b->runtime,
		   (unsigned long long)b->deadline, (unsigned long long)b->period);
	zdtm_check(now.nice == was->nice, "%s: getpriority %d, want %d", who, now.nice, was->nice);
	zdtm_check(now.ioprio == was->ioprio, "%s: ioprio %#x, want %#x", who, now.ioprio, was->ioprio);
	zdtm_check(CPU_EQUAL(&now.cpus, &was->cpus), "%s: CPU affinity differs (%d CPUs, want %d)", who,
		   CPU_COUNT(&now.cpus), CPU_COUNT(&was->cpus));
}

static void *worker(void *arg)
{
	long i = (long)arg;
	int r = apply(&setups[i]);
	if (r == -EBUSY || r == -EPERM) {
		if (setups[i].attr.policy == 6) {
			have_deadline = 0;
			printf("note: SCHED_DEADLINE refused here (%s): not checked\n", strerror(-r));
			r = 0;
		}
	}
	zdtm_check(r == 0, "%s: set up: %s", setups[i].name, strerror(-r));
	read_state(&saved[i]);
	__atomic_fetch_add(&up, 1, __ATOMIC_SEQ_CST);
	while (!zdtm_sigterm_received())
		usleep(20000);
	if (setups[i].attr.policy != 6 || have_deadline)
		compare(setups[i].name, &saved[i]);
	return NULL;
}

__attribute__((noreturn)) static void child(void)
{
	struct state was;
	if (apply(&setups[NTHREADS]) < 0 || read_state(&was) < 0)
		_exit(2);
	while (!zdtm_sigterm_received())
		usleep(20000);
	compare("child", &was);
	zdtm_exit();
}

int main(void)
{
	pthread_t th[NTHREADS];
	zdtm_init("sched");
	pid_t kid = fork();
	if (kid == 0)
		child();
	for (long i = 1; i < NTHREADS; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	int r = apply(&setups[0]);
	zdtm_check(r == 0, "main: set up: %s", strerror(-r));
	read_state(&saved[0]);
	while (__atomic_load_n(&up, __ATOMIC_SEQ_CST) < NTHREADS - 1)
		usleep(1000);
	zdtm_ready();
	zdtm_wait_sigterm();
	compare("main", &saved[0]);
	for (int i = 1; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	int st = -1;
	kill(kid, SIGTERM);
	zdtm_check(waitpid(kid, &st, 0) == kid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		   "the child's scheduling differs (status %#x)", st);
	zdtm_exit();
}
