// SPDX-License-Identifier: Apache-2.0
// Working directories under /proc/PID of the tree (files/proc.c entries, opened once the tasks
// exist): the process's cwd is its own /proc/PID, a thread that left the process's fs
// (unshare(CLONE_FS)) is in /proc/PID/task/TID. After restore both read the same and "." is
// the very directory /proc/self and /proc/self/task/TID name now.
#include "zdtm.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile int up, step;
static char want_t[64];

static void same_dir(const char *who, const char *link_path, const char *want, const char *dir)
{
	char link[PATH_MAX];
	struct stat a, b;
	zdtm_check(zdtm_readlink(link_path, link, sizeof(link)) > 0 && !strcmp(link, want), "%s: cwd reads %s, want %s",
		   who, link, want);
	zdtm_check(stat(".", &a) == 0 && stat(dir, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev,
		   "%s: \".\" is not %s", who, dir);
}

static void *thread(void *arg)
{
	char dir[64], link[64];
	snprintf(dir, sizeof(dir), "/proc/%d/task/%d", getpid(), zdtm_gettid());
	snprintf(link, sizeof(link), "/proc/self/task/%d/cwd", zdtm_gettid());
	snprintf(want_t, sizeof(want_t), "%s", dir);
	if (unshare(CLONE_FS) < 0 || chdir(dir) < 0)
		zdtm_fail("thread: set up: %s", strerror(errno));
	__atomic_store_n(&up, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&step, __ATOMIC_SEQ_CST))
		usleep(10000);
	same_dir("thread", link, want_t, dir);
	__atomic_store_n(&step, 2, __ATOMIC_SEQ_CST);
	return NULL;
}

int main(void)
{
	char want[64];
	pthread_t t;
	zdtm_init("cwd_proc");
	snprintf(want, sizeof(want), "/proc/%d", getpid());
	if (chdir("/proc/self") < 0 || pthread_create(&t, NULL, thread, NULL))
		zdtm_skip("set up: %m");
	while (!__atomic_load_n(&up, __ATOMIC_SEQ_CST))
		usleep(10000);
	zdtm_ready();
	zdtm_wait_sigterm();

	same_dir("process", "/proc/self/cwd", want, "/proc/self");
	__atomic_store_n(&step, 1, __ATOMIC_SEQ_CST);
	pthread_join(t, NULL);
	zdtm_check(step == 2, "the thread did not check");
	zdtm_exit();
}
