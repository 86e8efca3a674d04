// SPDX-License-Identifier: Apache-2.0
// cwd, root and umask live in an fs_struct that clone() may share. Thread U leaves the process's
// (unshare(CLONE_FS)), changes into a directory of its own and sets umask 077; thread S keeps
// sharing the main thread's; a child process C was made with clone(CLONE_FS), sharing the root
// process's. After restore: kcmp(KCMP_FS) between all of them as before, U's own cwd and umask,
// and sharing in action: the root changes directory and umask, and C sees both.
#include "zdtm.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define KCMP_FS 3

static pid_t tid_u, tid_s;
static char dir_u[PATH_MAX], dir_x[PATH_MAX], dir_main[PATH_MAX];
static volatile int up, done_u;
static char stack[65536] __attribute__((aligned(16)));

static int same_fs(pid_t a, pid_t b)
{
	return syscall(SYS_kcmp, a, b, KCMP_FS, 0, 0) == 0;
}

static void *thread_u(void *arg)
{
	tid_u = zdtm_gettid();
	if (unshare(CLONE_FS) < 0 || chdir(dir_u) < 0)
		zdtm_fail("thread U: set up: %s", strerror(errno));
	umask(077);
	__atomic_fetch_add(&up, 1, __ATOMIC_SEQ_CST);
	while (!zdtm_sigterm_received())
		usleep(10000);
	char cwd[PATH_MAX] = "";
	getcwd(cwd, sizeof(cwd));
	zdtm_check(!strcmp(cwd, dir_u), "thread U: cwd %s, want %s", cwd, dir_u);
	mode_t m = umask(077);
	zdtm_check(m == 077, "thread U: umask %03o, want 077", m);
	__atomic_store_n(&done_u, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void *thread_s(void *arg)
{
	tid_s = zdtm_gettid();
	__atomic_fetch_add(&up, 1, __ATOMIC_SEQ_CST);
	while (!zdtm_sigterm_received() || !__atomic_load_n(&done_u, __ATOMIC_SEQ_CST))
		usleep(10000);
	return NULL;
}

static int child_c(void *arg)
{
	for (;;)
		pause();
	return 0;
}

int main(void)
{
	pthread_t u, s;
	char path[64], link[PATH_MAX];
	zdtm_init("fs_sharing");
	zdtm_path(dir_u, sizeof(dir_u), "u");
	zdtm_path(dir_x, sizeof(dir_x), "x");
	mkdir(dir_u, 0755);
	mkdir(dir_x, 0755);
	getcwd(dir_main, sizeof(dir_main));
	umask(022);
	pid_t c = clone(child_c, stack + sizeof(stack), CLONE_FS | SIGCHLD, NULL);
	if (c < 0)
		zdtm_fail("clone(CLONE_FS): %s", strerror(errno));
	pthread_create(&u, NULL, thread_u, NULL);
	pthread_create(&s, NULL, thread_s, NULL);
	while (__atomic_load_n(&up, __ATOMIC_SEQ_CST) < 2)
		usleep(1000);
	zdtm_check(same_fs(getpid(), c) && same_fs(getpid(), tid_s) && !same_fs(getpid(), tid_u),
		   "the sharing is not as set up");
	zdtm_ready();
	zdtm_wait_sigterm();

	zdtm_check(same_fs(getpid(), c), "the child no longer shares the root's fs");
	zdtm_check(same_fs(getpid(), tid_s), "thread S no longer shares the main thread's fs");
	zdtm_check(!same_fs(getpid(), tid_u), "thread U shares the main thread's fs");
	char cwd[PATH_MAX] = "";
	getcwd(cwd, sizeof(cwd));
	zdtm_check(!strcmp(cwd, dir_main), "main: cwd %s, want %s", cwd, dir_main);
	while (!__atomic_load_n(&done_u, __ATOMIC_SEQ_CST))
		usleep(1000);
	chdir(dir_x);
	umask(0027);
	snprintf(path, sizeof(path), "/proc/%d/cwd", c);
	zdtm_readlink(path, link, sizeof(link));
	zdtm_check(!strcmp(link, dir_x), "the child's cwd is %s after the root's chdir to %s", link, dir_x);
	snprintf(path, sizeof(path), "/proc/%d/status", c);
	char um[16] = "";
	zdtm_status_field(path, "Umask", um, sizeof(um));
	zdtm_check(!strcmp(um, "0027"), "the child's umask is %s after the root's umask(0027)", um);
	pthread_join(u, NULL);
	pthread_join(s, NULL);
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	zdtm_exit();
}
