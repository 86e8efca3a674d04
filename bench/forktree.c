// SPDX-License-Identifier: Apache-2.0
/*
 * forktree: a process-tree benchmark victim for ferry (bench/tree.sh).
 *
 *   forktree own NPROC MIB READY_FILE
 *       NPROC processes, the parent and NPROC-1 children it forks: each maps MIB MiB
 *       of private anonymous memory of its own and writes a pattern into every page
 *       (different in every process, page and 8-byte word).
 *   forktree cow NPROC MIB READY_FILE
 *       the parent maps MIB MiB and writes the pattern, then forks NPROC-1 children
 *       that only read it: the memory stays shared copy-on-write by all NPROC.
 *
 * Once every process has touched (or, for cow, read through) its memory, the parent
 * writes READY_FILE: the parent's PID on the first line, then each child's PID.
 * Nothing but stdin/stdout/stderr is open then (the start-up pipe is closed).
 *
 * On SIGTERM (or SIGINT) the parent passes SIGTERM to its children; each process
 * re-checks its memory (read only; a cow child does not break the sharing) and a
 * child exits 0 when intact, 1 when not. The parent checks its own memory, waits for
 * every child (after `ferry restore` they are its children again) and writes
 * "OK ..." or "CORRUPT <details>" to READY_FILE.result; it exits 0 or 1. A failure
 * before READY_FILE exists is reported as "ERROR <details>" there (exit 2).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "victim.h"

#define MAX_PROCS 256

static char result_path[4096];

static int fail_start(const char *what)
{
	char msg[512];
	snprintf(msg, sizeof(msg), "ERROR %s: %s\n", what, strerror(errno));
	fputs(msg + 6, stderr);
	write_file(result_path, msg);
	return 2;
}

static void idle(void)
{
	while (!stop) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

/* A child: signal readiness over the pipe, wait for SIGTERM, check, exit 0/1. */
static void child_main(int wfd, const uint64_t *mem, size_t pages, uint64_t seed)
{
	char c = 'r';
	if (write(wfd, &c, 1) != 1)
		_exit(2);
	close(wfd);
	idle();
	size_t first = 0;
	_exit(verify(mem, pages, seed, &first) ? 1 : 0);
}

int main(int argc, char **argv)
{
	if (argc != 5 || (strcmp(argv[1], "own") && strcmp(argv[1], "cow"))) {
		fprintf(stderr, "usage: %s own|cow NPROC MIB READY_FILE\n", argv[0]);
		return 2;
	}
	int cow = !strcmp(argv[1], "cow");
	char *end;
	long nproc = strtol(argv[2], &end, 10);
	if (*end || nproc < 1 || nproc > MAX_PROCS) {
		fprintf(stderr, "forktree: bad process count '%s' (1..%d)\n", argv[2], MAX_PROCS);
		return 2;
	}
	unsigned long mib = strtoul(argv[3], &end, 10);
	if (*end || mib == 0 || mib > (1UL << 20)) {
		fprintf(stderr, "forktree: bad size '%s'\n", argv[3]);
		return 2;
	}
	const char *ready = argv[4];
	if (snprintf(result_path, sizeof(result_path), "%s.result", ready) >= (int)sizeof(result_path)) {
		fprintf(stderr, "forktree: path too long\n");
		return 2;
	}

	/* whatever the launcher leaked (a CI pipe...) is not part of the benchmark */
	close_fds_from(3);

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	unlink(result_path);

	size_t len = mib << 20, pages = len / PAGE;
	uint64_t *shared = NULL;
	if (cow) {
		shared = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (shared == MAP_FAILED)
			return fail_start("mmap");
		fill(shared, pages, 0);
	}

	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return fail_start("pipe");
	pid_t kids[MAX_PROCS];
	int nkids = 0;
	for (long i = 1; i < nproc; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			for (int k = 0; k < nkids; k++)
				kill(kids[k], SIGKILL);
			return fail_start("fork");
		}
		if (pid == 0) {
			close(pfd[0]);
			if (cow) {
				/* read everything once (as a worker using the data would) */
				size_t first = 0;
				if (verify(shared, pages, 0, &first))
					_exit(1);
				child_main(pfd[1], shared, pages, 0);
			}
			uint64_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (mem == MAP_FAILED)
				_exit(2);
			fill(mem, pages, (uint64_t)i);
			child_main(pfd[1], mem, pages, (uint64_t)i);
		}
		kids[nkids++] = pid;
	}
	close(pfd[1]);

	uint64_t *mine = shared;
	if (!cow) {
		mine = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mine == MAP_FAILED)
			return fail_start("mmap");
		fill(mine, pages, 0);
	}
	for (int got = 0; got < nkids;) {
		char c;
		ssize_t n = read(pfd[0], &c, 1);
		if (n == 1) {
			got++;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		for (int k = 0; k < nkids; k++)
			kill(kids[k], SIGKILL);
		errno = n < 0 ? errno : EPIPE;
		return fail_start("a child failed to start");
	}
	close(pfd[0]);

	char buf[16 * MAX_PROCS];
	int off = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	for (int k = 0; k < nkids; k++)
		off += snprintf(buf + off, sizeof(buf) - off, "%d\n", (int)kids[k]);
	if (write_file(ready, buf) < 0) {
		for (int k = 0; k < nkids; k++)
			kill(kids[k], SIGKILL);
		return fail_start("cannot create the ready file");
	}

	idle();

	for (int k = 0; k < nkids; k++)
		kill(kids[k], SIGTERM);
	size_t first = 0;
	size_t bad = verify(mine, pages, 0, &first);
	int bad_kids = 0, lost_kids = 0;
	for (int k = 0; k < nkids; k++) {
		int st;
		pid_t r;
		while ((r = waitpid(kids[k], &st, 0)) < 0 && errno == EINTR)
			;
		if (r < 0)
			lost_kids++;
		else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad_kids++;
	}
	char msg[512];
	if (bad || bad_kids || lost_kids)
		snprintf(msg, sizeof(msg),
			 "CORRUPT parent: %zu of %zu pages bad (first %zu); %d of %d children found theirs "
			 "corrupt or died; %d children not found\n",
			 bad, pages, first, bad_kids, nkids, lost_kids);
	else
		snprintf(msg, sizeof(msg), "OK %ld processes, %zu pages %s\n", nproc, pages,
			 cow ? "shared" : "each");
	if (write_file(result_path, msg) < 0)
		fprintf(stderr, "forktree: cannot write %s: %s\n", result_path, strerror(errno));
	return (bad || bad_kids || lost_kids) ? 1 : 0;
}
