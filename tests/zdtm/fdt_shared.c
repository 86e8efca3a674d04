// SPDX-License-Identifier: Apache-2.0
// Shared tables: child A is cloned with CLONE_FILES, and A clones grandchild G with CLONE_FILES (one
// table for three processes); child B is cloned with CLONE_FS (cwd, root and umask shared); child C
// shares nothing. After restore: a file the parent opens at fd 128 is there in A and G and not in C,
// one A opens at fd 129 is there in the parent, fds A and G close are gone for the parent; the
// parent's chdir and umask are B's and not C's, B's chdir is the parent's.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static int bad;
#define CCHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); bad = 1; } } while (0)

static int report[2];	/* children write a byte when set up */

/* fork-like clone with shared parts (no new stack: the child runs on a copy of ours). */
static pid_t clone_with(unsigned long flags)
{
	fflush(NULL);
	return (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0, NULL, NULL, 0);
}

static int rdev_of(int fd, dev_t *rdev)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	*rdev = st.st_rdev;
	return 0;
}

static void wait_term_then(int (*check)(void))
{
	zdtm_wait_sigterm();
	_exit(check());
}

/* G: checks fd 128 (opened by the root after restore) is /dev/zero, then closes fd 130. */
static int g_check(void)
{
	dev_t rdev = 0;
	CCHECK(rdev_of(128, &rdev) == 0 && rdev == makedev(1, 5), "G: fd 128 is not /dev/zero (%m)");
	CCHECK(close(130) == 0, "G: fd 130 was not open: %m");
	return bad;
}

static int a_check(void)
{
	dev_t rdev = 0;
	CCHECK(rdev_of(128, &rdev) == 0 && rdev == makedev(1, 5), "A: fd 128 is not /dev/zero (%m)");
	int fd = open("/dev/null", O_RDONLY);
	CCHECK(fd >= 0 && dup2(fd, 129) == 129, "A: dup2 129: %m");
	close(fd);
	return bad;
}

static int c_check(void)
{
	char cwd[PATH_MAX];
	CCHECK(fcntl(128, F_GETFD) < 0 && errno == EBADF, "C: fd 128 of the other table is open here");
	CCHECK(fcntl(130, F_GETFD) >= 0, "C: its own copy of fd 130 is gone");
	CCHECK(getcwd(cwd, sizeof(cwd)) && !strcmp(cwd, zdtm_dir()), "C: cwd %s, want %s (not shared)", cwd, zdtm_dir());
	mode_t m = umask(0);
	CCHECK(m == 022, "C: umask %03o, want 022 (not shared)", m);
	return bad;
}

static int b_check(void)
{
	char cwd[PATH_MAX];
	CCHECK(getcwd(cwd, sizeof(cwd)) && !strcmp(cwd, "/"), "B: cwd %s, want / (the parent's chdir)", cwd);
	mode_t m = umask(0);
	umask(m);
	CCHECK(m == 077, "B: umask %03o, want 077 (the parent's)", m);
	CCHECK(chdir("/tmp") == 0, "B: chdir: %m");
	return bad;
}

static void signal_ready(void)
{
	if (write(report[1], "r", 1) != 1)
		_exit(3);
}

static pid_t start(unsigned long flags, int (*check)(void))
{
	pid_t p = clone_with(flags);
	if (p == 0) {
		signal_ready();
		wait_term_then(check);
	}
	return p;
}

/* A: shares the root's table, and clones G sharing it too. */
static pid_t start_a(pid_t *g)
{
	int gp[2];
	if (pipe(gp) < 0)
		return -1;
	pid_t p = clone_with(CLONE_FILES);
	if (p == 0) {
		pid_t gg = start(CLONE_FILES, g_check);
		if (write(gp[1], &gg, sizeof(gg)) != sizeof(gg))
			_exit(4);
		signal_ready();
		zdtm_wait_sigterm();
		int st = 0;
		int r = a_check();
		kill(gg, SIGTERM);
		waitpid(gg, &st, 0);
		CCHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "A: G failed (status %#x)", st);
		_exit(r | bad);
	}
	if (p > 0 && read(gp[0], g, sizeof(*g)) != sizeof(*g))
		return -1;
	return p;
}

static int child_ok(pid_t p, const char *name)
{
	int st = 0;
	kill(p, SIGTERM);
	if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		zdtm_fail("child %s failed (status %#x, see its lines above)", name, st);
		return 0;
	}
	return 1;
}

int main(void)
{
	pid_t g = 0;
	char buf[1];
	zdtm_init("fdt_shared");
	umask(022);
	if (chdir(zdtm_dir()) < 0 || pipe(report) < 0)
		zdtm_skip("setup: %m");
	int fd = open("/dev/null", O_RDONLY);
	if (fd < 0 || dup2(fd, 130) != 130)
		zdtm_skip("dup2: %m");
	close(fd);
	pid_t a = start_a(&g), b = start(CLONE_FS, b_check), c = start(0, c_check);
	if (a < 0 || b < 0 || c < 0)
		zdtm_skip("clone: %m");
	for (int i = 0; i < 4; i++)
		if (read(report[0], buf, 1) != 1)
			zdtm_skip("a child failed to start");
	zdtm_ready();
	zdtm_wait_sigterm();

	fd = open("/dev/zero", O_RDONLY);
	zdtm_check(fd >= 0 && dup2(fd, 128) == 128, "dup2 128: %m");
	close(fd);
	umask(077);
	zdtm_check(chdir("/") == 0, "chdir: %m");
	child_ok(c, "C");
	child_ok(a, "A");	/* A also checks G, which closes fd 130 */
	dev_t rdev = 0;
	zdtm_check(rdev_of(129, &rdev) == 0 && rdev == makedev(1, 3), "fd 129 that A opened is not here (%m)");
	zdtm_check(fcntl(130, F_GETFD) < 0 && errno == EBADF, "fd 130 that G closed is still open");
	child_ok(b, "B");
	char cwd[PATH_MAX];
	zdtm_check(getcwd(cwd, sizeof(cwd)) && !strcmp(cwd, "/tmp"), "cwd %s, want /tmp (B's chdir)", cwd);
	zdtm_exit();
}
