// SPDX-License-Identifier: Apache-2.0
// Working and root directories, kept and removed, and open directories that were removed:
//   parent:  its cwd is a directory it removed (rmdir), also held by an open descriptor, and a new
//            directory (with a file in it) was made under the same name: after restore
//            /proc/self/cwd still reads "DIR (deleted)", getcwd() fails with ENOENT, "." and the
//            descriptor are one inode with no links, nothing can be made in it, the new directory is
//            the one it was with its file; another removed
//            directory held only by a descriptor reads no entries (getdents64 as before: ENOENT);
//   child 1: chrooted into a kept directory, its cwd a kept subdirectory: "/" and "." are the same
//            inodes as before, reached through a descriptor opened before the chroot too; a file it
//            opened outside the new root is still open, and still out of reach by path;
//   child 2: chrooted into a directory removed afterwards, cwd its root: "/" is removed, "." is "/".
#include "fdview.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static char dir_cwd[PATH_MAX], dir_open[PATH_MAX], jail[PATH_MAX], gone_jail[PATH_MAX];
static int up[2], down[2];	/* children to parent, parent to child 2 */

static long dents(int fd, int *err)
{
	char buf[1024];
	lseek(fd, 0, SEEK_SET);
	long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
	*err = n < 0 ? errno : 0;
	return n;
}

static void same_dir(const char *what, const char *path, const struct stat *was)
{
	struct stat st;
	zdtm_check(stat(path, &st) == 0 && st.st_ino == was->st_ino && st.st_dev == was->st_dev &&
		   st.st_nlink == was->st_nlink, "%s: %s is inode %lu (%lu links), was %lu (%lu links)", what, path,
		   (unsigned long)st.st_ino, (unsigned long)st.st_nlink, (unsigned long)was->st_ino,
		   (unsigned long)was->st_nlink);
}

static __attribute__((noreturn)) void child_jail(void)
{
	struct stat root, dot, held;
	char sub[PATH_MAX + 8], out[PATH_MAX + 8], got[8];
	snprintf(sub, sizeof(sub), "%s/sub", jail);
	snprintf(out, sizeof(out), "%s.outside", jail);
	int fd, fout = open(out, O_RDWR | O_CREAT | O_EXCL, 0600);	/* a file outside the root it goes into */
	if (fout < 0 || write(fout, "outside", 7) != 7)
		_exit(3);
	if (mkdir(jail, 0755) < 0 || mkdir(sub, 0700) < 0 || (fd = open(sub, O_RDONLY | O_DIRECTORY)) < 0 ||
	    chroot(jail) < 0 || chdir("/sub") < 0 || stat("/", &root) < 0 || stat(".", &dot) < 0 || fstat(fd, &held) < 0)
		_exit(3);
	if (write(up[1], "j", 1) != 1)
		_exit(3);
	zdtm_wait_sigterm();
	same_dir("jail", "/", &root);
	same_dir("jail", ".", &dot);
	same_dir("jail", "/sub", &held);
	zdtm_check(fstat(fd, &root) == 0 && root.st_ino == dot.st_ino, "jail: the held descriptor is not the cwd");
	zdtm_check(access("/sub/../sub", F_OK) == 0, "jail: paths inside the root do not resolve");
	zdtm_check(pread(fout, got, 7, 0) == 7 && !memcmp(got, "outside", 7), "jail: the file outside the root differs");
	zdtm_check(access(out, F_OK) < 0, "jail: the file outside the root is reachable by its path");
	zdtm_exit();
}

static __attribute__((noreturn)) void child_gone(void)
{
	char c;
	if (mkdir(gone_jail, 0700) < 0 || chroot(gone_jail) < 0 || chdir("/") < 0 || write(up[1], "g", 1) != 1)
		_exit(3);
	if (read(down[0], &c, 1) != 1)	/* the parent removed the directory */
		_exit(3);
	zdtm_wait_sigterm();
	struct stat root, dot;
	zdtm_check(stat("/", &root) == 0 && S_ISDIR(root.st_mode) && root.st_nlink == 0, "gone jail: / is not removed");
	zdtm_check(stat(".", &dot) == 0 && dot.st_ino == root.st_ino, "gone jail: . is not /");
	zdtm_check(open("/x", O_CREAT | O_WRONLY, 0600) < 0 && errno == ENOENT, "gone jail: a file can be made in /");
	zdtm_exit();
}

int main(void)
{
	char cwd_link[PATH_MAX + 32], want[PATH_MAX + 32], buf[PATH_MAX];
	struct fd_view vcwd, vopen;
	int err_before, err;
	zdtm_init("cwd_removed");
	zdtm_path(dir_cwd, sizeof(dir_cwd), "cwd");
	zdtm_path(dir_open, sizeof(dir_open), "open");
	zdtm_path(jail, sizeof(jail), "jail");
	zdtm_path(gone_jail, sizeof(gone_jail), "gone");
	if (pipe(up) < 0 || pipe(down) < 0)
		zdtm_skip("pipe: %m");
	fflush(NULL);
	pid_t kid[2] = { fork(), 0 };
	if (kid[0] == 0)
		child_jail();
	kid[1] = fork();
	if (kid[1] == 0)
		child_gone();
	char c1 = 0, c2 = 0;
	if (kid[0] < 0 || kid[1] < 0 || read(up[0], &c1, 1) != 1 || read(up[0], &c2, 1) != 1)
		zdtm_skip("children did not start");
	if (rmdir(gone_jail) < 0 || write(down[1], "r", 1) != 1)
		zdtm_skip("rmdir %s: %m", gone_jail);
	int fcwd, fopen_;
	if (mkdir(dir_cwd, 0750) < 0 || mkdir(dir_open, 0700) < 0 || (fcwd = open(dir_cwd, O_RDONLY | O_DIRECTORY)) < 0 ||
	    (fopen_ = open(dir_open, O_RDONLY | O_DIRECTORY)) < 0 || chdir(dir_cwd) < 0 || rmdir(dir_cwd) < 0 ||
	    rmdir(dir_open) < 0)
		zdtm_skip("set up: %m");
	char newfile[PATH_MAX + 16];
	struct stat newdir;
	snprintf(newfile, sizeof(newfile), "%s/kept", dir_cwd);
	int nf = -1;
	if (mkdir(dir_cwd, 0700) < 0 || (nf = open(newfile, O_CREAT | O_WRONLY, 0600)) < 0 || stat(dir_cwd, &newdir) < 0)
		zdtm_skip("a new %s: %m", dir_cwd);
	close(nf);
	fd_view(fcwd, &vcwd);
	fd_view(fopen_, &vopen);
	long n_before = dents(fopen_, &err_before);
	zdtm_readlink("/proc/self/cwd", cwd_link, sizeof(cwd_link));
	zdtm_ready();
	zdtm_wait_sigterm();

	fd_view_check("cwd descriptor", fcwd, &vcwd, 0);
	fd_view_check("removed dir", fopen_, &vopen, 0);
	zdtm_readlink("/proc/self/cwd", buf, sizeof(buf));
	zdtm_check(!strcmp(buf, cwd_link) && !strcmp(buf, deleted_name(want, sizeof(want), dir_cwd)),
		   "cwd reads '%s', was '%s'", buf, cwd_link);
	zdtm_check(!getcwd(buf, sizeof(buf)) && errno == ENOENT, "getcwd() works in a removed directory");
	struct stat dot, held;
	zdtm_check(stat(".", &dot) == 0 && fstat(fcwd, &held) == 0 && dot.st_ino == held.st_ino && dot.st_nlink == 0,
		   "the cwd and its descriptor are not one removed directory");
	zdtm_check(open("x", O_CREAT | O_WRONLY, 0600) < 0 && errno == ENOENT, "a file can be made in the removed cwd");
	same_dir("the new directory", dir_cwd, &newdir);
	zdtm_check(access(newfile, F_OK) == 0, "the new directory lost its file");
	unlink(newfile);
	rmdir(dir_cwd);
	long n = dents(fopen_, &err);
	zdtm_check(n == n_before && err == err_before, "getdents64 of a removed dir: %ld (%d), was %ld (%d)", n, err,
		   n_before, err_before);
	for (int i = 0; i < 2; i++) {
		int st = 0;
		kill(kid[i], SIGTERM);
		zdtm_check(waitpid(kid[i], &st, 0) == kid[i] && WIFEXITED(st) && WEXITSTATUS(st) == 0,
			   "child %d failed (%#x)", i + 1, st);
	}
	rmdir(jail);	/* best effort: jail/sub is the child's */
	zdtm_exit();
}
