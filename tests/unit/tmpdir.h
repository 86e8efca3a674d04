/* SPDX-License-Identifier: Apache-2.0 */
/* A scratch directory per test: created by tmpdir_new(), emptied and removed by tmpdir_free(). */
#pragma once
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tmpdir {
	char path[64];
	int fd;
};

static inline struct tmpdir *tmpdir_new(void)
{
	struct tmpdir *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	snprintf(t->path, sizeof(t->path), "/tmp/ferry-unit-XXXXXX");
	if (!mkdtemp(t->path) || (t->fd = open(t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		free(t);
		return NULL;
	}
	return t;
}

/* Number of entries in the directory, dot-files included (to spot leftover temporaries). */
static inline int tmpdir_count(const struct tmpdir *t)
{
	DIR *d = opendir(t->path);
	int n = 0;
	for (struct dirent *de; d && (de = readdir(d));)
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	if (d)
		closedir(d);
	return n;
}

static inline void tmpdir_free(struct tmpdir *t)
{
	if (!t)
		return;
	DIR *d = opendir(t->path);
	for (struct dirent *de; d && (de = readdir(d));)
		unlinkat(t->fd, de->d_name, 0);
	if (d)
		closedir(d);
	close(t->fd);
	rmdir(t->path);
	free(t);
}

/* Whole-file helpers for corrupting images in place. */
static inline size_t file_get(int dirfd, const char *name, void *buf, size_t cap)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, cap);
	if (fd >= 0)
		close(fd);
	return n < 0 ? 0 : (size_t)n;
}

static inline int file_put(int dirfd, const char *name, const void *buf, size_t len)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n = fd < 0 ? -1 : write(fd, buf, len);
	if (fd >= 0)
		close(fd);
	return n == (ssize_t)len ? 0 : -1;
}
