// SPDX-License-Identifier: Apache-2.0
// One VMA that is at once mlock()ed, holds guard regions (MADV_GUARD_INSTALL) and is sealed (mseal),
// large enough (4 MiB) for restore to fill it through userfaultfd (mlock() of it fails with ENOMEM
// when populating reaches a guard page, but locks it all the same), in a parent and in a child forked
// from it. The parent's region is also inherited by the child (sealed and guarded, unlocked, its
// pages shared copy-on-write). Restore writes the contents first and gives the guards, the lock and
// the seal only afterwards, in the order the kernel allows (a guard cannot be installed on a locked
// VMA). After restore: every 8-byte word of every page that is not a guard is what it was, guard
// pages fault with SIGSEGV, the VMAs have their VmFlags exactly (lo, sl), VmLck is the same, and
// munmap, mprotect and mremap of the sealed memory fail with EPERM.
#include "zdtm.h"
#include "memtest.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PG 4096UL
#define NPAGES 1024UL	/* 4 MiB: above the size the filler gives a userfaultfd */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef SYS_mseal
#define SYS_mseal 462
#endif

static uint64_t *mine, *inherited;	/* the child's own region; the parent's, in both */
static int sealed;
static char lck0[32], lck1[32];
static struct smaps smaps_now;	/* static: too big for the stack, which the layout check watches */

static int is_guard(unsigned long p)
{
	return p == 1 || p == 500 || p == 501 || p == NPAGES - 1;
}

static uint64_t word(uint64_t seed, unsigned long i)
{
	return (seed << 48) ^ (i * 0x9e3779b97f4a7c15ULL) ^ i;
}

/* A 4 MiB region with a pattern, guard pages, then locked and sealed. */
static uint64_t *make(uint64_t seed, int *have_guards)
{
	uint64_t *m = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	for (unsigned long i = 0; i < NPAGES * PG / 8; i++)
		m[i] = word(seed, i);
	*have_guards = 1;
	for (unsigned long p = 0; p < NPAGES; p++)
		if (is_guard(p) && madvise((char *)m + p * PG, PG, MADV_GUARD_INSTALL) < 0)
			*have_guards = 0;
	if (!*have_guards)
		return m;
	/* Populating stops at the first guard page: ENOMEM, yet the VMA is locked (checked below). */
	zdtm_check(mlock(m, NPAGES * PG) == 0 || errno == ENOMEM, "mlock: %m");
	zdtm_check(smaps_read(&smaps_now) == 0 && smaps_has(&smaps_now, m, "lo"), "mlock did not lock the region");
	sealed = syscall(SYS_mseal, m, NPAGES * PG, 0) == 0;
	return m;
}

static void verify(const char *who, uint64_t *m, uint64_t seed, const char *what)
{
	struct smaps *s = &smaps_now;
	unsigned long bad = 0, first = 0;
	for (unsigned long p = 0; p < NPAGES; p++) {
		unsigned char *pg = (unsigned char *)m + p * PG;
		int f = smaps_faults(pg, 0, NULL);
		zdtm_check(f == is_guard(p), "%s: %s region page %lu %s", who, what, p,
			   f ? "faults (not a guard page)" : "does not fault (a guard page)");
		for (unsigned long i = p * PG / 8; !f && i < (p + 1) * PG / 8; i++)
			if (m[i] != word(seed, i) && !bad++)
				first = i;
	}
	zdtm_check(bad == 0, "%s: %s region: %lu words differ, first at offset %#lx", who, what, bad, first * 8);
	zdtm_check(smaps_read(s) == 0 && smaps_has(s, m, "sl") == sealed, "%s: %s region: seal flag", who, what);
	if (sealed) {
		zdtm_check(munmap(m, PG) < 0 && errno == EPERM, "%s: munmap of sealed memory", who);
		zdtm_check(mprotect(m, PG, PROT_READ) < 0 && errno == EPERM, "%s: mprotect of sealed memory", who);
		zdtm_check(mremap(m, NPAGES * PG, 2 * NPAGES * PG, MREMAP_MAYMOVE) == MAP_FAILED && errno == EPERM,
			   "%s: mremap of sealed memory", who);
	}
}

static void save(void)
{
	if (zdtm_status_field("/proc/self/status", "VmLck", lck0, sizeof(lck0)) < 0)
		lck0[0] = 0;
	mt_layout_save();
}

static void check_all(const char *who, int in_child)
{
	struct smaps *s = &smaps_now;
	if (zdtm_status_field("/proc/self/status", "VmLck", lck1, sizeof(lck1)) < 0)
		lck1[0] = 0;
	mt_layout_check(who);
	zdtm_check(strcmp(lck0, lck1) == 0, "%s: VmLck %s, was %s", who, lck1, lck0);
	zdtm_check(smaps_read(s) == 0 && smaps_has(s, inherited, "lo") == !in_child, "%s: inherited region lock", who);
	verify(who, inherited, 1, "inherited");
	if (in_child) {
		zdtm_check(smaps_has(s, mine, "lo"), "%s: own region is not locked", who);
		verify(who, mine, 2, "own");
	}
}

static void child_setup(void)
{
	int g;
	mine = make(2, &g);
	if (!mine || !g)
		_exit(2);
	save();
}

static void child_check(void)
{
	check_all("child", 1);
}

int main(void)
{
	int have_guards;
	zdtm_init("vma_lock_guard_seal");
	inherited = make(1, &have_guards);
	if (!inherited)
		zdtm_skip("no 4 MiB of memory");
	if (!have_guards)
		zdtm_skip("MADV_GUARD_INSTALL is not supported (Linux 6.13+)");
	fflush(stdout);
	pid_t child = mt_child(child_setup, child_check);
	save();
	zdtm_ready();
	zdtm_wait_sigterm();
	check_all("parent", 0);
	mt_child_finish(child);
	zdtm_exit();
}
