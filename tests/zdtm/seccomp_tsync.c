// SPDX-License-Identifier: Apache-2.0
// Seccomp filters in a multithreaded process: the main thread sets no_new_privs and installs a
// filter with SECCOMP_FILTER_FLAG_TSYNC (all three threads share it), then one worker stacks a
// filter of its own. After restore every thread checks its own chain: getppid fails everywhere,
// getpgrp only in the worker that added the second filter.
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

#define ERR_PPID EL2HLT
#define ERR_PGRP EXDEV
#define NWORKERS 2

static volatile int phase;	/* 1: shared filter installed; 2: workers set up */
static volatile int ready_workers;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int install(int nr, int err, unsigned int flags)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

static int filters_of_self(void)
{
	char path[64], v[32];
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", zdtm_gettid());
	if (zdtm_status_field(path, "Seccomp_filters", v, sizeof(v)) < 0)
		return -1;
	return atoi(v);
}

/* Checks the calling thread's filters; own = it stacked the getpgrp filter. */
static void check_thread(const char *who, int own)
{
	errno = 0;
	long r = syscall(SYS_getppid);
	zdtm_check(r == -1 && errno == ERR_PPID, "%s: getppid returned %ld errno %d", who, r, errno);
	errno = 0;
	r = syscall(SYS_getpgrp);
	if (own)
		zdtm_check(r == -1 && errno == ERR_PGRP, "%s: getpgrp returned %ld errno %d", who, r, errno);
	else
		zdtm_check(r > 0, "%s: getpgrp failed (errno %d)", who, errno);
	zdtm_check(filters_of_self() == 1 + own, "%s: %d seccomp filters, expected %d", who, filters_of_self(),
		   1 + own);
	zdtm_check(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "%s: no_new_privs lost", who);
}

static void *worker(void *arg)
{
	int own = (int)(long)arg;
	char who[32];
	snprintf(who, sizeof(who), "worker %d", own);
	while (phase < 1)
		usleep(1000);
	if (own && install(SYS_getpgrp, ERR_PGRP, 0) < 0)
		zdtm_fail("%s: own filter: %s", who, strerror(errno));
	check_thread(who, own);
	pthread_mutex_lock(&lock);
	ready_workers++;
	pthread_mutex_unlock(&lock);
	while (!zdtm_sigterm_received())
		usleep(5000);
	check_thread(who, own);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[NWORKERS];
	zdtm_init("seccomp_tsync");
	for (long i = 0; i < NWORKERS; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		zdtm_fail("no_new_privs: %s", strerror(errno));
	long r = install(SYS_getppid, ERR_PPID, SECCOMP_FILTER_FLAG_TSYNC);
	if (r != 0)
		zdtm_fail("TSYNC filter: %ld (%s)", r, strerror(errno));
	phase = 1;
	while (ready_workers < NWORKERS)
		usleep(1000);
	check_thread("main", 0);
	zdtm_ready();
	zdtm_wait_sigterm();
	check_thread("main", 0);
	for (int i = 0; i < NWORKERS; i++)
		pthread_join(th[i], NULL);
	zdtm_exit();
}
