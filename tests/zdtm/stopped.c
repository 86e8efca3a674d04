// SPDX-License-Identifier: Apache-2.0
// Stopped children: one stopped by SIGSTOP whose stop the parent has not collected yet, one stopped
// by SIGTSTP (in a process group of its own, so the stop is not discarded) whose stop the parent
// already collected with waitid(WSTOPPED), and a two-thread child stopped by SIGSTOP. After the
// checkpoint each is still stopped (every thread), the parent sees with waitid(WSTOPPED) exactly the
// stops it had not collected, with their signals, and once continued each child runs its code on.
#include "zdtm.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct kid {
	pid_t pid;
	int sig;		/* the stop signal */
	int collected;		/* the parent collected its stop before the checkpoint */
	int code;		/* exit code once continued */
};

static void *idle(void *arg)
{
	for (;;)
		pause();
	return arg;
}

static __attribute__((noreturn)) void child(const struct kid *k, int threads)
{
	pthread_t th;
	if (k->sig == SIGTSTP)
		setpgid(0, 0);
	if (threads && pthread_create(&th, NULL, idle, NULL))
		_exit(3);
	raise(k->sig);
	_exit(k->code);	/* only once continued */
}

/* Every thread of pid in state T. */
static int all_stopped(pid_t pid, int *nthreads)
{
	char path[64], st[8];
	int n = 0, stopped = 0;
	for (int tid = pid; tid < pid + 64; tid++) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
		if (zdtm_status_field(path, "State", st, sizeof(st)) < 0)
			continue;
		n++;
		stopped += st[0] == 'T';
	}
	*nthreads = n;
	return n > 0 && stopped == n;
}

static void check_kid(const struct kid *k, int want_threads)
{
	int n;
	siginfo_t si;
	zdtm_check(all_stopped(k->pid, &n) && n == want_threads, "child %d: %d thread(s), not all stopped (want %d)",
		   k->pid, n, want_threads);
	memset(&si, 0, sizeof(si));
	int r = waitid(P_PID, k->pid, &si, WSTOPPED | WNOHANG);
	zdtm_check(r == 0, "waitid(%d, WSTOPPED): %s", k->pid, strerror(errno));
	if (k->collected)
		zdtm_check(si.si_pid == 0, "child %d: its stop was collected before the checkpoint, yet waitid reports it "
			   "again (code %d, status %d)", k->pid, si.si_code, si.si_status);
	else
		zdtm_check(si.si_pid == k->pid && si.si_code == CLD_STOPPED && si.si_status == k->sig,
			   "child %d: waitid(WSTOPPED) gave pid %d code %d status %d, want its stop by %d", k->pid,
			   si.si_pid, si.si_code, si.si_status, k->sig);
}

int main(void)
{
	struct kid kids[3] = {
		{ 0, SIGSTOP, 0, 7 },
		{ 0, SIGTSTP, 1, 8 },
		{ 0, SIGSTOP, 0, 9 },
	};
	zdtm_init("stopped");
	for (int i = 0; i < 3; i++) {
		kids[i].pid = fork();
		if (kids[i].pid < 0)
			zdtm_skip("fork: %s", strerror(errno));
		if (kids[i].pid == 0)
			child(&kids[i], i == 2);
	}
	for (int i = 0; i < 3; i++) {
		int n;
		for (int t = 0; t < 1000 && !all_stopped(kids[i].pid, &n); t++)
			usleep(5000);
		if (kids[i].collected) {
			siginfo_t si;
			if (waitid(P_PID, kids[i].pid, &si, WSTOPPED) < 0 || si.si_status != kids[i].sig)
				zdtm_skip("could not collect the stop of child %d", kids[i].pid);
		}
	}
	zdtm_ready();
	zdtm_wait_sigterm();
	for (int i = 0; i < 3; i++)
		check_kid(&kids[i], i == 2 ? 2 : 1);
	for (int i = 0; i < 3; i++) {
		int st = 0;
		kill(kids[i].pid, SIGCONT);
		zdtm_check(waitpid(kids[i].pid, &st, 0) == kids[i].pid && WIFEXITED(st) && WEXITSTATUS(st) == kids[i].code,
			   "child %d: once continued, exited with status %#x, want code %d", kids[i].pid, st, kids[i].code);
	}
	zdtm_pass();
}
