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

#include "victim.h"

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
	fill(mem, pages, 0);

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
	size_t bad = verify(mem, pages, 0, &first);
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
