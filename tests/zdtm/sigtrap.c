// SPDX-License-Identifier: Apache-2.0
// SIGTRAP, the signal a tracer's single-step raises: a handler (SA_SIGINFO, a mask) with SIGTRAP
// blocked in the main thread and in worker 1, unblocked in worker 2; a SIGTRAP pending for the main
// thread and one for worker 1, each with its own si_value. Two child processes block SIGTRAP and
// have a process-wide one pending: one with a handler, one ignoring it. After restore: the actions,
// every thread's mask, what is pending where (with its siginfo); and the handler still runs.
#include "zdtm.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define V_WORKER 0x1111
#define V_CHILD 0x3333
#define V_MAIN 0x5555

static volatile int traps, trap_value;
static volatile int stage;	/* 1: workers set up; 2: worker 1 verified; 3: worker 2 may go */
static pid_t tids[2];

static void on_trap(int sig, siginfo_t *si, void *uc)
{
	traps++;
	trap_value = si->si_value.sival_int;
}

static void queue(pid_t tid, int value)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_signo = SIGTRAP;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_int = value;
	long r = tid ? syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, SIGTRAP, &si)
		     : syscall(SYS_rt_sigqueueinfo, getpid(), SIGTRAP, &si);
	if (r < 0)
		zdtm_fail("queue SIGTRAP: %s", strerror(errno));
}

static int trap_blocked(void)
{
	sigset_t m;
	pthread_sigmask(SIG_BLOCK, NULL, &m);
	return sigismember(&m, SIGTRAP);
}

static int trap_pending(void)
{
	sigset_t p;
	sigpending(&p);
	return sigismember(&p, SIGTRAP);
}

/* Takes a pending SIGTRAP without waiting; returns its si_value or -1. */
static int take_trap(void)
{
	sigset_t m;
	siginfo_t si;
	struct timespec zero = { 0, 0 };
	sigemptyset(&m);
	sigaddset(&m, SIGTRAP);
	if (sigtimedwait(&m, &si, &zero) != SIGTRAP)
		return -1;
	return si.si_code == SI_QUEUE ? si.si_value.sival_int : -2;
}

static void *worker(void *arg)
{
	long n = (long)arg;
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGTRAP);
	pthread_sigmask(n == 0 ? SIG_BLOCK : SIG_UNBLOCK, &m, NULL);
	tids[n] = zdtm_gettid();
	__atomic_fetch_add(&stage, 1, __ATOMIC_SEQ_CST);
	while (!zdtm_sigterm_received())
		usleep(5000);
	if (n == 0) {
		zdtm_check(trap_blocked(), "worker 1: SIGTRAP is no longer blocked");
		int v = take_trap();	/* its own queue comes first */
		zdtm_check(v == V_WORKER, "worker 1: pending SIGTRAP value %#x, want %#x", v, V_WORKER);
		__atomic_store_n(&stage, 3, __ATOMIC_SEQ_CST);
	} else {
		zdtm_check(!trap_blocked(), "worker 2: SIGTRAP is blocked");
		while (__atomic_load_n(&stage, __ATOMIC_SEQ_CST) < 4)
			usleep(1000);
	}
	return NULL;
}

/* A child: SIGTRAP ignored or handled, blocked, pending; exits 0 if all of that is still so. */
static int child(int ignore)
{
	sigset_t m;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	if (ignore)
		sa.sa_handler = SIG_IGN;
	else
		sa.sa_sigaction = on_trap;
	sa.sa_flags = ignore ? 0 : SA_SIGINFO;
	sigaction(SIGTRAP, &sa, NULL);
	sigemptyset(&m);
	sigaddset(&m, SIGTRAP);
	sigprocmask(SIG_BLOCK, &m, NULL);
	queue(0, V_CHILD + ignore);
	while (!zdtm_sigterm_received())
		pause();
	sigaction(SIGTRAP, NULL, &sa);
	int bad = (ignore ? sa.sa_handler != SIG_IGN : sa.sa_sigaction != on_trap) | !trap_blocked() << 1 |
		  !trap_pending() << 2;
	if (!bad && take_trap() != V_CHILD + ignore)
		bad = 8;
	return bad;
}

int main(void)
{
	pthread_t th[2];
	struct sigaction sa;
	sigset_t m;

	zdtm_init("sigtrap");
	pid_t kids[2];
	for (int i = 0; i < 2; i++)
		if ((kids[i] = fork()) == 0)
			_exit(child(i));
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_trap;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR1);
	sigaction(SIGTRAP, &sa, NULL);
	sigemptyset(&m);
	sigaddset(&m, SIGTRAP);
	sigprocmask(SIG_BLOCK, &m, NULL);
	for (long i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	while (__atomic_load_n(&stage, __ATOMIC_SEQ_CST) < 2)
		usleep(1000);
	queue(tids[0], V_WORKER);
	queue(zdtm_gettid(), V_MAIN);
	zdtm_check(traps == 0, "SIGTRAP was delivered before the checkpoint");
	zdtm_ready();
	zdtm_wait_sigterm();

	struct sigaction now;
	sigaction(SIGTRAP, NULL, &now);
	zdtm_check(now.sa_sigaction == on_trap, "SIGTRAP handler %p, want %p", (void *)now.sa_sigaction,
		   (void *)on_trap);
	zdtm_check((now.sa_flags & (SA_SIGINFO | SA_RESTART)) == (SA_SIGINFO | SA_RESTART),
		   "SIGTRAP flags %#x", now.sa_flags);
	zdtm_check(sigismember(&now.sa_mask, SIGUSR1), "SIGTRAP's sa_mask lost SIGUSR1");
	zdtm_check(trap_blocked(), "main: SIGTRAP is no longer blocked");
	zdtm_check(trap_pending(), "main: its SIGTRAP is not pending");
	while (__atomic_load_n(&stage, __ATOMIC_SEQ_CST) < 3)
		usleep(1000);
	int v = take_trap();
	zdtm_check(v == V_MAIN, "main: pending SIGTRAP value %#x, want %#x", v, V_MAIN);
	zdtm_check(!trap_pending(), "a SIGTRAP is still pending");
	zdtm_check(traps == 0, "the handler ran %d times before it was allowed to", traps);
	queue(tids[1], 0x4444);	/* worker 2 does not block it: the handler runs there */
	for (int i = 0; i < 500 && !traps; i++)
		usleep(2000);
	zdtm_check(traps == 1 && trap_value == 0x4444, "handler ran %d times (value %#x)", traps, trap_value);
	__atomic_store_n(&stage, 4, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++) {
		int st = -1;
		kill(kids[i], SIGTERM);
		zdtm_check(waitpid(kids[i], &st, 0) == kids[i] && WIFEXITED(st) && WEXITSTATUS(st) == 0,
			   "child %s SIGTRAP: state lost (status %#x: 1 action, 2 mask, 4 pending, 8 siginfo)",
			   i ? "ignoring" : "handling", st);
	}
	zdtm_exit();
}
