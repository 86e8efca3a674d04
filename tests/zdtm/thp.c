// SPDX-License-Identifier: Apache-2.0
// Transparent huge pages: a 2 MiB-aligned region with MADV_HUGEPAGE, filled, is backed by huge pages
// (smaps AnonHugePages); beside it 4 MiB of plain memory (so that the restore's page filler uses a
// userfaultfd for this process) and 4 MiB with MADV_NOHUGEPAGE. After restore the contents are the
// same, the advised region is backed by huge pages again (what UFFDIO_COPY cannot give: it puts
// small pages), the NOHUGEPAGE region by none, and the VMAs keep their flags ("hg", "nh").
// Skipped where THP is off, or where the kernel gives no huge page before the dump.
#include "zdtm.h"
#include "memtest.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define MB (1024UL * 1024UL)
#define HUGE_LEN (4 * MB)

static unsigned char *huge, *plain, *nohuge;
static uint64_t h_huge, h_plain, h_nohuge;
static struct smaps before, after;

/* AnonHugePages of the VMA holding addr, in kB (-1 if not found). */
static long anon_huge_kb(const void *addr)
{
	static char buf[1 << 20];
	if (zdtm_read_file("/proc/self/smaps", buf, sizeof(buf)) < 0)
		return -1;
	int in = 0;
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		unsigned long a, b;
		long kb;
		if (sscanf(l, "%lx-%lx ", &a, &b) == 2 && strchr(l, '-') < strchr(l, ' '))
			in = (unsigned long)addr >= a && (unsigned long)addr < b;
		else if (in && sscanf(l, "AnonHugePages: %ld kB", &kb) == 1)
			return kb;
	}
	return -1;
}

/* len bytes of fresh memory aligned to 2 MiB, with advice (0: none), filled from seed. */
static unsigned char *region(size_t len, int advice, uint64_t seed)
{
	unsigned char *p = mmap(NULL, len + 2 * MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	unsigned char *a = (unsigned char *)(((uintptr_t)p + 2 * MB - 1) & ~(2 * MB - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	munmap(a + len, (size_t)(p + len + 2 * MB - (a + len)));
	if (advice && madvise(a, len, advice) < 0)
		return NULL;
	zdtm_fill(a, len, seed);
	return a;
}

int main(void)
{
	zdtm_init("thp");
	char mode[128] = "";
	if (zdtm_read_line("/sys/kernel/mm/transparent_hugepage/enabled", mode, sizeof(mode)) < 0 ||
	    strstr(mode, "[never]"))
		zdtm_skip("transparent huge pages are off here (%s)", mode);
	huge = region(HUGE_LEN, MADV_HUGEPAGE, 1);
	plain = region(4 * MB, 0, 2);
	nohuge = region(4 * MB, MADV_NOHUGEPAGE, 3);
	if (!huge || !plain || !nohuge)
		zdtm_skip("cannot map the regions");
	long kb0 = anon_huge_kb(huge);
	if (kb0 <= 0)
		zdtm_skip("the kernel gave no huge page to the advised region (AnonHugePages %ld kB)", kb0);
	h_huge = zdtm_hash(huge, HUGE_LEN);
	h_plain = zdtm_hash(plain, 4 * MB);
	h_nohuge = zdtm_hash(nohuge, 4 * MB);
	zdtm_check(smaps_read(&before) == 0, "read smaps");
	zdtm_ready();
	zdtm_wait_sigterm();
	zdtm_check(smaps_read(&after) == 0, "read smaps");
	smaps_compare("thp", &before, &after);
	zdtm_check(smaps_has(&after, huge, "hg"), "the advised region lost MADV_HUGEPAGE");
	zdtm_check(smaps_has(&after, nohuge, "nh"), "the NOHUGEPAGE region lost MADV_NOHUGEPAGE");
	long kb1 = anon_huge_kb(huge), kbn = anon_huge_kb(nohuge);
	zdtm_check(kb1 > 0, "the advised region is backed by no huge page after restore (AnonHugePages %ld kB, "
			    "%ld kB before)", kb1, kb0);
	zdtm_check(kbn == 0, "the NOHUGEPAGE region has huge pages (%ld kB)", kbn);
	zdtm_check(zdtm_hash(huge, HUGE_LEN) == h_huge, "the advised region's content differs");
	zdtm_check(zdtm_hash(plain, 4 * MB) == h_plain, "the plain region's content differs");
	zdtm_check(zdtm_hash(nohuge, 4 * MB) == h_nohuge, "the NOHUGEPAGE region's content differs");
	zdtm_pass();
}
