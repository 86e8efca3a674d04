// SPDX-License-Identifier: Apache-2.0
// What the benchmark victims (memhog, forktree) share: a page pattern they fill and verify after
// restore, a result file written atomically, SIGTERM as the stop signal, and dropping inherited fds.
#pragma once
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096UL
#define WORDS_PER_PAGE (PAGE / sizeof(uint64_t))

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

/* Per-word value: never zero, different for every (seed, page, word). */
static inline uint64_t pattern(uint64_t seed, uint64_t page, uint64_t word)
{
	uint64_t x = (page + 1 + (seed << 40)) * 0x9E3779B97F4A7C15ULL;
	x ^= x >> 29;
	return (x + word * 0xD6E8FEB86659FD93ULL) | 1;
}

static inline void fill(uint64_t *mem, size_t pages, uint64_t seed)
{
	for (size_t p = 0; p < pages; p++) {
		uint64_t *w = mem + p * WORDS_PER_PAGE;
		for (size_t i = 0; i < WORDS_PER_PAGE; i++)
			w[i] = pattern(seed, p, i);
	}
}

/* Number of corrupt pages; *first gets the first bad one. Reads only. */
static inline size_t verify(const uint64_t *mem, size_t pages, uint64_t seed, size_t *first)
{
	size_t bad = 0;
	for (size_t p = 0; p < pages; p++) {
		const uint64_t *w = mem + p * WORDS_PER_PAGE;
		for (size_t i = 0; i < WORDS_PER_PAGE; i++) {
			if (w[i] != pattern(seed, p, i)) {
				if (!bad)
					*first = p;
				bad++;
				break;
			}
		}
	}
	return bad;
}

/* Writes text to path through a temporary and a rename: readers never see half a file. */
static inline int write_file(const char *path, const char *text)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	size_t len = strlen(text);
	ssize_t n = write(fd, text, len);
	if (n != (ssize_t)len || fsync(fd) < 0) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	return rename(tmp, path);
}

/* Inherited descriptors (a CI runner's pipes) would make ferry refuse the dump: drop them. */
static inline void close_fds_from(int lowfd)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0U) == 0)
		return;
#endif
	DIR *d = opendir("/proc/self/fd");
	if (!d) {
		for (int fd = lowfd; fd < 1024; fd++)
			close(fd);
		return;
	}
	int fds[1024], n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 1024) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] != '.' && fd >= lowfd && fd != dirfd(d))
			fds[n++] = fd;
	}
	closedir(d);
	for (int i = 0; i < n; i++)
		close(fds[i]);
}
