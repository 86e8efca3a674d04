// SPDX-License-Identifier: Apache-2.0
// Shared anonymous memory with pages the parent never touched: only its child wrote them, so they
// are in the shared object but not in the parent's page table. After restore the parent reads
// them, the rest of the region is still zero, and the sharing holds in both directions.
#include "zdtm.h"

#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGES 64

int main(void)
{
	zdtm_init("shm_unmapped");
	unsigned char *m = mmap(NULL, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		zdtm_fail("mmap: %m");
	int p[2];
	if (pipe(p) < 0)
		zdtm_fail("pipe: %m");
	pid_t child = fork();
	if (child == 0) {
		char c;
		close(p[1]);
		for (int i = 3; i < PAGES; i += 7)
			memset(m + i * 4096, 0x40 + i, 4096);
		if (read(p[0], &c, 1) != 1)	/* the parent's go after restore */
			_exit(1);
		_exit(m[1 * 4096] == 0x77 ? 0 : 2);	/* what the parent wrote after restore */
	}
	close(p[0]);
	for (int i = 3; i < PAGES; i += 7)	/* wait for the child's writes, without touching them in advance */
		while (__atomic_load_n(&m[i * 4096 + 4095], __ATOMIC_ACQUIRE) != 0x40 + i)
			usleep(1000);
	if (madvise(m, PAGES * 4096, MADV_DONTNEED) < 0)	/* drop them from the parent's page table */
		zdtm_fail("madvise: %m");
	zdtm_ready();
	zdtm_wait_sigterm();
	for (int i = 0; i < PAGES; i++) {
		unsigned char want = (i % 7 == 3) ? 0x40 + i : 0;
		zdtm_check(m[i * 4096] == want && m[i * 4096 + 4095] == want, "page %d reads %#x, expected %#x", i,
			   m[i * 4096], want);
	}
	m[1 * 4096] = 0x77;
	int st;
	zdtm_check(write(p[1], "g", 1) == 1, "wake the child: %m");
	zdtm_check(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		   "the child does not see the parent's write (status %#x)", st);
	zdtm_exit();
}
