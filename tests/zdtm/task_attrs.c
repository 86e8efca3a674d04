// SPDX-License-Identifier: Apache-2.0
// Per-process attributes across a small tree: oom_score_adj (the root's, a child's that differs,
// and a grandchild's), the audit login uid (set in the root, inherited by the child, which must
// still share the root's audit session; the grandchild starts one of its own), the nice
// value of the root's autogroup, and exit signals: a live child made by clone() with SIGUSR1 as
// its exit signal (the root gets SIGUSR1 when it dies, not SIGCHLD) and a zombie made with exit
// signal 0 (only a __WCLONE wait sees it).
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int usr1, chld;
static int have_login;
static char stack[2][65536] __attribute__((aligned(16)));

static void on_usr1(int s) { usr1++; }
static void on_chld(int s) { chld++; }

static long read_num(const char *path)
{
	char buf[64];
	return zdtm_read_line(path, buf, sizeof(buf)) > 0 ? strtol(buf, NULL, 10) : -12345;
}

static int write_str(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY), r = -1;
	if (fd >= 0) {
		r = write(fd, v, strlen(v)) == (ssize_t)strlen(v) ? 0 : -1;
		close(fd);
	}
	return r;
}

static int autogroup_nice(void)
{
	char buf[128];
	int nice = -100;
	if (zdtm_read_line("/proc/self/autogroup", buf, sizeof(buf)) > 0)
		sscanf(buf, "/autogroup-%*d nice %d", &nice);
	return nice;
}

static int sleeper(void *arg)
{
	for (;;)
		pause();
	return 0;
}

static int quitter(void *arg)
{
	_exit(42);
}

/* The child: oom_score_adj 0 (the root has 345); its own child has 777. */
__attribute__((noreturn)) static void child(void)
{
	char root_ses[64];
	snprintf(root_ses, sizeof(root_ses), "/proc/%d/sessionid", getppid());
	write_str("/proc/self/oom_score_adj", "0");
	pid_t g = fork();
	if (g == 0) {
		write_str("/proc/self/oom_score_adj", "777");
		if (have_login)
			write_str("/proc/self/loginuid", "5555");
		while (!zdtm_sigterm_received())
			pause();
		int bad = read_num("/proc/self/oom_score_adj") != 777;
		if (have_login)
			bad |= (read_num("/proc/self/loginuid") != 5555) << 1 |
			       (read_num("/proc/self/sessionid") == read_num(root_ses)) << 2;
		_exit(bad);
	}
	while (!zdtm_sigterm_received())
		pause();
	kill(g, SIGTERM);
	int st = -1;
	waitpid(g, &st, 0);
	zdtm_check(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		   "grandchild: state lost (status %#x: 1 oom_score_adj, 2 loginuid, 4 shares the root's audit session)", st);
	zdtm_check(read_num("/proc/self/oom_score_adj") == 0, "child: oom_score_adj %ld, want 0",
		   read_num("/proc/self/oom_score_adj"));
	if (have_login) {
		zdtm_check(read_num("/proc/self/loginuid") == 4321, "child: loginuid %ld, want 4321",
			   read_num("/proc/self/loginuid"));
		zdtm_check(read_num("/proc/self/sessionid") == read_num(root_ses), "child: audit session %ld, the root's %ld",
			   read_num("/proc/self/sessionid"), read_num(root_ses));
	}
	zdtm_exit();
}

int main(void)
{
	zdtm_init("task_attrs");
	signal(SIGUSR1, on_usr1);
	signal(SIGCHLD, on_chld);
	if (write_str("/proc/self/oom_score_adj", "345") < 0)
		zdtm_fail("set oom_score_adj: %s", strerror(errno));
	have_login = write_str("/proc/self/loginuid", "4321") == 0;
	if (!have_login)
		printf("note: cannot set the login uid (%s): not checked\n", strerror(errno));
	int have_ag = write_str("/proc/self/autogroup", "6") == 0;
	if (!have_ag)
		printf("note: no autogroup here (%s): not checked\n", strerror(errno));
	pid_t kid = fork();
	if (kid == 0)
		child();
	pid_t sig_kid = clone(sleeper, stack[0] + sizeof(stack[0]), SIGUSR1, NULL);
	pid_t zombie = clone(quitter, stack[1] + sizeof(stack[1]), 0, NULL);
	if (sig_kid < 0 || zombie < 0)
		zdtm_fail("clone: %s", strerror(errno));
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	waitid(P_PID, zombie, &si, WEXITED | WNOWAIT | __WCLONE);	/* it is a zombie now */
	zdtm_ready();
	zdtm_wait_sigterm();

	zdtm_check(read_num("/proc/self/oom_score_adj") == 345, "root: oom_score_adj %ld, want 345",
		   read_num("/proc/self/oom_score_adj"));
	if (have_login)
		zdtm_check(read_num("/proc/self/loginuid") == 4321, "root: loginuid %ld, want 4321",
			   read_num("/proc/self/loginuid"));
	if (have_ag)
		zdtm_check(autogroup_nice() == 6, "root: autogroup nice %d, want 6", autogroup_nice());
	int st = -1;
	errno = 0;
	zdtm_check(waitpid(-1, &st, WNOHANG) == 0, "a plain wait sees a clone child (%d, errno %d)", st, errno);
	zdtm_check(waitpid(zombie, &st, __WCLONE) == zombie && WIFEXITED(st) && WEXITSTATUS(st) == 42,
		   "zombie with exit signal 0: status %#x", st);
	chld = usr1 = 0;
	kill(sig_kid, SIGKILL);
	zdtm_check(waitpid(sig_kid, &st, __WCLONE) == sig_kid, "reap the SIGUSR1 child: %s", strerror(errno));
	zdtm_check(usr1 == 1 && chld == 0, "the SIGUSR1 child's death raised SIGUSR1 %d times, SIGCHLD %d times",
		   usr1, chld);
	kill(kid, SIGTERM);
	st = -1;
	zdtm_check(waitpid(kid, &st, 0) == kid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: status %#x", st);
	zdtm_exit();
}
