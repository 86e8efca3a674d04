// SPDX-License-Identifier: Apache-2.0
/*
 * memhog: a benchmark victim for ferry.
 *
 *   memhog MIB READY_FILE
 *
 * Maps MIB MiB of private anonymous memory, writes a non-zero pattern that
 * differs from page to page into every page, creates READY_FILE (holding its
 * PID), then sleeps. On SIGTERM (or SIGINT) it re-checks the whole pattern,
 * writes "OK ..." or "CORRUPT <details>" to READY_FILE.result and exits 0
 * (intact) or 1. A failure before READY_FILE exists is reported as
 * "ERROR <details>" in READY_FILE.result (exit 2).
 *
 * The result is written to a file because after `ferry restore -d` the
 * process is no longer a child of whoever started it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define WORDS_PER_PAGE (PAGE / sizeof(uint64_t))

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

/* Per-word value: never zero, different in every page and every word. */
static inline uint64_t pattern(uint64_t page, uint64_t word)
{
	uint64_t x = (page + 1) * 0x9E3779B97F4A7C15ULL;
	x ^= x >> 29;
	return (x + word * 0xD6E8FEB86659FD93ULL) | 1;
}

static void fill(uint64_t *mem, size_t pages)
{
	for (size_t p = 0; p < pages; p++) {
		uint64_t *w = mem + p * WORDS_PER_PAGE;
		for (size_t i = 0; i < WORDS_PER_PAGE; i++)
			w[i] = pattern(p, i);
	}
}

/* Returns the number of corrupt pages; *first gets the first bad page. */
static size_t verify(const uint64_t *mem, size_t pages, size_t *first)
{
	size_t bad = 0;
	for (size_t p = 0; p < pages; p++) {
		const uint64_t *w = mem + p * WORDS_PER_PAGE;
		for (size_t i = 0; i < WORDS_PER_PAGE; i++) {
			if (w[i] != pattern(p, i)) {
				if (!bad)
					*first = p;
				bad++;
				break;
			}
		}
	}
	return bad;
}

static int write_file(const char *path, const char *text)
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
	/* rename: readers never see a half-written file */
	return rename(tmp, path);
}

static void close_fds_from(int lowfd)
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

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s MIB READY_FILE\n", argv[0]);
		return 2;
	}
	char *end;
	unsigned long mib = strtoul(argv[1], &end, 10);
	if (*end || mib == 0 || mib > (1UL << 20)) {
		fprintf(stderr, "memhog: bad size '%s'\n", argv[1]);
		return 2;
	}
	const char *ready = argv[2];
	char result[4096];
	if (snprintf(result, sizeof(result), "%s.result", ready) >= (int)sizeof(result)) {
		fprintf(stderr, "memhog: path too long\n");
		return 2;
	}

	/* Drop whatever descriptors the launcher leaked to us (pipes of a CI runner, a terminal
	 * multiplexer...): the benchmark is about memory, and a dump may refuse such fds. */
	close_fds_from(3);

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	unlink(result);

	size_t len = mib << 20;
	size_t pages = len / PAGE;
	uint64_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		char msg[256];
		snprintf(msg, sizeof(msg), "ERROR mmap %lu MiB: %s\n", mib, strerror(errno));
		fputs(msg + 6, stderr);
		write_file(result, msg);
		return 2;
	}
	/* No madvise(): the mapping gets whatever the system THP policy gives
	 * (4 KiB pages with the usual "madvise" setting). */
	fill(mem, pages);

	char pidline[32];
	snprintf(pidline, sizeof(pidline), "%d\n", (int)getpid());
	if (write_file(ready, pidline) < 0) {
		char msg[256];
		snprintf(msg, sizeof(msg), "ERROR cannot create %s: %s\n", ready, strerror(errno));
		fputs(msg + 6, stderr);
		write_file(result, msg);
		return 2;
	}

	while (!stop) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}

	size_t first = 0;
	size_t bad = verify(mem, pages, &first);
	char msg[256];
	if (bad)
		snprintf(msg, sizeof(msg), "CORRUPT %zu of %zu pages, first at page %zu (addr %p)\n",
			 bad, pages, first, (void *)((char *)mem + first * PAGE));
	else
		snprintf(msg, sizeof(msg), "OK %zu pages\n", pages);
	if (write_file(result, msg) < 0)
		fprintf(stderr, "memhog: cannot write %s: %s\n", result, strerror(errno));
	return bad ? 1 : 0;
}
