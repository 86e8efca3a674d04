// SPDX-License-Identifier: Apache-2.0
// What a program can observe of one descriptor: the name /proc/self/fd/N shows, fdinfo's flags, pos and
// mnt_id, close-on-exec, and fstat. Taken before the dump and compared after the restore by the tests of
// files reached by path (ghost_*, opath, cwd_removed, path_names, ...).
#ifndef FERRY_TESTS_FDVIEW_H
#define FERRY_TESTS_FDVIEW_H

#include "zdtm.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fd_view {
	char link[PATH_MAX + 32];
	char flags[32], mnt_id[32];
	long long pos;
	int cloexec;
	struct stat st;
};

enum {
	VIEW_INODE = 1,		/* same dev and inode (the file itself, not a copy) */
	VIEW_TIMES = 2,		/* same atime and mtime */
	VIEW_SIZE = 4,		/* same size and blocks */
};

static inline void fd_view_field(const char *info, const char *key, char *out, size_t size)
{
	const char *p = strstr(info, key);
	out[0] = 0;
	if (!p)
		return;
	p += strlen(key);
	while (*p == ' ' || *p == '\t')
		p++;
	size_t n = strcspn(p, "\n");
	snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), p);
}

static inline void fd_view(int fd, struct fd_view *v)
{
	char path[64], info[4096], pos[32];
	memset(v, 0, sizeof(*v));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	zdtm_readlink(path, v->link, sizeof(v->link));
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (zdtm_read_file(path, info, sizeof(info)) < 0)
		info[0] = 0;
	fd_view_field(info, "\nflags:", v->flags, sizeof(v->flags));
	fd_view_field(info, "\nmnt_id:", v->mnt_id, sizeof(v->mnt_id));
	fd_view_field(info, "pos:", pos, sizeof(pos));
	v->pos = atoll(pos);
	v->cloexec = fcntl(fd, F_GETFD);
	fstat(fd, &v->st);
}

/* Everything a restore must keep; what names the descriptor in failures. */
static inline void fd_view_check(const char *what, int fd, const struct fd_view *was, int check)
{
	struct fd_view v;
	fd_view(fd, &v);
	zdtm_check(!strcmp(v.link, was->link), "%s: fd %d names '%s', was '%s'", what, fd, v.link, was->link);
	zdtm_check(!strcmp(v.flags, was->flags), "%s: fdinfo flags %s, were %s", what, v.flags, was->flags);
	zdtm_check(!strcmp(v.mnt_id, was->mnt_id), "%s: fdinfo mnt_id %s, was %s", what, v.mnt_id, was->mnt_id);
	zdtm_check(v.pos == was->pos, "%s: offset %lld, was %lld", what, v.pos, was->pos);
	zdtm_check(v.cloexec == was->cloexec, "%s: FD_CLOEXEC %d, was %d", what, v.cloexec, was->cloexec);
	zdtm_check(v.st.st_mode == was->st.st_mode, "%s: mode %o, was %o", what, v.st.st_mode, was->st.st_mode);
	zdtm_check(v.st.st_uid == was->st.st_uid && v.st.st_gid == was->st.st_gid, "%s: owner %u:%u, was %u:%u",
		   what, v.st.st_uid, v.st.st_gid, was->st.st_uid, was->st.st_gid);
	zdtm_check(v.st.st_nlink == was->st.st_nlink, "%s: %lu links, were %lu", what, (unsigned long)v.st.st_nlink,
		   (unsigned long)was->st.st_nlink);
	zdtm_check(v.st.st_rdev == was->st.st_rdev, "%s: rdev %#lx, was %#lx", what, (unsigned long)v.st.st_rdev,
		   (unsigned long)was->st.st_rdev);
	if (check & VIEW_INODE)
		zdtm_check(v.st.st_ino == was->st.st_ino && v.st.st_dev == was->st.st_dev,
			   "%s: inode %lu on %#lx, was %lu on %#lx (not the same file)", what, (unsigned long)v.st.st_ino,
			   (unsigned long)v.st.st_dev, (unsigned long)was->st.st_ino, (unsigned long)was->st.st_dev);
	if (check & VIEW_SIZE)
		zdtm_check(v.st.st_size == was->st.st_size && v.st.st_blocks == was->st.st_blocks,
			   "%s: size %lld (%lld blocks), was %lld (%lld)", what, (long long)v.st.st_size,
			   (long long)v.st.st_blocks, (long long)was->st.st_size, (long long)was->st.st_blocks);
	if (check & VIEW_TIMES)
		zdtm_check(v.st.st_mtim.tv_sec == was->st.st_mtim.tv_sec && v.st.st_mtim.tv_nsec == was->st.st_mtim.tv_nsec &&
			   v.st.st_atim.tv_sec == was->st.st_atim.tv_sec && v.st.st_atim.tv_nsec == was->st.st_atim.tv_nsec,
			   "%s: times (a %lld.%09ld, m %lld.%09ld), were (a %lld.%09ld, m %lld.%09ld)", what,
			   (long long)v.st.st_atim.tv_sec, v.st.st_atim.tv_nsec, (long long)v.st.st_mtim.tv_sec,
			   v.st.st_mtim.tv_nsec, (long long)was->st.st_atim.tv_sec, was->st.st_atim.tv_nsec,
			   (long long)was->st.st_mtim.tv_sec, was->st.st_mtim.tv_nsec);
}

/* A file's name with " (deleted)" as /proc shows a removed one. */
static inline const char *deleted_name(char *buf, size_t size, const char *path)
{
	snprintf(buf, size, "%s (deleted)", path);
	return buf;
}

/* A scratch directory on tmpfs (/dev/shm), or NULL when there is none to write into. */
static inline const char *tmpfs_dir(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "/dev/shm/ferry-%s-%d", name, (int)getpid());
	if (mkdir(buf, 0755) < 0)
		return NULL;
	return buf;
}

#endif
