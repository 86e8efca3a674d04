/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signals at the CLI's edge; the engine installs no handler and only checks a cancel flag.
 *
 * dump and pre-dump: the process a user, a script or a terminal's Ctrl-C can reach is not the
 * tracer. The front forks a worker, in a process group of its own, that does the work; the front
 * forwards SIGINT, SIGTERM and SIGHUP to it as a cancel request and exits with its status. If
 * the front dies, even by SIGKILL, the worker gets SIGTERM (PR_SET_PDEATHSIG) and cancels too:
 * the tree is released as it was. Only a SIGKILL aimed at the worker itself, during one single
 * step of an injected syscall, can still hurt the tree (docs/ERRORS.md).
 *
 * restore: those signals cancel the restore until its tree is released (nothing is left alive);
 * after that they do what they always did, to a ferry that only waits for the tree.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cli/cli.h"

static volatile sig_atomic_t cancel_flag;
static ferry_op *cancel_op;	/* the CLI runs one operation */
static const int cancel_signals[] = { SIGINT, SIGTERM, SIGHUP };

static void on_cancel(int sig)
{
	cancel_flag = sig;
	ferry_op_cancel(cancel_op);	/* async-signal-safe */
}

static void catch_cancel_signals(void)
{
	struct sigaction sa = { .sa_handler = on_cancel, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(cancel_signals) / sizeof(cancel_signals[0]); i++)
		sigaction(cancel_signals[i], &sa, NULL);
}

/* The front: forwards cancel requests, then exits as the worker did. Never returns. */
static __attribute__((noreturn)) void front(pid_t worker, const sigset_t *set)
{
	for (;;) {
		int sig = sigwaitinfo(set, NULL);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(worker, SIGTERM);
			continue;
		}
		int st;
		pid_t r = waitpid(worker, &st, WNOHANG);
		if (r != worker)
			continue;
		if (WIFEXITED(st))
			exit(WEXITSTATUS(st));
		fprintf(stderr, "Error: ferry's worker %d was killed by signal %d; processes it had frozen may have been "
			"left stopped or killed\n", (int)worker, WTERMSIG(st));
		exit(128 + WTERMSIG(st));
	}
}

void cli_guard_worker(ferry_op *op)
{
	sigset_t set, old;
	cancel_op = op;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(cancel_signals) / sizeof(cancel_signals[0]); i++)
		sigaddset(&set, cancel_signals[i]);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &old);
	pid_t front_pid = getpid();
	fflush(NULL);
	pid_t w = fork();
	if (w < 0) {	/* no worker: do the work here, cancelled by the same signals */
		catch_cancel_signals();
		sigprocmask(SIG_SETMASK, &old, NULL);
		return;
	}
	if (w > 0)
		front(w, &set);
	setpgid(0, 0);	/* a terminal's Ctrl-C reaches the front only */
	catch_cancel_signals();
	signal(SIGPIPE, SIG_IGN);	/* a closed stderr must not kill us mid-abort */
	signal(SIGTTOU, SIG_IGN);	/* a background group may still write to the terminal */
	signal(SIGTTIN, SIG_IGN);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != front_pid)
		on_cancel(SIGTERM);	/* the front died before we could tell */
	sigprocmask(SIG_SETMASK, &old, NULL);
}

void cli_cancel_begin(ferry_op *op)
{
	cancel_op = op;
	catch_cancel_signals();
}

void cli_cancel_end(void *unused, ferry_op *op)
{
	(void)unused;
	(void)op;
	for (size_t i = 0; i < sizeof(cancel_signals) / sizeof(cancel_signals[0]); i++)
		signal(cancel_signals[i], SIG_DFL);
	if (cancel_flag)
		raise(cancel_flag);
}

int cli_cancelled_by(void)
{
	return cancel_flag;
}
