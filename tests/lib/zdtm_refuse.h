// SPDX-License-Identifier: Apache-2.0
// zdtm refusal cases (header only): a child sets up state ferry must refuse, `ferry dump -R` of the child
// must fail (exit 1) with a message holding given strings (the object, the child's pid, the fd), and the
// child must run on untouched: not stopped, not traced, and its own check of the state still passes.
// The test itself then becomes ready with nothing special left, so the runner's dump of it is plain.
#ifndef FERRY_TESTS_ZDTM_REFUSE_H
#define FERRY_TESTS_ZDTM_REFUSE_H

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "zdtm.h"

struct zr_case {
	const char *name;
	/* In the child: sets the state up; returns the fd ferry must name (or -1), <0 - 1000 to skip. */
	int (*setup)(void);
	/* In the child, after the failed dump: 0 if the state is intact. */
	int (*check)(void);
	const char *want[4];	/* strings the message must hold ("%pid", "%fd": the child's) */
	const char *args[4];	/* extra dump arguments */
};

static char zr_ferry[PATH_MAX];

static inline void zr_find_ferry(void)
{
	char self[PATH_MAX];
	if (zdtm_readlink("/proc/self/exe", self, sizeof(self)) < 0)
		zdtm_skip("no /proc/self/exe");
	char *build = dirname(dirname(dirname(self)));	/* BUILD/tests/zdtm/NAME */
	snprintf(zr_ferry, sizeof(zr_ferry), "%s/src/ferry", build);
	if (access(zr_ferry, X_OK) < 0)
		zdtm_skip("ferry not built at %s", zr_ferry);
}

/* Runs ferry with args, its output into <dir>/<log>; returns its exit status (-1 if it did not exit). */
static inline int zr_run_ferry(const char *log, char *const args[])
{
	char path[PATH_MAX];
	pid_t p = fork();
	if (p == 0) {
		int fd = open(zdtm_path(path, sizeof(path), log), O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(zr_ferry, args);
		_exit(127);
	}
	int st;
	if (p < 0 || waitpid(p, &st, 0) != p)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline void zr_child(const struct zr_case *c, int rd, int wr)
{
	int fd = c->setup();
	char cmd;
	if (write(wr, &fd, sizeof(fd)) != sizeof(fd) || read(rd, &cmd, 1) != 1)
		_exit(2);
	int ok = c->check();
	if (write(wr, &ok, sizeof(ok)) != sizeof(ok))
		_exit(2);
	_exit(0);
}

/* The message must hold each wanted string, with %pid and %fd replaced. */
static inline void zr_check_msg(const struct zr_case *c, const char *out, pid_t pid, int fd)
{
	for (int i = 0; i < 4 && c->want[i]; i++) {
		char want[256];
		if (!strcmp(c->want[i], "%pid"))
			snprintf(want, sizeof(want), "pid %d", pid);
		else if (!strcmp(c->want[i], "%fd"))
			snprintf(want, sizeof(want), "fd %d", fd);
		else
			snprintf(want, sizeof(want), "%s", c->want[i]);
		zdtm_check(strstr(out, want) != NULL, "%s: the refusal does not say '%s': %s", c->name, want, out);
	}
}

static inline void zr_check_alive(const struct zr_case *c, pid_t pid)
{
	char path[64], v[32] = "";
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	zdtm_check(zdtm_status_field(path, "State", v, sizeof(v)) == 0 && strchr("RS", v[0]),
		   "%s: child state after the refused dump: %s", c->name, v);
	zdtm_check(zdtm_status_field(path, "TracerPid", v, sizeof(v)) == 0 && !strcmp(v, "0"),
		   "%s: child still traced after the refused dump (TracerPid %s)", c->name, v);
}

/* Runs one case; 0 when it ran, 1 when the child skipped it. */
static inline int zr_run(const struct zr_case *c)
{
	int down[2], up[2], fd = -1, ok = -1, st;
	if (pipe(down) < 0 || pipe(up) < 0)
		zdtm_skip("pipe: %m");
	pid_t pid = fork();
	if (pid == 0) {
		close(down[1]);
		close(up[0]);
		zr_child(c, down[0], up[1]);
	}
	close(down[0]);
	close(up[1]);
	if (pid < 0 || read(up[0], &fd, sizeof(fd)) != sizeof(fd)) {
		zdtm_fail("%s: the child did not set up", c->name);
		return 0;
	}
	if (fd < -1) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		printf("%s: skipped (%d)\n", c->name, fd);
		return 1;
	}
	char spid[16], dir[PATH_MAX], log[128], out[8192] = "";
	snprintf(spid, sizeof(spid), "%d", pid);
	snprintf(log, sizeof(log), "refused-%s.out", c->name);
	zdtm_path(dir, sizeof(dir), "img-refused");
	mkdir(dir, 0755);
	char *args[16] = { zr_ferry, "dump", "-t", spid, "-D", dir, "-R" };
	int n = 7;
	for (int i = 0; i < 4 && c->args[i]; i++)
		args[n++] = (char *)c->args[i];
	args[n] = NULL;
	int rc = zr_run_ferry(log, args);
	zdtm_check(rc == 1, "%s: ferry dump exited %d, want 1 (a refusal)", c->name, rc);
	zdtm_read_file(zdtm_path(dir, sizeof(dir), log), out, sizeof(out));
	zr_check_msg(c, out, pid, fd);
	zr_check_alive(c, pid);
	if (write(down[1], "c", 1) != 1 || read(up[0], &ok, sizeof(ok)) != sizeof(ok))
		ok = -1;
	zdtm_check(ok == 0, "%s: the child's state is not intact after the refused dump (%d)", c->name, ok);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	close(down[1]);
	close(up[0]);
	return 0;
}

/* Runs every case, then becomes ready and waits for SIGTERM like any test. */
static inline __attribute__((noreturn)) void zr_main(const char *name, const struct zr_case *cases, int n)
{
	zdtm_init(name);
	zr_find_ferry();
	int skipped = 0;
	for (int i = 0; i < n; i++)
		skipped += zr_run(&cases[i]);
	if (skipped == n)
		zdtm_skip("every case needs what this machine lacks");
	zdtm_ready();
	zdtm_wait_sigterm();
	zdtm_exit();
}

#endif
