// SPDX-License-Identifier: Apache-2.0
// For tests that check a refusal: they run `ferry dump -R` themselves on a child whose state ferry must
// refuse, check the message names what it must (the object, the child's pid, the fd), and that the child
// runs on untouched: not stopped, not traced, and (with the case table) its own check of the state passes.
// Two ways to use it: zr_expect_refusal() on a child the test made itself, or a table of zr_case run by
// zr_run()/zr_main() (the child sets the state up and checks it afterwards). The test itself then becomes
// ready with nothing special left, so the runner's dump of it is plain.
#ifndef FERRY_TESTS_ZDTM_REFUSE_H
#define FERRY_TESTS_ZDTM_REFUSE_H

#include "zdtm.h"

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char zr_ferry[PATH_MAX];

/* Finds build/src/ferry next to this test's binary (build/tests/zdtm/NAME); skips if absent. */
static inline void zr_find_ferry(void)
{
	char self[PATH_MAX];
	if (zdtm_readlink("/proc/self/exe", self, sizeof(self)) < 0)
		zdtm_skip("no /proc/self/exe");
	snprintf(zr_ferry, sizeof(zr_ferry), "%s/src/ferry", dirname(dirname(dirname(self))));
	if (access(zr_ferry, X_OK) < 0)
		zdtm_skip("ferry not built at %s", zr_ferry);
}

/* Runs ferry with args (args[0]: zr_ferry), its output into <dir>/<log>; its exit status (-1: none). */
static inline int zr_run_ferry(const char *log, char *const args[])
{
	char path[PATH_MAX];
	zdtm_path(path, sizeof(path), log);
	fflush(NULL);
	pid_t p = fork();
	if (p == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execv(zr_ferry, args);
		_exit(127);
	}
	int st;
	if (p < 0 || waitpid(p, &st, 0) != p)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* pid must run on after a refused dump: not stopped, not traced, not dead. */
static inline void zr_check_alive(const char *name, pid_t pid)
{
	char path[64], state[32] = "", tracer[32] = "";
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	zdtm_check(zdtm_status_field(path, "State", state, sizeof(state)) == 0 && strchr("RS", state[0]),
		   "%s: after the refused dump pid %d is in state '%s'", name, (int)pid, state);
	zdtm_check(zdtm_status_field(path, "TracerPid", tracer, sizeof(tracer)) == 0 && !strcmp(tracer, "0"),
		   "%s: after the refused dump pid %d is traced by %s", name, (int)pid, tracer);
}

/*
 * `ferry dump -t pid -D <dir>/<name> -R [extra...]` (output in <dir>/<name>.out) must fail (exit 1)
 * with a message holding each of the nwant strings, and pid must run on.
 */
static inline void zr_refused(pid_t pid, const char *name, const char *const *extra, const char *const *want, int nwant)
{
	char img[PATH_MAX], log[PATH_MAX], spid[16], out[8192] = "";
	snprintf(spid, sizeof(spid), "%d", (int)pid);
	snprintf(log, sizeof(log), "%s.out", name);
	zdtm_path(img, sizeof(img), name);
	mkdir(img, 0755);
	char *args[24] = { zr_ferry, "dump", "-t", spid, "-D", img, "-R" };
	int n = 7;
	for (int i = 0; extra && extra[i] && n < 23; i++)
		args[n++] = (char *)extra[i];
	args[n] = NULL;
	int rc = zr_run_ferry(log, args);
	zdtm_read_file(zdtm_path(img, sizeof(img), log), out, sizeof(out));
	zdtm_check(rc == 1, "%s: ferry dump exited %d, want 1 (a refusal): %s", name, rc, out);
	for (int i = 0; i < nwant; i++)
		zdtm_check(strstr(out, want[i]) != NULL, "%s: the refusal does not say '%s': %s", name, want[i], out);
	zr_check_alive(name, pid);
}

/* The same on a child the test made: extra is one more dump argument (or NULL), then wanted strings, NULL. */
static inline void zr_expect_refusal(pid_t pid, const char *name, const char *extra, ...)
{
	const char *want[16], *ex[2] = { extra, NULL };
	int n = 0;
	va_list ap;
	va_start(ap, extra);
	for (const char *w; (w = va_arg(ap, const char *)) && n < 16;)
		want[n++] = w;
	va_end(ap);
	zr_refused(pid, name, ex, want, n);
}

/* ------------------------------------------------------------------ case tables */

struct zr_case {
	const char *name;
	/* In the child: sets the state up; returns the fd ferry must name (or -1), <0 - 1000 to skip. */
	int (*setup)(void);
	/* In the child, after the failed dump: 0 if the state is intact. */
	int (*check)(void);
	const char *want[4];	/* strings the message must hold ("%pid", "%fd": the child's) */
	const char *args[4];	/* extra dump arguments */
};

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

/* Runs one case; 0 when it ran, 1 when the child skipped it. */
static inline int zr_run(const struct zr_case *c)
{
	int down[2], up[2], fd = -1, ok = -1, st;
	if (pipe(down) < 0 || pipe(up) < 0)
		zdtm_skip("pipe: %m");
	fflush(NULL);
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
	char want[4][256], name[128];
	const char *w[4];
	int n = 0;
	for (; n < 4 && c->want[n]; n++) {
		if (!strcmp(c->want[n], "%pid"))
			snprintf(want[n], sizeof(want[n]), "pid %d", pid);
		else if (!strcmp(c->want[n], "%fd"))
			snprintf(want[n], sizeof(want[n]), "fd %d", fd);
		else
			snprintf(want[n], sizeof(want[n]), "%s", c->want[n]);
		w[n] = want[n];
	}
	snprintf(name, sizeof(name), "refused-%s", c->name);
	zr_refused(pid, name, c->args, w, n);
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
