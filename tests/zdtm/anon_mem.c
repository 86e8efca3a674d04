// SPDX-License-Identifier: Apache-2.0
// Private anonymous memory: sizes from one page to several MiB, untouched pages (must read as zero),
// read-only and PROT_NONE regions, malloc/brk heap and sbrk(0); all must survive and stay writable.
#include "zdtm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PG 4096UL

struct region {
	const char *name;
	size_t size;
	int prot;        /* final protection */
	int sparse;      /* only every 16th page touched */
	unsigned char *p;
	uint64_t hash;
};

static struct region regions[] = {
	{ "one-page", PG, PROT_READ | PROT_WRITE, 0 },
	{ "64k", 16 * PG, PROT_READ | PROT_WRITE, 0 },
	{ "5m-pattern", 5 * 1024 * 1024 + 3 * PG, PROT_READ | PROT_WRITE, 0 },
	{ "2m-sparse", 512 * PG, PROT_READ | PROT_WRITE, 1 },
	{ "readonly", 8 * PG, PROT_READ, 0 },
	{ "prot-none", 4 * PG, PROT_NONE, 0 },
	{ "exec", 2 * PG, PROT_READ | PROT_EXEC, 0 },
};
#define NREG (sizeof(regions) / sizeof(regions[0]))

static unsigned char *untouched;      /* never written at all */
#define UNTOUCHED_SIZE (256 * PG)

#define NHEAP 64
static unsigned char *heap[NHEAP];
static size_t heap_size[NHEAP];
static uint64_t heap_hash[NHEAP];
static void *brk_before;
static unsigned char *brk_area;       /* grown with sbrk() */
#define BRK_AREA (32 * PG)
static uint64_t brk_hash;

static uint64_t region_hash(struct region *r)
{
	return zdtm_hash(r->p, r->size);
}

static void setup(void)
{
	for (size_t i = 0; i < NREG; i++) {
		struct region *r = &regions[i];

		r->p = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (r->p == MAP_FAILED) {
			perror("mmap");
			exit(2);
		}
		if (r->sparse) {
			for (size_t off = 0; off < r->size; off += 16 * PG)
				zdtm_fill(r->p + off, PG, 1000 + off);
		} else {
			zdtm_fill(r->p, r->size, i + 1);
		}
		r->hash = region_hash(r);
		if (mprotect(r->p, r->size, r->prot) < 0) {
			perror("mprotect");
			exit(2);
		}
	}
	untouched = mmap(NULL, UNTOUCHED_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (untouched == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}

	for (int i = 0; i < NHEAP; i++) {
		/* mostly small (brk heap), every 16th large (mmap'd by malloc) */
		heap_size[i] = (i % 16 == 15) ? 300000 + i * 100 : 16 + i * 97;
		heap[i] = malloc(heap_size[i]);
		zdtm_fill(heap[i], heap_size[i], 5000 + i);
		heap_hash[i] = zdtm_hash(heap[i], heap_size[i]);
	}
	for (int i = 0; i < NHEAP; i += 3) {    /* holes in the heap */
		free(heap[i]);
		heap[i] = NULL;
	}
	brk_area = sbrk(BRK_AREA);
	if (brk_area == (void *)-1) {
		perror("sbrk");
		exit(2);
	}
	zdtm_fill(brk_area, BRK_AREA, 77);
	brk_hash = zdtm_hash(brk_area, BRK_AREA);
	brk_before = sbrk(0);
}

static void check_perms(struct region *r)
{
	struct zdtm_vma v;
	char want[5] = "---p";

	if (zdtm_find_vma((unsigned long)r->p, &v)) {
		zdtm_fail("%s: no mapping at %p after restore", r->name, r->p);
		return;
	}
	if (r->prot & PROT_READ)
		want[0] = 'r';
	if (r->prot & PROT_WRITE)
		want[1] = 'w';
	if (r->prot & PROT_EXEC)
		want[2] = 'x';
	zdtm_check(!strcmp(v.perms, want), "%s: perms %s, want %s", r->name, v.perms, want);
	zdtm_check(v.end >= (unsigned long)r->p + r->size, "%s: mapping %lx-%lx shorter than %zu bytes",
		   r->name, v.start, v.end, r->size);
}

static void verify(void)
{
	for (size_t i = 0; i < NREG; i++) {
		struct region *r = &regions[i];

		check_perms(r);
		if (!(r->prot & PROT_READ))
			mprotect(r->p, r->size, PROT_READ);
		zdtm_check(region_hash(r) == r->hash, "%s: checksum %016llx != %016llx", r->name,
			   (unsigned long long)region_hash(r), (unsigned long long)r->hash);
		if (r->sparse) {
			for (size_t off = 0; off < r->size; off += PG) {
				if (off % (16 * PG) == 0)
					continue;
				for (size_t j = 0; j < PG; j++) {
					if (r->p[off + j]) {
						zdtm_fail("%s: untouched page +%zu not zero", r->name, off);
						off = r->size;
						break;
					}
				}
			}
		}
		/* must still be writable (after making it so if it was not) */
		if (mprotect(r->p, r->size, PROT_READ | PROT_WRITE) < 0)
			zdtm_fail("%s: mprotect rw: %m", r->name);
		r->p[r->size - 1] ^= 0x5a;
		r->p[0] = 0xa5;
		zdtm_check(r->p[0] == 0xa5, "%s: write after restore lost", r->name);
	}
	for (size_t j = 0; j < UNTOUCHED_SIZE; j++) {
		if (untouched[j]) {
			zdtm_fail("untouched region: byte %zu is %#x, want 0", j, untouched[j]);
			break;
		}
	}
	untouched[12345] = 1;
	for (int i = 0; i < NHEAP; i++) {
		if (!heap[i])
			continue;
		zdtm_check(zdtm_hash(heap[i], heap_size[i]) == heap_hash[i], "heap block %d (%zu bytes) differs", i,
			   heap_size[i]);
	}
	zdtm_check(sbrk(0) == brk_before, "sbrk(0) %p != %p", sbrk(0), brk_before);
	zdtm_check(zdtm_hash(brk_area, BRK_AREA) == brk_hash, "sbrk area differs");
	memset(brk_area, 1, BRK_AREA);
	/* the heap must keep working: allocate, grow brk further, free */
	for (int i = 0; i < NHEAP; i++) {
		free(heap[i]);
		heap[i] = malloc(1000 + i * 4000);
		memset(heap[i], i, 1000 + i * 4000);
	}
	zdtm_check(sbrk(PG) != (void *)-1, "sbrk grow after restore: %m");
}

int main(void)
{
	zdtm_init("anon_mem");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	verify();
	zdtm_exit();
}
