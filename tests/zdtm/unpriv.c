// SPDX-License-Identifier: Apache-2.0
// Unprivileged processes in a root tree: two children drop to uids and gids 1000-1002 and 2000,
// no supplementary groups, no capabilities (an empty bounding set for one of them). Changing
// credentials leaves a process not dumpable: one stays so, the other sets PR_SET_DUMPABLE back.
// After restore each compares its ids, groups, capability sets (/proc status), dumpable flag,
// that it cannot become root again, and that a file it made is still its own.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *keys[] = { "Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs" };
#define NK (sizeof(keys) / sizeof(keys[0]))

static int sync_fd[2];

__attribute__((noreturn)) static void child(int n)
{
	char was[NK][128], now[128], file[4096];
	if (n == 1)
		for (int cap = 0; cap < 64; cap++)
			prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
	if (setgroups(0, NULL) < 0 || setresgid(2000, 2000, 2000) < 0 || setresuid(1000, 1001, 1002) < 0)
		zdtm_fail("child %d: drop privileges: %s", n, strerror(errno));
	if (n == 1)
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	for (size_t k = 0; k < NK; k++)
		zdtm_status_field("/proc/self/status", keys[k], was[k], sizeof(was[k]));
	snprintf(file, sizeof(file), "/tmp/zdtm-unpriv-%d-%d", getpid(), n);
	int fd = open(file, O_CREAT | O_EXCL | O_WRONLY, 0600);
	write(sync_fd[1], "r", 1);
	while (!zdtm_sigterm_received())
		usleep(20000);
	for (size_t k = 0; k < NK; k++) {
		zdtm_status_field("/proc/self/status", keys[k], now, sizeof(now));
		zdtm_check(!strcmp(now, was[k]), "child %d: %s is '%s', want '%s'", n, keys[k], now, was[k]);
	}
	zdtm_check(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == dumpable, "child %d: dumpable %d, want %d", n,
		   prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), dumpable);
	errno = 0;
	zdtm_check(setuid(0) < 0 && errno == EPERM, "child %d: became root again (errno %d)", n, errno);
	struct stat st;
	zdtm_check(fd >= 0 && fstat(fd, &st) == 0 && st.st_uid == 1001 && st.st_gid == 2000 && write(fd, "x", 1) == 1,
		   "child %d: its file is not its own", n);
	unlink(file);
	zdtm_exit();
}

int main(void)
{
	pid_t kids[2];
	zdtm_init("unpriv");
	if (getuid() != 0)
		zdtm_skip("needs root to make unprivileged children");
	if (pipe(sync_fd) < 0)
		return 1;
	for (int i = 0; i < 2; i++)
		if ((kids[i] = fork()) == 0)
			child(i);
	char c;
	for (int i = 0; i < 2; i++)
		read(sync_fd[0], &c, 1);
	zdtm_ready();
	zdtm_wait_sigterm();
	for (int i = 0; i < 2; i++) {
		int st = -1;
		kill(kids[i], SIGTERM);
		zdtm_check(waitpid(kids[i], &st, 0) == kids[i] && WIFEXITED(st) && WEXITSTATUS(st) == 0,
			   "child %d: status %#x", i, st);
	}
	zdtm_exit();
}
