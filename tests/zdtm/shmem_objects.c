// SPDX-License-Identifier: Apache-2.0
// Shared anonymous memory mapped differently by a parent and its child, so that no mapping is simply
// inherited: the child moved its mapping (mremap) and unmapped part of it, the parent unmapped the part
// the child still maps, one region is split by mprotect into pieces at different offsets, and a page
// only the child ever wrote. After restore each object is one object again: everything written through
// any mapping is seen through the others, names, offsets and VmFlags are those of before, and each page
// holds what it held.
#include "zdtm.h"
#include "memtest.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096UL
#define NP 16
static unsigned char *a, *b;		/* the parent's views */
static unsigned char *ca, *cb;		/* the child's */
static struct smaps before, after;

static void mark(unsigned char *p, unsigned long first, unsigned long n, int seed)
{
	for (unsigned long i = first; i < first + n; i++)
		memset(p + i * PG, seed + (int)i, PG);
}

static int marked(const unsigned char *p, unsigned long first, unsigned long n, int seed)
{
	for (unsigned long i = first; i < first + n; i++)
		if (p[i * PG] != (unsigned char)(seed + (int)i) || p[i * PG + PG - 1] != (unsigned char)(seed + (int)i))
			return 0;
	return 1;
}

static volatile sig_atomic_t go;
static void on_term(int sig) { go = 1; }

int main(void)
{
	int pp[2], qq[2];
	char c;
	zdtm_init("shmem_objects");
	a = mmap(NULL, NP * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	b = mmap(NULL, NP * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED || b == MAP_FAILED || pipe(pp) < 0 || pipe(qq) < 0)
		return 2;
	mark(a, 0, NP, 10);
	mark(b, 0, NP, 50);
	pid_t child = fork();
	if (child == 0) {
		struct sigaction sa = { .sa_handler = on_term };
		sigaction(SIGTERM, &sa, NULL);
		/* the child's view of a: moved, and only pages 0-7 of it */
		ca = mremap(a, NP * PG, NP * PG, MREMAP_MAYMOVE | MREMAP_FIXED,
			    mmap(NULL, NP * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
		munmap(ca + 8 * PG, 8 * PG);
		cb = b;
		if (ca == MAP_FAILED || write(pp[1], "r", 1) != 1 || read(qq[0], &c, 1) != 1)
			_exit(2);
		mark(ca, 2, 1, 90);	/* page 2 of a: only the child writes it (the parent unmapped it) */
		smaps_read(&before);
		if (write(pp[1], "r", 1) != 1)
			_exit(2);
		while (!go)
			pause();
		smaps_read(&after);
		smaps_compare("child", &before, &after);
		zdtm_check(marked(ca, 0, 2, 10) && marked(ca, 2, 1, 90) && marked(ca, 3, 5, 10), "child: object a");
		zdtm_check(marked(cb, 0, NP, 50), "child: object b");
		zdtm_check(ca[5 * PG + 1] == 'p' && cb[13 * PG + 1] == 'p', "child: does not see the parent's writes");
		ca[0] = cb[PG * 9] = 'c';
		zdtm_exit();
	}
	if (read(pp[0], &c, 1) != 1)
		return 2;
	munmap(a, 4 * PG);			/* the parent keeps pages 4-15 of a */
	mprotect(b + 4 * PG, 4 * PG, PROT_READ);	/* b in three pieces */
	if (write(qq[1], "g", 1) != 1 || read(pp[0], &c, 1) != 1)
		return 2;
	smaps_read(&before);
	zdtm_ready();
	zdtm_wait_sigterm();
	smaps_read(&after);
	smaps_compare("parent", &before, &after);
	zdtm_check(marked(a, 4, NP - 4, 10), "parent: object a");
	zdtm_check(marked(b, 0, 9, 50) && marked(b, 10, NP - 10, 50), "parent: object b");
	a[5 * PG + 1] = b[13 * PG + 1] = 'p';
	kill(child, SIGTERM);
	int st;
	zdtm_check(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		   "the child failed its checks (status %#x)", st);
	zdtm_check(b[PG * 9] == 'c' && a[4 * PG] == 10 + 4, "the parent does not see the child's write to b");
	zdtm_check(mremap(a + 4 * PG, (NP - 4) * PG, NP * PG, MREMAP_MAYMOVE) != MAP_FAILED, "mremap");
	zdtm_exit();
}
