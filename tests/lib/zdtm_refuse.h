// SPDX-License-Identifier: Apache-2.0
// For tests that check a refusal: they run `ferry dump -R` themselves on a child (whose state ferry
// must refuse), check the message names what it must, and that the child runs on untouched.
#ifndef FERRY_TESTS_ZDTM_REFUSE_H
#define FERRY_TESTS_ZDTM_REFUSE_H

#include "zdtm.h"

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char zr_ferry_bin[PATH_MAX];

/* Finds build/src/ferry next to this test's binary (build/tests/zdtm/NAME); skips if absent. */
static inline void zr_find_ferry(void)
{
	char self[PATH_MAX];
	if (zdtm_readlink("/proc/self/exe", self, sizeof(self)) < 0)
		zdtm_skip("no /proc/self/exe");
	snprintf(zr_ferry_bin, sizeof(zr_ferry_bin), "%s/src/ferry", dirname(dirname(dirname(self))));
	if (access(zr_ferry_bin, X_OK) < 0)
		zdtm_skip("ferry not built at %s", zr_ferry_bin);
}

/* Process state letter of pid ('?' if unreadable). */
static inline char zr_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (zdtm_read_file(path, buf, sizeof(buf)) < 0)
		return '?';
	const char *p = strrchr(buf, ')');
	return p && p[1] && p[2] ? p[2] : '?';
}

/*
 * Runs `ferry dump -t pid -D <dir>/<name> -R [extra]` with stdout and stderr in <dir>/<name>.out,
 * which is read into out. Returns ferry's exit status, -1 if it could not run.
 */
static inline int zr_dump(pid_t pid, const char *name, const char *extra, char *out, size_t size)
{
	char img[PATH_MAX], log[PATH_MAX + 8], spid[16];
	zdtm_path(img, sizeof(img), name);
	snprintf(log, sizeof(log), "%s.out", img);
	snprintf(spid, sizeof(spid), "%d", (int)pid);
	mkdir(img, 0755);
	fflush(NULL);
	pid_t p = fork();
	if (p == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		char *args[] = { zr_ferry_bin, "dump", "-t", spid, "-D", img, "-R", (char *)extra, NULL };
		execv(zr_ferry_bin, args);
		_exit(127);
	}
	int st;
	if (p < 0 || waitpid(p, &st, 0) != p)
		return -1;
	out[0] = 0;
	zdtm_read_file(log, out, size);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * The dump of pid must fail (exit 1) with a message holding every string of the NULL-terminated
 * list, and pid must still run (not stopped, not traced, not dead) afterwards.
 */
static inline void zr_expect_refusal(pid_t pid, const char *name, const char *extra, ...)
{
	char out[8192];
	int rc = zr_dump(pid, name, extra, out, sizeof(out));
	zdtm_check(rc == 1, "%s: ferry dump exited %d, want 1 (a refusal): %s", name, rc, out);
	va_list ap;
	va_start(ap, extra);
	for (const char *want; (want = va_arg(ap, const char *));)
		zdtm_check(strstr(out, want) != NULL, "%s: the refusal does not say '%s': %s", name, want, out);
	va_end(ap);
	char path[64], tracer[32] = "";
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	zdtm_status_field(path, "TracerPid", tracer, sizeof(tracer));
	char st = zr_state(pid);
	zdtm_check(st == 'S' || st == 'R', "%s: after the refused dump pid %d is in state %c", name, (int)pid, st);
	zdtm_check(!strcmp(tracer, "0"), "%s: after the refused dump pid %d is traced by %s", name, (int)pid, tracer);
}

#endif
