// SPDX-License-Identifier: Apache-2.0
// Refused at dump: two seccomp filters with the same program that are separate kernel objects.
// Thread D exists before the main thread installs F (without TSYNC); thread A, created after,
// shares the main thread's F; D installs the same program on its own. ferry cannot recreate
// that difference from programs alone; its TSYNC probe sees it and the dump is refused. After it
// every thread has one filter still and a TSYNC from D still fails naming the main thread.
#include "zdtm.h"

#include <errno.h>
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

static volatile int stage;
static pid_t main_tid;

static long install(int allow_all, unsigned flags)
{
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 77),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog fp = { allow_all ? 1 : 4, allow_all ? prog + 3 : prog };
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fp);
}

static int count(void)
{
	char path[64], v[32];
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", zdtm_gettid());
	return zdtm_status_field(path, "Seccomp_filters", v, sizeof(v)) == 0 ? atoi(v) : -1;
}

static void *thread_d(void *arg)
{
	while (stage < 1)
		usleep(1000);
	if (install(0, 0) != 0)
		zdtm_fail("D: %s", strerror(errno));
	stage = 2;
	while (!zdtm_sigterm_received())
		usleep(10000);
	zdtm_check(count() == 1, "D: %d filters", count());
	long r = install(1, SECCOMP_FILTER_FLAG_TSYNC);
	zdtm_check(r == main_tid, "D: TSYNC gives %ld, want %d", r, main_tid);
	return NULL;
}

static void *thread_a(void *arg)
{
	while (!zdtm_sigterm_received())
		usleep(10000);
	zdtm_check(count() == 1, "A: %d filters", count());
	return NULL;
}

int main(void)
{
	pthread_t d, a;
	zdtm_init("refuse_seccomp_copies");
	main_tid = zdtm_gettid();
	pthread_create(&d, NULL, thread_d, NULL);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (install(0, 0) != 0)
		zdtm_fail("main: %s", strerror(errno));
	pthread_create(&a, NULL, thread_a, NULL);
	stage = 1;
	while (stage < 2)
		usleep(1000);
	zdtm_ready();
	zdtm_wait_sigterm();
	zdtm_check(count() == 1, "main: %d filters", count());
	pthread_join(d, NULL);
	pthread_join(a, NULL);
	zdtm_exit();
}
