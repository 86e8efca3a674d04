// SPDX-License-Identifier: Apache-2.0
// Seccomp strict mode: a thread of the main process and a whole child process enter it and then
// serve requests over pipes with read() and write() only. After restore both are still in strict
// mode (/proc status "Seccomp: 1"), answer a request, and the strict mode is enforced: the child,
// asked to call getpid(), is killed by SIGKILL; the thread leaves with exit().
#include "zdtm.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct chan {
	int req[2], rep[2];
};

/* Blocks every signal, enters strict mode, then: 'i' → answers 'I'+1; 'g' → getpid(); 'q' → exit. */
__attribute__((noreturn)) static void serve(struct chan *c)
{
	unsigned char b;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pid_t tid = zdtm_gettid();
	write(c->rep[1], &tid, sizeof(tid));
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL) < 0)
		syscall(SYS_exit, 3);
	for (;;) {
		if (syscall(SYS_read, c->req[0], &b, 1) != 1)
			syscall(SYS_exit, 4);
		if (b == 'q')
			syscall(SYS_exit, 0);
		if (b == 'g')
			syscall(SYS_getpid);	/* not allowed: SIGKILL */
		b = b + 1;
		syscall(SYS_write, c->rep[1], &b, 1);
	}
}

static void *thread_main(void *arg)
{
	serve(arg);
}

static int ask(struct chan *c, char q)
{
	unsigned char b = 0;
	if (write(c->req[1], &q, 1) != 1 || read(c->rep[0], &b, 1) != 1)
		return -1;
	return b;
}

static int strict_of(const char *path)
{
	char v[32];
	return zdtm_status_field(path, "Seccomp", v, sizeof(v)) == 0 ? atoi(v) : -1;
}

int main(void)
{
	struct chan tc, pc;
	pthread_t th;
	char path[96];
	zdtm_init("seccomp_strict");
	if (pipe(tc.req) || pipe(tc.rep) || pipe(pc.req) || pipe(pc.rep))
		return 1;
	pid_t kid = fork();
	if (kid == 0)
		serve(&pc);
	pthread_create(&th, NULL, thread_main, &tc);
	pid_t ttid = 0, ktid = 0;
	read(tc.rep[0], &ttid, sizeof(ttid));
	read(pc.rep[0], &ktid, sizeof(ktid));
	zdtm_check(ask(&tc, 'a') == 'b' && ask(&pc, 'x') == 'y', "the strict servers do not answer");
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", ttid);
	zdtm_check(strict_of(path) == 1, "thread: Seccomp %d before the checkpoint", strict_of(path));
	zdtm_ready();
	zdtm_wait_sigterm();

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", ttid);
	zdtm_check(strict_of(path) == 1, "thread: Seccomp %d, want 1", strict_of(path));
	zdtm_check(strict_of("/proc/self/status") == 0, "main thread: Seccomp %d, want 0", strict_of("/proc/self/status"));
	snprintf(path, sizeof(path), "/proc/%d/status", kid);
	zdtm_check(strict_of(path) == 1, "child: Seccomp %d, want 1", strict_of(path));
	int a = ask(&tc, 'm'), b = ask(&pc, 'p');
	zdtm_check(a == 'n' && b == 'q', "after restore the servers answer %d and %d", a, b);
	write(tc.req[1], "q", 1);
	pthread_join(th, NULL);
	write(pc.req[1], "g", 1);
	int st = -1;
	zdtm_check(waitpid(kid, &st, 0) == kid && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
		   "the child called getpid() in strict mode and was not killed (status %#x)", st);
	zdtm_exit();
}
