/* SPDX-License-Identifier: Apache-2.0 */
/* Opening and publishing files safely in directories others may reach (safefile.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/cleanup.h"
#include "common/safefile.h"
#include "common/util.h"

static const char *ftype(mode_t m)
{
	return S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device" :
	       S_ISSOCK(m) ? "a socket" : S_ISDIR(m) ? "a directory" : S_ISLNK(m) ? "a symlink" : "not a regular file";
}

int safe_dir_check(int dirfd, const char *path, struct ferry_err *err)
{
	struct stat st;
	uid_t me = geteuid();
	if (fstat(dirfd, &st) < 0)
		return fe_set(err, errno, "stat %s", path);
	if (!S_ISDIR(st.st_mode))
		return fe_msg(err, ENOTDIR, "%s is %s, not a directory", path, ftype(st.st_mode));
	if (st.st_uid != me)
		return fe_msg(err, EPERM, "%s belongs to uid %u, not to uid %u that runs ferry: its owner could "
			      "make ferry write through links planted there; use a directory of your own (or "
			      "chown %u %s)", path, (unsigned)st.st_uid, (unsigned)me, (unsigned)me, path);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return fe_msg(err, EPERM, "%s is writable by %s (mode %04o): they could plant links there that "
			      "ferry would write through; chmod go-w %s, or use a directory of your own", path,
			      st.st_mode & S_IWOTH ? "everyone" : "its group", (unsigned)(st.st_mode & 07777), path);
	return 0;
}

/* A symlink another user owns is not followed (the fs.protected_symlinks rule, everywhere). */
static int check_link(const char *path, struct ferry_err *err)
{
	struct stat st;
	if (lstat(path, &st) < 0 || !S_ISLNK(st.st_mode) || st.st_uid == geteuid())
		return 0;
	return fe_msg(err, EPERM, "%s is a symlink owned by uid %u: ferry does not follow it; name the "
		      "directory itself", path, (unsigned)st.st_uid);
}

static int make_dir(const char *path, struct ferry_err *err)
{
	char parent[PATH_MAX];
	if (snprintf(parent, sizeof(parent), "%s", path) >= (int)sizeof(parent))
		return fe_msg(err, ENAMETOOLONG, "%s: path too long", path);
	char *p = dirname(parent);
	int r = strcmp(p, ".") && strcmp(p, "/") ? mkdir_p(p, 0755) : 0;
	if (r < 0)
		return fe_set(err, -r, "create %s", p);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return fe_set(err, errno, "create %s", path);
	return 0;
}

int safe_dir_open(const char *path, int create, struct ferry_err *err)
{
	int r = create ? make_dir(path, err) : 0;
	if (r == 0)
		r = check_link(path, err);
	if (r < 0)
		return r;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fe_set(err, errno, "open %s", path);
	if ((r = safe_dir_check(fd, path, err)) < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int safe_open_read(int dirfd, const char *name, struct stat *st, struct ferry_err *err)
{
	struct stat s;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP ? fe_msg(err, ELOOP, "%s is a symlink: refusing to follow it", name)
				      : fe_set(err, errno, "open %s", name);
	if (fstat(fd, &s) < 0) {
		int e = errno;
		close(fd);
		return fe_set(err, e, "stat %s", name);
	}
	if (!S_ISREG(s.st_mode)) {
		close(fd);
		return fe_msg(err, EBADMSG, "%s is %s, not a regular file: refusing it", name, ftype(s.st_mode));
	}
	fcntl(fd, F_SETFL, 0);	/* O_NONBLOCK only guarded the open */
	if (st)
		*st = s;
	return fd;
}

int safe_open_trunc(int dirfd, const char *name, mode_t mode, struct ferry_err *err)
{
	struct stat st;
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);
	if (fd < 0)
		return errno == ELOOP ? fe_msg(err, ELOOP, "%s is a symlink: refusing to write through it", name)
				      : fe_set(err, errno, "open %s", name);
	const char *why = NULL;
	if (fstat(fd, &st) < 0)
		why = "cannot be examined";
	else if (!S_ISREG(st.st_mode))
		why = ftype(st.st_mode);
	else if (st.st_nlink != 1)
		why = "a file with other links (a hard link to another file?)";
	else if (st.st_uid != geteuid())
		why = "owned by another user";
	if (!why && (ftruncate(fd, 0) < 0 || ((st.st_mode & 07777) != mode && fchmod(fd, mode) < 0)))
		why = "cannot be truncated";
	if (why) {
		close(fd);
		return fe_msg(err, EPERM, "%s is %s: refusing to write it", name, why);
	}
	fcntl(fd, F_SETFL, 0);
	return fd;
}

static void random_name(char *buf, size_t len, const char *for_name)
{
	uint8_t r[6] = { 0 };
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		memcpy(r, &(uint64_t){ now_us() ^ (uint64_t)getpid() << 32 }, sizeof(r));
	snprintf(buf, len, ".%.200s.%02x%02x%02x%02x%02x%02x.tmp", for_name, r[0], r[1], r[2], r[3], r[4], r[5]);
}

int safe_tmp_open(struct safe_tmp *t, int dirfd, const char *for_name, struct ferry_err *err)
{
	memset(t, 0, sizeof(*t));
	t->dirfd = dirfd;
	t->fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (t->fd >= 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return fe_set(err, errno, "create %s", for_name);
	/* A filesystem without O_TMPFILE: a fresh name nobody can have prepared. */
	t->named = 1;
	for (int i = 0; i < 16 && t->fd < 0; i++) {
		random_name(t->tmp, sizeof(t->tmp), for_name);
		t->fd = openat(dirfd, t->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (t->fd < 0 && errno != EEXIST)
			break;
	}
	return t->fd < 0 ? fe_set(err, errno, "create %s", for_name) : 0;
}

void safe_tmp_abort(struct safe_tmp *t)
{
	if (t->fd < 0)
		return;
	close(t->fd);
	if (t->named)
		unlinkat(t->dirfd, t->tmp, 0);
	t->fd = -1;
}

/* Gives an O_TMPFILE file the name tmp (linkat never follows nor replaces its target). */
static int link_anon(struct safe_tmp *t, const char *for_name)
{
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t->fd);
	for (int i = 0; i < 16; i++) {
		random_name(t->tmp, sizeof(t->tmp), for_name);
		if (linkat(t->fd, "", t->dirfd, t->tmp, AT_EMPTY_PATH) == 0 ||
		    (errno == ENOENT && linkat(AT_FDCWD, proc, t->dirfd, t->tmp, AT_SYMLINK_FOLLOW) == 0)) {
			t->named = 1;
			return 0;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int safe_tmp_commit(struct safe_tmp *t, const char *name, int sync, struct ferry_err *err)
{
	int r = sync && fsync(t->fd) < 0 ? -errno : 0;
	if (r == 0 && !t->named)
		r = link_anon(t, name);
	if (r == 0 && renameat(t->dirfd, t->tmp, t->dirfd, name) < 0)
		r = -errno;
	if (r < 0) {
		safe_tmp_abort(t);
		return fe_set(err, -r, "%s %s", sync ? "write out" : "publish", name);
	}
	t->named = 0;
	r = close(t->fd) < 0 ? -errno : 0;
	t->fd = -1;
	if (r < 0) {	/* a late write error (NFS reports them here): the file is not whole */
		unlinkat(t->dirfd, name, 0);
		return fe_set(err, -r, "close %s", name);
	}
	return 0;
}

int safe_write_path(const char *path, const void *buf, size_t len, mode_t mode, struct ferry_err *err)
{
	char dir[PATH_MAX], base[PATH_MAX];
	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return fe_msg(err, ENAMETOOLONG, "%s: path too long", path);
	snprintf(base, sizeof(base), "%s", path);
	_cleanup_close_ int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fe_set(err, errno, "open the directory of %s", path);
	struct safe_tmp t;
	const char *name = basename(base);
	int r = safe_tmp_open(&t, dfd, name, err);
	if (r < 0)
		return r;
	if ((r = write_full(t.fd, buf, len)) < 0 || (fchmod(t.fd, mode) < 0 && (r = -errno))) {
		safe_tmp_abort(&t);
		return fe_set(err, -r, "write %s", path);
	}
	return safe_tmp_commit(&t, name, 0, err);
}
