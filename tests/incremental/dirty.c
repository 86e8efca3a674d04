// SPDX-License-Identifier: Apache-2.0
// The workload of tests/incremental: a 64 MiB area whose pages it rewrites in known rounds.
//   dirty DIR   writes DIR/area (the area's address) and DIR/ready; on each SIGUSR1 runs round k
//   (k = 1, 2, …): rewrites pages i with i % 97 == k and records them in DIR/round-k; on SIGTERM
//   checks every page and prints PASS or FAIL, exits 0/1.
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPAGES (64 * 256)

static volatile sig_atomic_t rounds_asked, term;
static void on_usr1(int s) { rounds_asked++; }
static void on_term(int s) { term = 1; }

static unsigned char value(int i, int rounds)
{
	int last = 0;	/* the last round that rewrote page i */
	for (int k = 1; k <= rounds; k++)
		if (i % 97 == k)
			last = k;
	return (unsigned char)(i * 31 + last * 7 + 1);
}

int main(int argc, char **argv)
{
	char path[4096];
	if (argc != 2)
		return 2;
	signal(SIGUSR1, on_usr1);
	signal(SIGTERM, on_term);
	unsigned char *area = mmap(NULL, (size_t)NPAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (int i = 0; i < NPAGES; i++)
		memset(area + (size_t)i * 4096, value(i, 0), 4096);
	snprintf(path, sizeof(path), "%s/area", argv[1]);
	FILE *f = fopen(path, "w");
	fprintf(f, "%lu %lu\n", (unsigned long)(uintptr_t)area, (unsigned long)NPAGES);
	fclose(f);
	snprintf(path, sizeof(path), "%s/ready", argv[1]);
	fclose(fopen(path, "w"));
	int done = 0;
	while (!term) {
		if (done < rounds_asked) {
			done++;
			for (int i = 0; i < NPAGES; i++)
				if (i % 97 == done)
					area[(size_t)i * 4096 + 100] = value(i, done), area[(size_t)i * 4096] = value(i, done);
			snprintf(path, sizeof(path), "%s/round-%d", argv[1], done);
			f = fopen(path, "w");
			for (int i = 0; i < NPAGES; i++)
				if (i % 97 == done)
					fprintf(f, "%d\n", i);
			fclose(f);
			continue;
		}
		pause();
	}
	int bad = 0;
	for (int i = 0; i < NPAGES; i++) {
		unsigned char want = value(i, done);
		bad += area[(size_t)i * 4096] != want || area[(size_t)i * 4096 + 100] != want || area[(size_t)i * 4096 + 4095] != value(i, 0);
	}
	printf(bad ? "FAIL: %d pages differ\n" : "PASS\n", bad);
	fflush(stdout);
	return bad != 0;
}
