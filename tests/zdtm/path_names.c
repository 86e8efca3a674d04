// SPDX-License-Identifier: Apache-2.0
// Files by path whatever their names look like: spaces, a newline, a tab, non-ASCII bytes, a leading
// dash, a real name ending in " (deleted)" (kept, and another one removed), a path of 4000 bytes
// through nested directories (opened relative to a directory descriptor), a file on tmpfs, a file in
// a directory that lost all its permissions after the open, a directory by O_RDONLY|O_DIRECTORY at an
// offset; some with O_CLOEXEC. After restore each descriptor shows the same name, fdinfo flags, pos
// and mnt_id, close-on-exec, and (kept ones) is the very inode its path names.
#include "fdview.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>

struct nf { char path[PATH_MAX]; int fd; int removed; struct fd_view v; };
static struct nf nfs[16];
static int nnf;

static struct nf *add(const char *path, int fd, int removed)
{
	struct nf *n = &nfs[nnf++];
	snprintf(n->path, sizeof(n->path), "%s", path);
	n->fd = fd;
	n->removed = removed;
	return n;
}

static int plain(const char *dir, const char *name, int flags, int remove)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | flags, 0640);
	if (fd < 0 || write(fd, name, strlen(name)) < 0 || (remove && unlink(path) < 0))
		return -1;
	lseek(fd, 1, SEEK_SET);
	add(path, fd, remove);
	return 0;
}

/* dir/aaaa.../aaaa.../file, 4000 bytes in all, the file opened relative to its directory. */
static int deep(const char *dir)
{
	char path[PATH_MAX], comp[201];
	memset(comp, 'd', 200);
	comp[200] = 0;
	snprintf(path, sizeof(path), "%s", dir);
	int dfd = open(dir, O_PATH | O_DIRECTORY);
	while (dfd >= 0 && strlen(path) + 201 + 20 < 4000) {
		int next;
		if (mkdirat(dfd, comp, 0755) < 0 || (next = openat(dfd, comp, O_PATH | O_DIRECTORY)) < 0)
			return -1;
		close(dfd);
		dfd = next;
		strcat(path, "/");
		strcat(path, comp);
	}
	size_t left = 4000 - strlen(path) - 1;
	char name[256];
	memset(name, 'f', left);
	name[left] = 0;
	int fd = openat(dfd, name, O_RDWR | O_CREAT | O_EXCL, 0600);
	close(dfd);
	if (fd < 0)
		return -1;
	strcat(path, "/");
	strcat(path, name);
	add(path, fd, 0);
	return 0;
}

static int locked(const char *dir)
{
	char d[PATH_MAX];
	snprintf(d, sizeof(d), "%s/locked", dir);
	if (mkdir(d, 0700) < 0 || plain(d, "inside", O_CLOEXEC, 0) < 0 || chmod(d, 0) < 0)
		return -1;
	snprintf(d, sizeof(d), "%s/listing", dir);	/* a directory of its own: the runner adds to the test's */
	if (mkdir(d, 0755) < 0)
		return -1;
	for (int i = 0; i < 20; i++) {
		char e[PATH_MAX + 16];
		snprintf(e, sizeof(e), "%s/entry-%d", d, i);
		if (mkdir(e, 0700) < 0)
			return -1;
	}
	int fd = open(d, O_RDONLY | O_DIRECTORY);
	struct dirent *de;
	DIR *dd = fdopendir(dup(fd));
	while (dd && (de = readdir(dd)) && strcmp(de->d_name, "entry-7"))	/* a directory offset mid-way */
		;
	if (!dd)
		return -1;
	lseek(fd, telldir(dd), SEEK_SET);
	closedir(dd);
	add(d, fd, 0);
	return 0;
}

/* A removed file with quotes, a backslash, a newline and a percent sign, in a read-only directory. */
static int readonly_dir(const char *dir)
{
	char d[PATH_MAX];
	snprintf(d, sizeof(d), "%s/ro", dir);
	if (mkdir(d, 0700) < 0 || plain(d, "odd\\file'\n\"un%link", 0, 0) < 0 || chmod(d, 0500) < 0 ||
	    unlink(nfs[nnf - 1].path) < 0)
		return -1;
	nfs[nnf - 1].removed = 1;
	return 0;
}

int main(void)
{
	char shm[PATH_MAX];
	zdtm_init("path_names");
	const char *dir = zdtm_dir(), *tdir = tmpfs_dir(shm, sizeof(shm), "names");
	if (plain(dir, "with space", 0, 0) < 0 || plain(dir, "new\nline", O_CLOEXEC, 0) < 0 ||
	    plain(dir, "tab\there", 0, 0) < 0 || plain(dir, "\xc3\xbcn\xc3\xaf", O_APPEND, 0) < 0 ||
	    plain(dir, "-dash", 0, 0) < 0 || plain(dir, "real (deleted)", 0, 0) < 0 ||
	    plain(dir, "gone (deleted)", O_CLOEXEC, 1) < 0 || deep(dir) < 0 || locked(dir) < 0 || readonly_dir(dir) < 0 ||
	    (tdir && plain(tdir, "on tmpfs", 0, 0) < 0))
		zdtm_skip("set up: %m");
	for (int i = 0; i < nnf; i++)
		fd_view(nfs[i].fd, &nfs[i].v);
	zdtm_ready();
	zdtm_wait_sigterm();

	for (int i = 0; i < nnf; i++) {
		struct nf *n = &nfs[i];
		struct stat st;
		fd_view_check(n->path, n->fd, &n->v, n->removed ? VIEW_SIZE : VIEW_INODE | VIEW_SIZE);
		if (!n->removed)
			zdtm_check(stat(n->path, &st) == 0 && st.st_ino == n->v.st.st_ino, "%s: not the file its path names",
				   n->path);
		else
			zdtm_check(access(n->path, F_OK) < 0, "%s: exists again", n->path);
	}
	char locked_dir[PATH_MAX];
	chmod(zdtm_path(locked_dir, sizeof(locked_dir), "locked"), 0700);
	if (tdir) {
		char p[PATH_MAX + 16];
		snprintf(p, sizeof(p), "%s/on tmpfs", tdir);
		unlink(p);
		rmdir(tdir);
	}
	zdtm_exit();
}
