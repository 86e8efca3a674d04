// SPDX-License-Identifier: Apache-2.0
// Refused at dump: a child lives in a time namespace other than ferry's (the root called
// unshare(CLONE_NEWTIME), then forked it). Built twice: with -DIN_THREAD a thread, not the
// leader, makes a namespace for its children (not supported either). The tree runs on.
#include "zdtm.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#ifdef IN_THREAD
static void *thread_main(void *arg)
{
	if (unshare(CLONE_NEWTIME) < 0)
		zdtm_fail("unshare");
	*(int *)arg = 1;
	while (!zdtm_sigterm_received())
		usleep(10000);
	return NULL;
}
#endif

int main(void)
{
	zdtm_init("refuse_timens");
#ifdef IN_THREAD
	pthread_t th;
	volatile int up = 0;
	pthread_create(&th, NULL, thread_main, (void *)&up);
	while (!up)
		usleep(1000);
	zdtm_ready();
	zdtm_wait_sigterm();
	pthread_join(th, NULL);
#else
	if (unshare(CLONE_NEWTIME) < 0)
		zdtm_skip("unshare(CLONE_NEWTIME) is not available");
	pid_t c = fork();
	if (c == 0) {
		for (;;)
			pause();
	}
	zdtm_ready();
	zdtm_wait_sigterm();
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
#endif
	zdtm_exit();
}
