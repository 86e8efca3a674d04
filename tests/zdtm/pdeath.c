// SPDX-License-Identifier: Apache-2.0
// Parent-death signals that must still fire after restore. The root R has one itself (SIGUSR2:
// its handler leaves a file "root-pdeath" in the test directory, for the runner's scenario that
// kills the root's parent). R forks P; P's main thread forks C1 and P's second thread T forks
// C2, both with SIGUSR1 as parent-death signal. After restore R makes T exit: only C2 gets its
// signal (a child's parent is the thread that made it); then R kills P: both get it (C2 had
// been given to P's main thread).
// Also: R's own signal is set and did not fire, and R's parent is the one it had, or ferry.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int report[2], ctl[2];
static volatile int usr2;
static char who;

static void on_usr1(int sig)
{
	write(report[1], &who, 1);
}

static void on_usr2(int sig)
{
	char path[4096];
	usr2++;
	int fd = open(zdtm_path(path, sizeof(path), "root-pdeath"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
}

/* A child of the calling thread whose parent-death signal reports `name` on the report pipe. */
static pid_t spawn(char name)
{
	pid_t pid = fork();
	if (pid)
		return pid;
	who = name;
	signal(SIGUSR1, on_usr1);
	prctl(PR_SET_PDEATHSIG, SIGUSR1);
	pid_t me = getpid();
	write(report[1], &me, sizeof(me));
	for (;;)
		pause();
}

static void *thread_t(void *arg)
{
	spawn('2');
	char c;
	read(ctl[0], &c, 1);	/* 't': exit, and C2's parent is gone */
	return NULL;
}

static void process_p(void)
{
	pthread_t t;
	close(report[0]);
	spawn('1');
	pthread_create(&t, NULL, thread_t, NULL);
	pthread_join(t, NULL);
	for (;;)
		pause();
}

/* Next byte on the report pipe within ms milliseconds, or 0. */
static char next_report(int ms)
{
	struct pollfd p = { report[0], POLLIN, 0 };
	char c = 0;
	if (poll(&p, 1, ms) == 1 && read(report[0], &c, 1) != 1)
		c = 0;
	return c;
}

static int ppid_ok(pid_t was)
{
	char path[64], exe[4096];
	pid_t now = getppid();
	if (now == was)
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/exe", now);
	return zdtm_readlink(path, exe, sizeof(exe)) > 0 && strstr(exe, "/ferry") != NULL;
}

int main(void)
{
	pid_t kids[2];
	zdtm_init("pdeath");
	pid_t ppid0 = getppid();
	signal(SIGUSR2, on_usr2);
	prctl(PR_SET_PDEATHSIG, SIGUSR2);
	if (pipe(report) < 0 || pipe(ctl) < 0)
		return 1;
	pid_t p = fork();
	if (p == 0)
		process_p();
	close(report[1]);
	close(ctl[0]);
	for (int i = 0; i < 2; i++)
		if (read(report[0], &kids[i], sizeof(kids[i])) != sizeof(kids[i]))
			zdtm_fail("a child did not start");
	zdtm_ready();
	zdtm_wait_sigterm();

	int sig = 0;
	prctl(PR_GET_PDEATHSIG, &sig);
	zdtm_check(sig == SIGUSR2, "root: parent-death signal %d, want %d", sig, SIGUSR2);
	zdtm_check(usr2 == 0, "root: its parent-death signal fired");
	zdtm_check(ppid_ok(ppid0), "root: parent %d, want %d or ferry", getppid(), ppid0);
	write(ctl[1], "t", 1);
	char c = next_report(10000);
	zdtm_check(c == '2', "C2 did not get its signal when thread T exited (got '%c')", c ? c : '-');
	c = next_report(300);
	zdtm_check(c == 0, "'%c' got a signal when thread T exited", c);
	kill(p, SIGKILL);	/* C1's parent dies; C2's new parent (P's main thread) too */
	waitpid(p, NULL, 0);
	char got[2] = { next_report(10000), next_report(10000) };
	zdtm_check((got[0] == '1' && got[1] == '2') || (got[0] == '2' && got[1] == '1'),
		   "C1 and C2 did not both get their signal when P died (got '%c' '%c')", got[0] ? got[0] : '-',
		   got[1] ? got[1] : '-');
	for (int i = 0; i < 2; i++)
		kill(kids[i], SIGKILL);
	zdtm_exit();
}
