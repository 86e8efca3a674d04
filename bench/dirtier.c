// SPDX-License-Identifier: Apache-2.0
// dirtier MIB PERMILLE DIR: touches MIB MiB, writes DIR/ready; on SIGUSR1 rewrites PERMILLE/1000 of
// its pages (spread evenly) and writes DIR/dirtied; on SIGTERM checks every page, prints OK/CORRUPT.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile sig_atomic_t dirty, term;
static void on_usr1(int s) { dirty = 1; }
static void on_term(int s) { term = 1; }

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	size_t pages = (size_t)atol(argv[1]) * 256, step = 1000 / (size_t)atol(argv[2]);
	char path[4096];
	signal(SIGUSR1, on_usr1);
	signal(SIGTERM, on_term);
	unsigned char *a = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (size_t i = 0; i < pages; i++)
		memset(a + i * 4096, (int)(i % 251) + 1, 4096);
	snprintf(path, sizeof(path), "%s/ready", argv[3]);
	fclose(fopen(path, "w"));
	int done = 0;
	while (!term) {
		if (dirty && !done) {
			for (size_t i = 0; i < pages; i += step)
				a[i * 4096 + 8] = 0xee;
			done = 1;
			snprintf(path, sizeof(path), "%s/dirtied", argv[3]);
			fclose(fopen(path, "w"));
		}
		pause();
	}
	size_t bad = 0;
	for (size_t i = 0; i < pages; i++)
		bad += a[i * 4096] != (unsigned char)((i % 251) + 1) ||
		       a[i * 4096 + 8] != (done && i % step == 0 ? 0xee : (unsigned char)((i % 251) + 1));
	printf(bad ? "CORRUPT %zu pages\n" : "OK\n", bad);
	fflush(stdout);
	return bad != 0;
}
