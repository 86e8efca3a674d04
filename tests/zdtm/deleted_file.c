// SPDX-License-Identifier: Apache-2.0
// Files unlinked while open: after restore the content, size, offset and flags are the same, the file
// is still unlinked (no name left behind) and still writable.
#include "zdtm.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ghost {
	const char *name;
	size_t size;
	off_t off;
	int flags;
	int fd;
	char path[PATH_MAX];
	uint64_t hash;
	int flflags;
};

static struct ghost ghosts[] = {
	{ "small.txt", 37, 20, O_RDWR },
	{ "big.bin", 3 * 1024 * 1024 + 1234, 1 << 20, O_RDWR },
	{ "empty", 0, 0, O_RDONLY },
	{ "append.log", 5000, 5000, O_WRONLY | O_APPEND },
};
#define NG (sizeof(ghosts) / sizeof(ghosts[0]))

static unsigned char buf[4 * 1024 * 1024];

static uint64_t content_hash(int fd, size_t size)
{
	if (size > sizeof(buf))
		return 0;
	if (pread(fd, buf, size, 0) != (ssize_t)size)
		return 1;
	return zdtm_hash(buf, size);
}

static void setup(void)
{
	for (size_t i = 0; i < NG; i++) {
		struct ghost *g = &ghosts[i];
		int wfd;

		zdtm_path(g->path, sizeof(g->path), g->name);
		wfd = open(g->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		zdtm_fill(buf, g->size, 40 + i);
		if (wfd < 0 || write(wfd, buf, g->size) != (ssize_t)g->size) {
			perror(g->path);
			exit(2);
		}
		g->hash = zdtm_hash(buf, g->size);
		g->fd = open(g->path, g->flags);
		close(wfd);
		if (g->fd < 0) {
			perror(g->path);
			exit(2);
		}
		lseek(g->fd, g->off, SEEK_SET);
		g->flflags = fcntl(g->fd, F_GETFL);
		if (unlink(g->path) < 0) {
			perror("unlink");
			exit(2);
		}
	}
}

static void verify(void)
{
	for (size_t i = 0; i < NG; i++) {
		struct ghost *g = &ghosts[i];
		char p[64], link[PATH_MAX + 32], want[PATH_MAX + 32];
		struct stat st;
		off_t off;

		zdtm_check(fstat(g->fd, &st) == 0, "%s: fstat: %m", g->name);
		zdtm_check(st.st_nlink == 0, "%s: nlink %lu, want 0", g->name, (unsigned long)st.st_nlink);
		zdtm_check(st.st_size == (off_t)g->size, "%s: size %lld, want %zu", g->name, (long long)st.st_size,
			   g->size);
		zdtm_check((st.st_mode & 07777) == 0600, "%s: mode %o, want 600", g->name, st.st_mode & 07777);
		zdtm_check(access(g->path, F_OK) < 0, "%s: the name exists again after restore", g->name);
		off = lseek(g->fd, 0, SEEK_CUR);
		zdtm_check(off == g->off, "%s: offset %lld, want %lld", g->name, (long long)off, (long long)g->off);
		zdtm_check(fcntl(g->fd, F_GETFL) == g->flflags, "%s: flags %#o, want %#o", g->name,
			   fcntl(g->fd, F_GETFL), g->flflags);
		snprintf(p, sizeof(p), "/proc/self/fd/%d", g->fd);
		zdtm_readlink(p, link, sizeof(link));
		snprintf(want, sizeof(want), "%s (deleted)", g->path);
		zdtm_check(!strcmp(link, want), "%s: fd points to %s, want %s", g->name, link, want);
		if (g->flags != (O_WRONLY | O_APPEND)) {
			zdtm_check(content_hash(g->fd, g->size) == g->hash, "%s: content differs", g->name);
		} else {
			int rfd;

			/* read back through /proc/self/fd (the only name left) */
			rfd = open(p, O_RDONLY);
			zdtm_check(rfd >= 0 && content_hash(rfd, g->size) == g->hash, "%s: content differs", g->name);
			if (rfd >= 0)
				close(rfd);
			zdtm_check(write(g->fd, "more\n", 5) == 5, "%s: append after restore: %m", g->name);
			zdtm_check(fstat(g->fd, &st) == 0 && st.st_size == (off_t)g->size + 5,
				   "%s: append after restore did not grow the file", g->name);
		}
		if (g->flags == O_RDWR) {
			zdtm_check(pwrite(g->fd, "xyz", 3, 1) == 3, "%s: write after restore: %m", g->name);
			zdtm_check(pread(g->fd, p, 3, 1) == 3 && !memcmp(p, "xyz", 3), "%s: write lost", g->name);
		}
	}
}

int main(void)
{
	zdtm_init("deleted_file");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	verify();
	zdtm_exit();
}
