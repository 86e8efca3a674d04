// SPDX-License-Identifier: Apache-2.0
// Threads blocked in restartable calls when dumped return from them as the kernel makes them return
// after a stop and continue (SIGSTOP/SIGCONT), and, for a signal sent after restore, as after a signal
// with or without SA_RESTART:
//   relative nanosleep / clock_nanosleep (MONOTONIC, REALTIME) with a remaining-time buffer: return 0,
//     never early, and sleep only the time that was left at the dump (the kernel's restart block),
//     not the whole request again;
//   absolute clock_nanosleep and select (which writes the time left back into its timeval): the same;
//   nanosleep without a buffer, a timed futex wait, poll with a timeout: return 0 / ETIMEDOUT, never
//     early (the time they had left is not visible: they wait their whole timeout again);
//   read on a pipe: a SIGUSR1 handler with SA_RESTART runs and the read goes on to return the data
//     written later; a SIGUSR2 handler without SA_RESTART makes it fail with EINTR;
//   futex wait without timeout, wait4 on a child, pause, sigsuspend: return only for what is sent after
//     restore (a wake, the child's exit, a signal), never EINTR on their own;
//   epoll_wait without timeout: the event written after restore, or EINTR (what the kernel returns
//     after a stop, signal(7)), never 0 or another error.
// A heartbeat thread measures the time the process was not running (each dump to its restore).
// Built also with -DZDTM_SIGCONT (restart_calls_sigcont): a SIGCONT blocked everywhere is pending for
// the process, which the restore of a sleep's time left must not discard; the sleeps then re-run
// whole, and only the bounds that hold for every call are checked.
#include "zdtm.h"

#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NS 1000000000LL
#define REQ 4	/* seconds every timed call asks for */
#define SLACK (NS * 9 / 10)

enum { NS_REM, CNS_MONO, CNS_REAL, CNS_ABS, NS_NULL, FUTEX_TO, POLL_TO, SELECT_TO, TIMED,
       READ_RESTART = TIMED, READ_EINTR, FUTEX_WAIT_, EPOLL, PAUSE, SIGSUSPEND, WAIT4, NCALLS };
static const char *names[NCALLS] = { "nanosleep(rem)", "clock_nanosleep(MONOTONIC)", "clock_nanosleep(REALTIME)",
	"clock_nanosleep(ABSTIME)", "nanosleep(NULL)", "futex(timeout)", "poll(timeout)", "select(timeout)",
	"read(SA_RESTART)", "read(no SA_RESTART)", "futex", "epoll_wait", "pause", "sigsuspend", "wait4" };

struct call {
	pthread_t th;
	pid_t tid;
	long ret;
	int err;
	volatile int done;
	int64_t end;
	int sent;	/* the awaited event was sent (set before sending) */
};
static struct call calls[NCALLS];
static int64_t s0;
static int pipes[4][2];	/* read restart, read eintr, epoll, wait4 child's command */
static int futex_word, never_word, epfd;
static pid_t child;
static volatile int handled[2];
static int64_t down;	/* the time the heartbeat did not run (gaps over 100 ms: dumps to restores) */

static void on_usr(int sig) { handled[sig == SIGUSR2]++; }

static long timed_call(int i)
{
	struct timespec req = { REQ, 0 }, rem, abs;
	struct pollfd pfd = { .fd = pipes[0][0], .events = POLLIN };
	struct timeval tv = { REQ, 0 };
	fd_set rs;
	int64_t d = s0 + REQ * NS;
	switch (i) {
	case NS_REM: return nanosleep(&req, &rem);
	case CNS_MONO: return -clock_nanosleep(CLOCK_MONOTONIC, 0, &req, &rem);
	case CNS_REAL: return -clock_nanosleep(CLOCK_REALTIME, 0, &req, &rem);
	case CNS_ABS:
		abs.tv_sec = d / NS;
		abs.tv_nsec = d % NS;
		return -clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL);
	case NS_NULL: return syscall(SYS_nanosleep, &req, NULL);
	case FUTEX_TO: return syscall(SYS_futex, &never_word, FUTEX_WAIT_PRIVATE, 0, &req, NULL, 0);
	case POLL_TO: return poll(&pfd, 1, REQ * 1000);
	case SELECT_TO:
		FD_ZERO(&rs);
		FD_SET(pipes[0][0], &rs);
		return select(pipes[0][0] + 1, &rs, NULL, NULL, &tv);
	}
	return -1;
}

static long blocking_call(int i)
{
	char c;
	struct epoll_event ev;
	sigset_t m;
	int st;
	switch (i) {
	case READ_RESTART: return read(pipes[0][0], &c, 1) == 1 && c == 'r' ? 1 : -2;
	case READ_EINTR: return read(pipes[1][0], &c, 1);
	case FUTEX_WAIT_: return syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	case EPOLL: return epoll_wait(epfd, &ev, 1, -1);
	case PAUSE: return pause();
	case SIGSUSPEND:
		sigemptyset(&m);
#ifdef ZDTM_SIGCONT
		sigaddset(&m, SIGCONT);
#endif
		return sigsuspend(&m);
	case WAIT4: return wait4(child, &st, 0, NULL) == child && WIFEXITED(st) && WEXITSTATUS(st) == 7 ? 1 : -2;
	}
	return -1;
}

static void *caller(void *arg)
{
	int i = (int)(long)arg;
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGTERM);
	if (i == SIGSUSPEND)
		sigaddset(&m, SIGUSR1);	/* only sigsuspend lets it in */
	pthread_sigmask(SIG_BLOCK, &m, NULL);
	calls[i].tid = zdtm_gettid();
	errno = 0;
	long r = i < TIMED ? timed_call(i) : blocking_call(i);
	calls[i].err = r < 0 ? (i == CNS_MONO || i == CNS_REAL || i == CNS_ABS ? (int)-r : errno) : 0;
	calls[i].ret = r;
	calls[i].end = zdtm_now_ns(CLOCK_MONOTONIC);
	__atomic_store_n(&calls[i].done, 1, __ATOMIC_SEQ_CST);
	while (!zdtm_sigterm_received())	/* the thread count stays what the runner saw */
		usleep(10000);
	return NULL;
}

static void *heartbeat(void *arg)
{
	int64_t last = zdtm_now_ns(CLOCK_MONOTONIC);
	while (!__atomic_load_n(&calls[WAIT4].done, __ATOMIC_SEQ_CST) || !zdtm_sigterm_received()) {
		usleep(5000);
		int64_t now = zdtm_now_ns(CLOCK_MONOTONIC);
		if (now - last > NS / 10)
			down += now - last;
		last = now;
	}
	return NULL;
}

static int wait_done(int i, int64_t ns)
{
	int64_t end = zdtm_now_ns(CLOCK_MONOTONIC) + ns;
	while (!__atomic_load_n(&calls[i].done, __ATOMIC_SEQ_CST) && zdtm_now_ns(CLOCK_MONOTONIC) < end)
		usleep(5000);
	return calls[i].done;
}

/* Sends what call i waits for (marking it sent first). */
static void send_event(int i)
{
	calls[i].sent = 1;
	__sync_synchronize();
	switch (i) {
	case READ_RESTART:
		syscall(SYS_tgkill, getpid(), calls[i].tid, SIGUSR1);
		for (int k = 0; k < 400 && !handled[0]; k++)
			usleep(5000);
		zdtm_check(handled[0] == 1, "read(SA_RESTART): the SIGUSR1 handler ran %d times", handled[0]);
		usleep(50000);
		zdtm_check(!calls[i].done, "read(SA_RESTART) returned after the handler (%ld, %s)", calls[i].ret,
			   strerror(calls[i].err));
		zdtm_check(write(pipes[0][1], "r", 1) == 1, "write: %m");
		break;
	case READ_EINTR: syscall(SYS_tgkill, getpid(), calls[i].tid, SIGUSR2); break;
	case FUTEX_WAIT_:
		__atomic_store_n(&futex_word, 1, __ATOMIC_SEQ_CST);
		syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
		break;
	case EPOLL: zdtm_check(write(pipes[2][1], "e", 1) == 1, "write: %m"); break;
	case PAUSE: case SIGSUSPEND: syscall(SYS_tgkill, getpid(), calls[i].tid, SIGUSR1); break;
	case WAIT4: zdtm_check(write(pipes[3][1], "x", 1) == 1, "write: %m"); break;
	}
}

static void check_timed(int i)
{
	struct call *c = &calls[i];
	int64_t el = c->end - s0;
	long want = i == FUTEX_TO ? -1 : 0;
	int want_err = i == FUTEX_TO ? ETIMEDOUT : 0;
	zdtm_check(c->ret == want && c->err == want_err, "%s returned %ld (%s)", names[i], c->ret, strerror(c->err));
	zdtm_check(el >= REQ * NS, "%s woke up early: after %lld ms", names[i], (long long)(el / 1000000));
	/* exact ones: the time left at the dump, not the whole request again after the restore */
#ifndef ZDTM_SIGCONT
	if (i <= CNS_ABS || i == SELECT_TO)	/* select writes the time left back into its timeval */
#else
	if (i == CNS_ABS || i == SELECT_TO)
#endif
		zdtm_check(el <= REQ * NS + down + SLACK, "%s slept %lld ms, not stopped %lld ms: more than %d s",
			   names[i], (long long)(el / 1000000), (long long)(down / 1000000), REQ);
}

int main(void)
{
	zdtm_init("restart_calls");
#ifdef ZDTM_SIGCONT
	sigset_t cont;
	sigemptyset(&cont);
	sigaddset(&cont, SIGCONT);
	sigprocmask(SIG_BLOCK, &cont, NULL);	/* before any thread: all of them block it */
	kill(getpid(), SIGCONT);
#endif
	struct sigaction sa = { .sa_handler = on_usr, .sa_flags = SA_RESTART };
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_flags = 0;
	sigaction(SIGUSR2, &sa, NULL);
	for (int i = 0; i < 4; i++)
		if (pipe(pipes[i]) < 0)
			return 1;
	epfd = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN };
	if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, pipes[2][0], &ev) < 0)
		return 1;
	child = fork();
	if (!child) {
		char c;
		_exit(read(pipes[3][0], &c, 1) == 1 ? 7 : 1);
	}
	pthread_t hb;
	pthread_create(&hb, NULL, heartbeat, NULL);
	s0 = zdtm_now_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < NCALLS; i++)
		pthread_create(&calls[i].th, NULL, caller, (void *)i);
	usleep(1500000);	/* the dump comes 1.5 s into the timed calls */
	for (int i = 0; i < NCALLS; i++)
		zdtm_check(!calls[i].done, "%s returned before the dump (%ld, %s)", names[i], calls[i].ret,
			   strerror(calls[i].err));
	zdtm_ready();
	zdtm_wait_sigterm();

	for (int i = 0; i < TIMED; i++)
		zdtm_check(wait_done(i, 3 * REQ * NS), "%s never returned", names[i]);
	for (int i = TIMED; i < NCALLS; i++) {
		if (calls[i].done && i != EPOLL)
			zdtm_fail("%s returned before anything was sent (%ld, %s)", names[i], calls[i].ret,
				  strerror(calls[i].err));
		if (!calls[i].done)
			send_event(i);
		zdtm_check(wait_done(i, 5 * NS), "%s never returned after its event was sent", names[i]);
	}
	for (int i = 0; i < TIMED; i++)
		check_timed(i);
	zdtm_check(calls[READ_RESTART].ret == 1, "read(SA_RESTART): %ld (%s)", calls[READ_RESTART].ret,
		   strerror(calls[READ_RESTART].err));
	zdtm_check(calls[READ_EINTR].ret == -1 && calls[READ_EINTR].err == EINTR && handled[1] == 1,
		   "read(no SA_RESTART): %ld (%s), handler ran %d times", calls[READ_EINTR].ret,
		   strerror(calls[READ_EINTR].err), handled[1]);
	zdtm_check(calls[FUTEX_WAIT_].ret == 0, "futex: %ld (%s)", calls[FUTEX_WAIT_].ret, strerror(calls[FUTEX_WAIT_].err));
	zdtm_check(calls[EPOLL].ret == 1 || (calls[EPOLL].ret == -1 && calls[EPOLL].err == EINTR && !calls[EPOLL].sent),
		   "epoll_wait: %ld (%s)", calls[EPOLL].ret, strerror(calls[EPOLL].err));
	for (int i = PAUSE; i <= SIGSUSPEND; i++)
		zdtm_check(calls[i].ret == -1 && calls[i].err == EINTR, "%s: %ld (%s)", names[i], calls[i].ret,
			   strerror(calls[i].err));
	zdtm_check(handled[0] == 3, "SIGUSR1 handled %d times, want 3", handled[0]);
	zdtm_check(calls[WAIT4].ret == 1, "wait4: %ld (%s)", calls[WAIT4].ret, strerror(calls[WAIT4].err));
#ifdef ZDTM_SIGCONT
	sigset_t pend;
	sigpending(&pend);
	zdtm_check(sigismember(&pend, SIGCONT) == 1, "the pending SIGCONT is gone");
#endif
	pthread_join(hb, NULL);
	for (int i = 0; i < NCALLS; i++)
		pthread_join(calls[i].th, NULL);
	zdtm_exit();
}
