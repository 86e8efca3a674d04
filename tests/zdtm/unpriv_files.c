// SPDX-License-Identifier: Apache-2.0
// Files of a process that runs as an unprivileged user (65534): a file root made with mode 0600 and
// opened before the process dropped its privileges (it could not open it again), its own file in its
// own 0700 directory, its working directory there, a file it made and removed (its owner and mode
// 0640), and a file in a directory it may not search any more. ferry opens them all as root at
// restore; what the process sees must not change: the same owners, modes, flags and offsets, writes
// still work, and its credentials still forbid what they forbade (opening root's file by path).
#include "fdview.h"

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#define NOBODY 65534
enum { ROOTS, OWN, REMOVED, HIDDEN, NF };
static int fds[NF];
static struct fd_view views[NF];
static char paths[NF][PATH_MAX];
static const char *names[NF] = { "roots", "home/own", "home/removed", "closed/hidden" };

static int make(int i, mode_t mode)
{
	fds[i] = open(paths[i], O_RDWR | O_CREAT | O_EXCL, mode);
	return fds[i] < 0 || write(fds[i], names[i], strlen(names[i])) < 0 ? -1 : 0;
}

static __attribute__((noreturn)) void child(int ready)
{
	char home[PATH_MAX], closed[PATH_MAX];
	zdtm_path(home, sizeof(home), "home");
	zdtm_path(closed, sizeof(closed), "closed");
	for (int i = 0; i < NF; i++)
		zdtm_path(paths[i], sizeof(paths[i]), names[i]);
	if (make(ROOTS, 0600) < 0 || mkdir(home, 0700) < 0 || chown(home, NOBODY, NOBODY) < 0 ||
	    mkdir(closed, 0700) < 0 || chown(closed, NOBODY, NOBODY) < 0 || setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0)
		_exit(3);
	if (chdir(home) < 0 || make(OWN, 0600) < 0 || make(REMOVED, 0640) < 0 || unlink(paths[REMOVED]) < 0 ||
	    make(HIDDEN, 0644) < 0 || chmod(closed, 0) < 0)
		_exit(4);
	for (int i = 0; i < NF; i++) {
		lseek(fds[i], i + 1, SEEK_SET);
		fd_view(fds[i], &views[i]);
	}
	if (write(ready, "r", 1) != 1)
		_exit(5);
	zdtm_wait_sigterm();
	for (int i = 0; i < NF; i++) {
		fd_view_check(names[i], fds[i], &views[i], i == REMOVED ? VIEW_SIZE : VIEW_INODE | VIEW_SIZE);
		zdtm_check(pwrite(fds[i], "w", 1, 0) == 1, "%s: write after restore: %m", names[i]);
	}
	zdtm_check(views[ROOTS].st.st_uid == 0 && views[OWN].st.st_uid == NOBODY && views[REMOVED].st.st_uid == NOBODY,
		   "owners were not what the test meant");
	zdtm_check(getuid() == NOBODY && geteuid() == NOBODY && getgid() == NOBODY, "credentials changed");
	zdtm_check(open(paths[ROOTS], O_RDONLY) < 0 && errno == EACCES, "root's 0600 file opens by path");
	zdtm_check(open(paths[HIDDEN], O_RDONLY) < 0 && errno == EACCES, "a file in a closed directory opens by path");
	char cwd[PATH_MAX];
	zdtm_check(getcwd(cwd, sizeof(cwd)) && strstr(cwd, "/home"), "cwd is %s", cwd);
	zdtm_exit();
}

int main(void)
{
	int p[2];
	char c;
	zdtm_init("unpriv_files");
	if (pipe(p) < 0)
		zdtm_skip("pipe: %m");
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		child(p[1]);
	close(p[1]);
	if (pid < 0 || read(p[0], &c, 1) != 1) {
		int st = 0;
		waitpid(pid, &st, 0);
		zdtm_skip("the unprivileged child could not set up (exit status %#x)", st);
	}
	zdtm_ready();
	zdtm_wait_sigterm();
	kill(pid, SIGTERM);
	int st = 0;
	zdtm_check(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed (%#x)", st);
	char closed[PATH_MAX];
	chmod(zdtm_path(closed, sizeof(closed), "closed"), 0755);
	zdtm_exit();
}
