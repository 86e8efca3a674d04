// SPDX-License-Identifier: Apache-2.0
// Syscall user dispatch (PR_SET_SYSCALL_USER_DISPATCH), per thread: thread T allows system calls
// only from libc's code (or whenever its selector byte says ALLOW) and sits in the checkpoint with
// the selector at BLOCK — so ferry's own injected calls would be dispatched if it did nothing.
// After restore, in T a raw system call from the test's code raises SIGSYS (SYS_USER_DISPATCH,
// naming the call) while libc's calls work; with the selector at ALLOW it runs; the main thread
// is not affected at all.
#include "zdtm.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_ON 1
#define SYSCALL_DISPATCH_FILTER_ALLOW 0
#define SYSCALL_DISPATCH_FILTER_BLOCK 1
#endif
#define SYS_USER_DISPATCH_CODE 2

static volatile char selector = SYSCALL_DISPATCH_FILTER_ALLOW;
static volatile int sigsys, sys_nr, sys_code, up, setup_err;

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	sigsys++;
	sys_nr = si->si_syscall;
	sys_code = si->si_code;
}

/* getpid by a `syscall` instruction in this program's own code. */
static long raw_getpid(void)
{
	long r = SYS_getpid;
	__asm__ volatile("syscall" : "+a"(r) : : "rcx", "r11", "memory");
	return r;
}

static void *thread_t(void *arg)
{
	struct zdtm_vma libc;
	if (zdtm_find_vma((unsigned long)&usleep, &libc) < 0 ||
	    prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, libc.start, libc.end - libc.start, &selector) < 0)
		setup_err = errno ? errno : ENOENT;
	selector = SYSCALL_DISPATCH_FILTER_BLOCK;
	if (!setup_err && (raw_getpid() , sigsys != 1))
		setup_err = EPROTO;
	sigsys = 0;
	up = 1;
	while (!zdtm_sigterm_received())
		usleep(10000);	/* libc's own calls are allowed */
	long r = raw_getpid();
	zdtm_check(sigsys == 1 && sys_nr == SYS_getpid && sys_code == SYS_USER_DISPATCH_CODE,
		   "T: a blocked call gave SIGSYS %d times (nr %d, code %d), returned %ld", sigsys, sys_nr, sys_code, r);
	selector = SYSCALL_DISPATCH_FILTER_ALLOW;
	r = raw_getpid();
	zdtm_check(r == getpid() && sigsys == 1, "T: an allowed call returned %ld (SIGSYS %d times)", r, sigsys);
	selector = SYSCALL_DISPATCH_FILTER_BLOCK;	/* only T is dispatched: the main thread runs on */
	return NULL;
}

int main(void)
{
	pthread_t t;
	struct sigaction sa;
	zdtm_init("sud");
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSYS, &sa, NULL);
	pthread_create(&t, NULL, thread_t, NULL);
	while (!up)
		usleep(1000);
	if (setup_err)
		zdtm_skip("syscall user dispatch is not available here (%s)", strerror(setup_err));
	zdtm_ready();
	zdtm_wait_sigterm();
	pthread_join(t, NULL);
	long r = raw_getpid();
	zdtm_check(r == getpid() && sigsys == 1, "main: a raw call returned %ld (SIGSYS %d times)", r, sigsys);
	zdtm_exit();
}
