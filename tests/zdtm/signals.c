// SPDX-License-Identifier: Apache-2.0
// Signals: dispositions (SA_SIGINFO, SA_RESTART, SA_ONSTACK, SA_RESETHAND, sa_mask, SIG_IGN), the blocked
// mask, pending signals with their si_value (process- and thread-directed, RT signals queued twice) and
// sigaltstack. Built twice: plain, and with -DZDTM_THREADED (a second thread with its own pending signals).
#include "zdtm.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

struct hit {
	int signo, code, value, pid, tid, onstack;
};

static struct hit hits[64];
static int nhits;
static stack_t altstack;

#define NSIGS 8
static int sigs[NSIGS];
static struct sigaction acts[NSIGS];
static sigset_t blocked, pending;
static char shd_pnd[64], sig_pnd[64];

static void log_hit(int signo, siginfo_t *si)
{
	int i = __atomic_fetch_add(&nhits, 1, __ATOMIC_SEQ_CST);
	char here;

	if (i >= 64)
		return;
	hits[i].signo = signo;
	hits[i].code = si ? si->si_code : 0;
	hits[i].value = si ? si->si_value.sival_int : 0;
	hits[i].pid = si ? si->si_pid : 0;
	hits[i].tid = zdtm_gettid();
	hits[i].onstack = &here >= (char *)altstack.ss_sp && &here < (char *)altstack.ss_sp + altstack.ss_size;
}

static void info_handler(int signo, siginfo_t *si, void *uc)
{
	log_hit(signo, si);
}

static void plain_handler(int signo)
{
	log_hit(signo, NULL);
}

static void sigqueue_tid(pid_t tid, int signo, int value)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = signo;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_int = value;
	if (syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, signo, &si) < 0) {
		perror("rt_tgsigqueueinfo");
		exit(2);
	}
}

static void set_action(int i, int signo, void *handler, int flags, int m1, int m2)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	if (flags & SA_SIGINFO)
		sa.sa_sigaction = handler;
	else
		sa.sa_handler = handler;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (m1)
		sigaddset(&sa.sa_mask, m1);
	if (m2)
		sigaddset(&sa.sa_mask, m2);
	if (sigaction(signo, &sa, NULL) < 0) {
		perror("sigaction");
		exit(2);
	}
	sigs[i] = signo;
}

#ifdef ZDTM_THREADED
static pthread_t worker;
static volatile int worker_tid, worker_go;
static char worker_blk[64], worker_pnd[64];

static void *worker_main(void *arg)
{
	sigset_t m, p;

	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	sigaddset(&m, SIGRTMIN + 4);
	pthread_sigmask(SIG_BLOCK, &m, NULL);
	__atomic_store_n(&worker_tid, zdtm_gettid(), __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &worker_tid, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	while (!__atomic_load_n(&worker_go, __ATOMIC_SEQ_CST))
		syscall(SYS_futex, &worker_go, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	sigpending(&p);
	zdtm_check(sigismember(&p, SIGUSR2) && sigismember(&p, SIGRTMIN + 4),
		   "worker: thread-directed signals no longer pending");
	pthread_sigmask(SIG_UNBLOCK, &m, NULL);
	return NULL;
}
#endif

static void setup(void)
{
	sigset_t m;

	altstack.ss_size = 256 * 1024;
	altstack.ss_sp = mmap(NULL, altstack.ss_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (altstack.ss_sp == MAP_FAILED || sigaltstack(&altstack, NULL) < 0) {
		perror("sigaltstack");
		exit(2);
	}
	set_action(0, SIGUSR1, info_handler, SA_SIGINFO | SA_RESTART | SA_ONSTACK, SIGUSR2, SIGPIPE);
	set_action(1, SIGRTMIN + 2, info_handler, SA_SIGINFO, SIGALRM, 0);
	set_action(2, SIGUSR2, plain_handler, SA_RESTART, SIGHUP, 0);
	set_action(3, SIGINT, plain_handler, SA_RESETHAND | SA_NODEFER, 0, 0);
	set_action(4, SIGPROF, info_handler, SA_SIGINFO | SA_ONSTACK, SIGRTMIN + 5, SIGRTMAX);
	set_action(5, SIGRTMIN + 4, info_handler, SA_SIGINFO, 0, 0);
	set_action(6, SIGHUP, SIG_IGN, 0, 0, 0);
	sigs[7] = SIGQUIT;                                    /* left at SIG_DFL */

	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigaddset(&m, SIGRTMIN + 2);
	sigaddset(&m, SIGPROF);
	sigaddset(&m, SIGWINCH);
	sigaddset(&m, SIGRTMAX - 1);
	sigprocmask(SIG_BLOCK, &m, NULL);

#ifdef ZDTM_THREADED
	pthread_create(&worker, NULL, worker_main, NULL);
	while (!__atomic_load_n(&worker_tid, __ATOMIC_SEQ_CST))
		syscall(SYS_futex, &worker_tid, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	pthread_kill(worker, SIGUSR2);
	sigqueue_tid(worker_tid, SIGRTMIN + 4, 0x5678);
	{
		char p[64];

		snprintf(p, sizeof(p), "/proc/self/task/%d/status", worker_tid);
		zdtm_status_field(p, "SigBlk", worker_blk, sizeof(worker_blk));
		zdtm_status_field(p, "SigPnd", worker_pnd, sizeof(worker_pnd));
	}
#endif
	sigqueue(getpid(), SIGUSR1, (union sigval){ .sival_int = 0x1234 });
	sigqueue(getpid(), SIGRTMIN + 2, (union sigval){ .sival_int = 11 });
	sigqueue(getpid(), SIGRTMIN + 2, (union sigval){ .sival_int = 22 });
	sigqueue_tid(zdtm_gettid(), SIGPROF, 0x77);

	for (int i = 0; i < NSIGS; i++)
		sigaction(sigs[i], NULL, &acts[i]);
	sigprocmask(SIG_BLOCK, NULL, &blocked);
	sigpending(&pending);
	zdtm_status_field("/proc/self/status", "ShdPnd", shd_pnd, sizeof(shd_pnd));
	zdtm_status_field("/proc/thread-self/status", "SigPnd", sig_pnd, sizeof(sig_pnd));
}

static int find_hit(int from, int signo)
{
	for (int i = from; i < nhits && i < 64; i++)
		if (hits[i].signo == signo)
			return i;
	return -1;
}

static void check_hit(int signo, int nth, int code, int value, int tid, int onstack)
{
	int i = -1;

	for (int k = 0; k <= nth; k++)
		if ((i = find_hit(i + 1, signo)) < 0) {
			zdtm_fail("signal %d (#%d) was not delivered after unblocking", signo, nth + 1);
			return;
		}
	zdtm_check(hits[i].code == code, "signal %d: si_code %d, want %d", signo, hits[i].code, code);
	zdtm_check(hits[i].value == value, "signal %d: si_value %#x, want %#x", signo, hits[i].value, value);
	zdtm_check(!code || hits[i].pid == getpid(), "signal %d: si_pid %d", signo, hits[i].pid);
	zdtm_check(hits[i].tid == tid, "signal %d: delivered to tid %d, want %d", signo, hits[i].tid, tid);
	zdtm_check(onstack < 0 || hits[i].onstack == onstack, "signal %d: on altstack %d, want %d", signo, hits[i].onstack, onstack);
}

static void verify_state(void)
{
	struct sigaction sa;
	sigset_t s;
	stack_t st;
	char buf[64];

	zdtm_check(nhits == 0, "%d signal handler(s) ran during checkpoint/restore", nhits);
	for (int i = 0; i < NSIGS; i++) {
		sigaction(sigs[i], NULL, &sa);
		zdtm_check(sa.sa_handler == acts[i].sa_handler, "signal %d: handler %p, want %p", sigs[i],
			   (void *)sa.sa_handler, (void *)acts[i].sa_handler);
		zdtm_check(sa.sa_flags == acts[i].sa_flags, "signal %d: flags %#x, want %#x", sigs[i], sa.sa_flags,
			   acts[i].sa_flags);
		zdtm_check(sa.sa_restorer == acts[i].sa_restorer, "signal %d: restorer differs", sigs[i]);
		for (int j = 1; j <= 64; j++)
			zdtm_check(sigismember(&sa.sa_mask, j) == sigismember(&acts[i].sa_mask, j),
				   "signal %d: sa_mask bit %d differs", sigs[i], j);
	}
	sigprocmask(SIG_BLOCK, NULL, &s);
	for (int j = 1; j <= 64; j++)
		zdtm_check(sigismember(&s, j) == sigismember(&blocked, j), "blocked mask: signal %d differs", j);
	sigpending(&s);
	for (int j = 1; j <= 64; j++)
		zdtm_check(sigismember(&s, j) == sigismember(&pending, j), "sigpending: signal %d differs (now %d)",
			   j, sigismember(&s, j));
	zdtm_status_field("/proc/self/status", "ShdPnd", buf, sizeof(buf));
	zdtm_check(!strcmp(buf, shd_pnd), "ShdPnd %s, want %s", buf, shd_pnd);
	zdtm_status_field("/proc/thread-self/status", "SigPnd", buf, sizeof(buf));
	zdtm_check(!strcmp(buf, sig_pnd), "SigPnd %s, want %s", buf, sig_pnd);
#ifdef ZDTM_THREADED
	{
		char p[64];

		snprintf(p, sizeof(p), "/proc/self/task/%d/status", worker_tid);
		zdtm_status_field(p, "SigBlk", buf, sizeof(buf));
		zdtm_check(!strcmp(buf, worker_blk), "worker SigBlk %s, want %s", buf, worker_blk);
		zdtm_status_field(p, "SigPnd", buf, sizeof(buf));
		zdtm_check(!strcmp(buf, worker_pnd), "worker SigPnd %s, want %s", buf, worker_pnd);
	}
#endif
	sigaltstack(NULL, &st);
	zdtm_check(st.ss_sp == altstack.ss_sp && st.ss_size == altstack.ss_size && st.ss_flags == 0,
		   "sigaltstack %p/%zu/%d, want %p/%zu/0", st.ss_sp, st.ss_size, st.ss_flags, altstack.ss_sp,
		   altstack.ss_size);
}

static void verify_delivery(void)
{
	pid_t me = zdtm_gettid();
	struct sigaction sa;
	sigset_t s;

	sigemptyset(&s);
	sigprocmask(SIG_SETMASK, &s, NULL);      /* the pending signals are delivered here */
	check_hit(SIGUSR1, 0, SI_QUEUE, 0x1234, me, 1);
	check_hit(SIGRTMIN + 2, 0, SI_QUEUE, 11, me, -1); /* may nest on the altstack */
	check_hit(SIGRTMIN + 2, 1, SI_QUEUE, 22, me, -1);
	check_hit(SIGPROF, 0, SI_QUEUE, 0x77, me, 1);
#ifdef ZDTM_THREADED
	__atomic_store_n(&worker_go, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &worker_go, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	pthread_join(worker, NULL);
	check_hit(SIGUSR2, 0, 0, 0, worker_tid, 0);
	check_hit(SIGRTMIN + 4, 0, SI_QUEUE, 0x5678, worker_tid, 0);
#endif
	sigpending(&s);
	for (int j = 1; j <= 64; j++)
		zdtm_check(!sigismember(&s, j), "signal %d still pending after unblocking", j);
	/* the dispositions still work as set */
	raise(SIGHUP);                               /* ignored */
	raise(SIGINT);                               /* handled once, then reset to SIG_DFL */
	zdtm_check(find_hit(0, SIGINT) >= 0, "SIGINT handler did not run after restore");
	sigaction(SIGINT, NULL, &sa);
	zdtm_check(sa.sa_handler == SIG_DFL, "SIGINT: SA_RESETHAND did not reset the handler");
}

int main(void)
{
	zdtm_init("signals");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	verify_state();
	verify_delivery();
	zdtm_exit();
}
