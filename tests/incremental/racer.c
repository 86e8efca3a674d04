// SPDX-License-Identifier: Apache-2.0
// racer DIR: a workload that never stops writing while it is pre-dumped. It maps NPAGES pages of
// private anonymous memory and NPAGES of shared anonymous memory (also mapped by a child that
// waits), none touched yet. Step n (0, 1, 2…) writes n + 1 at both ends of page n % (2 × NPAGES)
// of the two areas taken as one, and of the page LAG pages behind, then counts the step. The
// first lap touches every page for the first time (a few pages a millisecond) and rewrites each
// a few tens of milliseconds later: a pre-dump sees pages appear and change while it scans,
// protects and copies. Writes DIR/ready once the child is up; on SIGTERM checks that every page
// holds the last step that wrote it (zero if none did; the step in flight may be ahead by one)
// and prints PASS or FAIL (exit 0/1).
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NPAGES 8192	/* 32 MiB each */
#define TOTAL (2 * NPAGES)

static volatile sig_atomic_t term;
static void on_term(int s) { term = 1; }

static volatile uint64_t steps;	/* steps done: page n % TOTAL holds n + 1 for the last such n < steps */

static uint64_t *page(uint8_t *priv, uint8_t *shared, uint64_t i)
{
	return (uint64_t *)(i < NPAGES ? priv + i * 4096 : shared + (i - NPAGES) * 4096);
}

/* Step n writes n + 1 into page n % TOTAL (the front) and into page (n - LAG) % TOTAL (the rewrite). */
#define LAG 256

static uint64_t last_before(uint64_t first, uint64_t done)
{
	return done <= first ? 0 : first + (done - 1 - first) / TOTAL * TOTAL + 1;
}

static uint64_t want(uint64_t i, uint64_t done)
{
	uint64_t a = last_before(i, done), b = last_before(i + LAG, done);
	return a > b ? a : b;
}

static int check(uint8_t *priv, uint8_t *shared)
{
	uint64_t done = steps, bad = 0;
	for (uint64_t i = 0; i < TOTAL; i++) {
		uint64_t *p = page(priv, shared, i), w = want(i, done);
		int ok = p[0] == w && p[511] == w;
		/* frozen in step `done`, between its writes and the count */
		if (!ok && (i == done % TOTAL || (done >= LAG && i == (done - LAG) % TOTAL)))
			ok = p[0] == done + 1 && (p[511] == done + 1 || p[511] == w);
		if (!ok && bad++ < 5)
			printf("page %llu (%s): %llu/%llu, want %llu after %llu steps\n", (unsigned long long)i,
			       i < NPAGES ? "private" : "shared", (unsigned long long)p[0], (unsigned long long)p[511],
			       (unsigned long long)w, (unsigned long long)done);
	}
	if (bad)
		printf("FAIL: %llu of %d pages hold the wrong step\n", (unsigned long long)bad, TOTAL);
	return bad != 0;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	signal(SIGTERM, on_term);
	uint8_t *priv = mmap(NULL, NPAGES * 4096UL, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *shared = mmap(NULL, NPAGES * 4096UL, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (priv == MAP_FAILED || shared == MAP_FAILED)
		return 2;
	int pp[2];
	if (pipe(pp) < 0)
		return 2;
	pid_t child = fork();
	if (child == 0) {	/* a second mapper of the shared area: it only waits */
		close(pp[0]);
		close(pp[1]);
		while (!term)
			pause();
		_exit(0);
	}
	close(pp[1]);
	char path[4096];
	snprintf(path, sizeof(path), "%s/ready", argv[1]);
	FILE *f = fopen(path, "w");
	if (!f)
		return 2;
	fclose(f);
	struct timespec nap = { 0, 200000 };
	while (!term) {
		uint64_t n = steps;
		volatile uint64_t *p = page(priv, shared, n % TOTAL);
		p[0] = n + 1;
		p[511] = n + 1;
		if (n >= LAG) {
			p = page(priv, shared, (n - LAG) % TOTAL);
			p[0] = n + 1;
			p[511] = n + 1;
		}
		steps = n + 1;
		if (n % 2)
			nanosleep(&nap, NULL);	/* a lap takes two seconds or more: a chain's dumps all see first touches */
	}
	int r = check(priv, shared);
	kill(child, SIGTERM);
	waitpid(child, NULL, 0);
	printf("%s\n", r ? "FAIL" : "PASS");
	return r;
}
