// SPDX-License-Identifier: Apache-2.0
// /proc entries of a process that died since they were opened: ferry cannot restore them exactly (the
// restore would need a helper process at the dead pid), so each is refused by name and the holder runs
// on with the same state: a descriptor of /proc/C/mountinfo and one of the /proc/C directory of a child C
// killed and reaped, and a working directory in /proc/D of another reaped child D. After the refused dump
// the descriptors still read as before (EOF or an error) and getcwd() still fails with ENOENT.
#include "zdtm_refuse.h"

#include <errno.h>

static int fd_errno(int fd)
{
	char buf[256];
	errno = 0;
	return pread(fd, buf, sizeof(buf), 0) < 0 ? errno : 0;
}

static int held, held_err;

/* A child that only waits to be killed; -1 if fork failed. */
static pid_t pausing_child(void)
{
	pid_t p = fork();
	if (!p) {
		for (;;)
			pause();
	}
	return p;
}

static void kill_reap(pid_t p)
{
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
}

static int open_dead(const char *what, int flags)
{
	char path[64];
	pid_t c = pausing_child();
	if (c < 0)
		return -1001;
	snprintf(path, sizeof(path), "/proc/%d%s", c, what);
	held = open(path, flags);
	kill_reap(c);
	held_err = fd_errno(held);
	return held < 0 ? -1002 : held;
}

static int setup_mountinfo(void) { return open_dead("/mountinfo", O_RDONLY); }
static int setup_dir(void) { return open_dead("", O_RDONLY | O_DIRECTORY); }

static int check_fd(void)
{
	return fcntl(held, F_GETFD) == 0 && fd_errno(held) == held_err ? 0 : 1;
}

static int setup_cwd(void)
{
	char path[64];
	pid_t d = pausing_child();
	if (d < 0)
		return -1001;
	snprintf(path, sizeof(path), "/proc/%d", d);
	int r = chdir(path);
	kill_reap(d);
	return r < 0 ? -1002 : -1;
}

static int check_cwd(void)
{
	char buf[256];
	errno = 0;
	return !getcwd(buf, sizeof(buf)) && errno == ENOENT ? 0 : 1;
}

static const struct zr_case cases[] = {
	{ "mountinfo", setup_mountinfo, check_fd, { "%pid", "%fd", "mountinfo", "not in the dumped tree" } },
	{ "procdir", setup_dir, check_fd, { "%pid", "%fd", "/proc/", "not in the dumped tree" } },
	{ "cwd", setup_cwd, check_cwd, { "%pid", "working directory", "/proc/", "not in the dumped tree" } },
};

int main(void)
{
	zr_main("proc_dead", cases, sizeof(cases) / sizeof(cases[0]));
}
