/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pages. Dump: PAGEMAP_SCAN (or /proc/PID/pagemap on older kernels) lists present and swapped
 * pages per VMA, skipping zero-page mappings and, in private file mappings, pages still shared
 * with the file; process_vm_readv copies them straight into the mapped page store.
 * Restore: ferry's filler writes the task's pages from the mapped store (mem/fill.c); runs left
 * to parent images are preadv()ed by the task from their stores, one call for up to 512 runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include "common/hash.h"
#define LOG_PREFIX "pages: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/kprobe.h"
#include "common/util.h"
#include "mem/mem.h"
#include "mem/pagemap-scan.h"
#include "mem/ranges.h"
#include "mem/shmem.h"
#include "mem/track.h"
#include "files/files.h"
#include "engine/chain.h"

#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)
#define PM_FILE (1ULL << 61)
#define PM_GUARD (1ULL << 58)
#define PM_SWAP_TYPE(e) ((e) & 0x1f)
#define SWP_PTE_MARKER 31	/* the kernel's last swap type: a marker, not swapped memory */

/*
 * A non-present entry that is not a real swap entry: a pte marker — userfaultfd's write-protect
 * of an unpopulated page (left by tracking, mem/track.c), or a guard region. PAGEMAP_SCAN reports
 * markers as swapped; /proc/PID/pagemap shows their swap type to root. There is no page behind a
 * marker (the content is zero, or the file's): it is not dumped.
 */
static int is_marker(uint64_t pme)
{
	return (pme & PM_SWAPPED) && !(pme & PM_PRESENT) && PM_SWAP_TYPE(pme) == SWP_PTE_MARKER;
}

/* Whether PAGEMAP_SCAN knows PAGE_IS_GUARD (Linux 6.14+); asked once. */
static int scan_knows_guards(int pmfd)
{
	static int known = -1;
	if (known < 0) {
		struct pm_scan_arg a = { .size = sizeof(a), .return_mask = PAGE_IS_GUARD };
		known = ioctl(pmfd, PAGEMAP_SCAN, &a) >= 0 || errno != EINVAL;
	}
	return known;
}

/*
 * The regions of [s, e) in the task behind pmfd (its /proc/PID/pagemap) whose pages have any of
 * the PAGE_IS_* categories anyof (0: no such test) and all of all, in order, added to out.
 */
static int scan_regions(int pmfd, uint64_t s, uint64_t e, uint64_t anyof, uint64_t all, struct range_list *out)
{
	struct page_region vec[256];
	struct pm_scan_arg a = {
		.size = sizeof(a), .start = s, .end = e, .vec = (uintptr_t)vec, .vec_len = ARRAY_SIZE(vec),
		.category_anyof_mask = anyof, .category_mask = all, .return_mask = anyof | all,
	};
	while (a.start < e) {
		long n = ioctl(pmfd, PAGEMAP_SCAN, &a);
		if (n < 0)
			return -errno;
		for (long i = 0; i < n; i++)
			if (range_add(out, vec[i].start, vec[i].end) < 0)
				return -ENOMEM;
		if (a.walk_end <= a.start)
			break;
		a.start = a.walk_end;
	}
	return 0;
}

/* Guard regions of a VMA with no pages of its own (a shared file mapping, say): PAGE_IS_GUARD. */
static int scan_guards(int pmfd, const Ferry__Vma *v, struct range_list *guards)
{
	return scan_regions(pmfd, v->start, v->end, 0, PAGE_IS_GUARD, guards);
}

/* Adds [s, e) without the pages that are pte markers; guard regions go to guards. */
static int add_swapped(int pmfd, uint64_t s, uint64_t e, struct range_list *out, struct range_list *guards)
{
	uint64_t buf[512];
	while (s < e) {
		size_t n = (e - s) / 4096 < ARRAY_SIZE(buf) ? (e - s) / 4096 : ARRAY_SIZE(buf);
		int r = pread_full(pmfd, buf, n * 8, (s / 4096) * 8);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n; i++, s += 4096)
			if (range_add(buf[i] & PM_GUARD ? guards : is_marker(buf[i]) ? NULL : out, s, s + 4096) < 0)
				return -ENOMEM;
	}
	return 0;
}

static int scan_vma_pagemap_scan(int pmfd, const Ferry__Vma *v, struct range_list *out, struct range_list *guards)
{
	struct page_region vec[512];
	struct pm_scan_arg a = {
		.size = sizeof(a), .start = v->start, .end = v->end,
		.vec = (uintptr_t)vec, .vec_len = ARRAY_SIZE(vec),
		.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
		.category_inverted = PAGE_IS_PFNZERO,
		.category_mask = PAGE_IS_PFNZERO,
		.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | (scan_knows_guards(pmfd) ? PAGE_IS_GUARD : 0),
	};
	if (v->kind == FERRY__VMA_KIND__VMA_FILE_PRIVATE) {	/* only pages that left the file (COW) */
		a.category_inverted |= PAGE_IS_FILE;
		a.category_mask |= PAGE_IS_FILE;
	}
	while (a.start < v->end) {
		long n = ioctl(pmfd, PAGEMAP_SCAN, &a);
		if (n < 0)
			return -errno;
		for (long i = 0; i < n; i++) {
			int r = vec[i].categories & PAGE_IS_GUARD ? range_add(guards, vec[i].start, vec[i].end) :
				vec[i].categories & PAGE_IS_SWAPPED ? add_swapped(pmfd, vec[i].start, vec[i].end, out, guards)
								    : range_add(out, vec[i].start, vec[i].end);
			if (r < 0)
				return r;
		}
		if (a.walk_end <= a.start)
			break;
		a.start = a.walk_end;
	}
	return 0;
}

static int scan_vma_pagemap_read(int pmfd, const Ferry__Vma *v, struct range_list *out, struct range_list *guards)
{
	uint64_t buf[4096];
	for (uint64_t addr = v->start; addr < v->end;) {
		size_t n = (v->end - addr) / 4096;
		if (n > ARRAY_SIZE(buf))
			n = ARRAY_SIZE(buf);
		int r = pread_full(pmfd, buf, n * 8, (addr / 4096) * 8);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n; i++, addr += 4096) {
			uint64_t e = buf[i];
			if ((e & PM_GUARD) && range_add(guards, addr, addr + 4096) < 0)
				return -ENOMEM;
			if (!(e & (PM_PRESENT | PM_SWAPPED)) || is_marker(e))
				continue;
			if (v->kind == FERRY__VMA_KIND__VMA_FILE_PRIVATE && (e & PM_FILE))
				continue;
			if (range_add(out, addr, addr + 4096) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

/* The pages of one private VMA worth dumping (present or swapped), and its guard regions. */
static int scan_vma(int pmfd, int use_scan, const Ferry__Vma *v, struct range_list *out, struct range_list *guards)
{
	return use_scan ? scan_vma_pagemap_scan(pmfd, v, out, guards) : scan_vma_pagemap_read(pmfd, v, out, guards);
}

#define BOUNCE_PAGES 256	/* 1 MiB: stays in L2 between the read, the hash and the write */
_Static_assert(BOUNCE_PAGES >= PS_RUN_MAX_PAGES, "a run must fit in the copy buffer");
#define BATCH_IOV 1024

/* A batch of runs (each at most PS_RUN_MAX_PAGES) read with one process_vm_readv. */
struct batch {
	struct iovec remote[BATCH_IOV];
	Ferry__PagemapEntry *entry[BATCH_IOV];
	int readable[BATCH_IOV];
	uint8_t hashed[BATCH_IOV];	/* record each page's hash (hash tracking, shared memory) */
	int nshared;		/* runs that may be shared copy-on-write (see flush_batch) */
	size_t n;
	uint64_t pages;
	uint64_t store_idx;	/* where the batch starts in the page store */
	uint8_t *buf;
};

/* Hash tracking: each page's hash, for the next dump of the chain (mem/track.h). */
static int hash_pages(struct dump_ctx *ctx, Ferry__PagemapEntry *e, const uint8_t *data)
{
	e->page_xxh3 = ARENA_ARRAY(&ctx->arena, uint64_t, e->nr_pages);
	if (!e->page_xxh3)
		return fe_set(ctx->err, ENOMEM, "page hashes");
	e->n_page_xxh3 = e->nr_pages;
	for (uint32_t p = 0; data && p < e->nr_pages; p++)
		e->page_xxh3[p] = XXH3_64bits(data + (size_t)p * 4096, 4096);
	return 0;
}

/* Reads the batch (falling back to /proc/PID/mem for unreadable VMAs), hashes, stores. */
static int flush_batch(struct dump_ctx *ctx, struct dtask *t, int memfd, struct batch *b, struct page_store *ps)
{
	if (!b->n)
		return 0;
	struct iovec local = { b->buf, b->pages * 4096 };
	/*
	 * process_vm_readv pins pages, and pinning a page shared copy-on-write copies it (Linux
	 * 5.19+): a running tree (-R) or one whose tasks share memory is read through /proc/PID/mem.
	 */
	ssize_t got = ctx->pin_free && b->nshared ? 0 : process_vm_readv(t->pid, &local, 1, b->remote, b->n, 0);
	uint64_t off = 0;
	for (size_t i = 0; i < b->n; i++) {
		size_t len = b->remote[i].iov_len;
		if (got < (ssize_t)(off + len) || !b->readable[i]) {
			int r = pread_full(memfd, b->buf + off, len, (off_t)(uintptr_t)b->remote[i].iov_base);
			/*
			 * A pre-dump reads a running task: memory unmapped meanwhile is gone. Its pages are
			 * unmapped or in a new VMA at the next dump, which copies them afresh either way.
			 */
			if (r < 0 && ctx->opts->pre_dump)
				memset(b->buf + off, 0, len);
			else if (r < 0)
				return fe_set(ctx->err, r, "pid %d: read memory at %p (%zu bytes)", t->pid,
					      b->remote[i].iov_base, len);
		}
		b->entry[i]->xxh3 = XXH3_64bits(b->buf + off, len);
		if (b->hashed[i]) {
			int r = hash_pages(ctx, b->entry[i], b->buf + off);
			if (r < 0)
				return r;
		}
		off += len;
	}
	int r = pages_write(ps, b->store_idx, b->buf, b->pages, ctx->err);
	if (r == 0 && fault_point("dump-pages-batch"))
		r = fe_msg(ctx->err, EIO, "fault injected after a batch of pages");
	if (r == 0)
		r = dump_cancelled(ctx);	/* a long copy honours a cancel request batch by batch */
	progress_add(&ctx->progress, b->pages * 4096);
	b->store_idx += b->pages;
	b->n = 0;
	b->pages = 0;
	b->nshared = 0;
	return r;
}

/*
 * Whether each page of VMA i gets its hash in the image: with hash tracking, and for shared
 * memory (whose writes may have to be found by hash, mem/shmem.c), when a next round follows.
 */
static int hashes_recorded(const struct dump_ctx *ctx, const struct dtask *t, size_t i)
{
	return ctx->opts->track_mem && (ctx->hash_track || (t->by_hash && (t->by_hash[i] & 1)));
}

static int compared_by_hash(const struct dump_ctx *ctx, const struct dtask *t, size_t i)
{
	return ctx->prev && (ctx->hash_track || (t->by_hash && (t->by_hash[i] & 2)));
}

static int copy_ranges(struct dump_ctx *ctx, struct dtask *t, struct range_list *per_vma, struct page_store *ps)
{
	char path[64];
	_cleanup_close_ int memfd = open(PROC_PATH(path, t->pid, "mem"), O_RDONLY | O_CLOEXEC);
	if (memfd < 0)
		return fe_set(ctx->err, errno, "open %s", path);
	_cleanup_free_ struct batch *b = calloc(1, sizeof(*b));
	if (!b || !(b->buf = aligned_alloc(4096, BOUNCE_PAGES * 4096)))
		return fe_set(ctx->err, ENOMEM, "copy buffer");
	Ferry__Pagemap *pm = t->pagemap;
	struct range_list *in_parent = t->parent_ranges;
	int r = 0;
	for (size_t i = 0; i < t->mm->n_vmas && r == 0; i++) {
		const struct range_list *l = &per_vma[i], *pl = in_parent ? &in_parent[i] : NULL;
		size_t k = 0, q = 0;
		while (r == 0 && (k < l->n || (pl && q < pl->n))) {
			int parent = pl && q < pl->n && (k >= l->n || pl->r[q].start < l->r[k].start);
			uint64_t start = parent ? pl->r[q].start : l->r[k].start, end = parent ? pl->r[q].end : l->r[k].end;
			parent ? q++ : k++;
			for (uint64_t a = start; a < end && r == 0;) {
				uint32_t n = (end - a) / 4096;
				if (n > PS_RUN_MAX_PAGES)
					n = PS_RUN_MAX_PAGES;
				if (!parent && (b->n == BATCH_IOV || b->pages + n > BOUNCE_PAGES))
					r = flush_batch(ctx, t, memfd, b, ps);
				Ferry__PagemapEntry *e = ARENA_NEW(&ctx->arena, Ferry__PagemapEntry);
				if (!e) {
					r = fe_set(ctx->err, ENOMEM, "pagemap");
					break;
				}
				ferry__pagemap_entry__init(e);
				e->vaddr = a;
				e->nr_pages = n;
				pm->entries[pm->n_entries++] = e;
				if (parent) {	/* unchanged since the parent image: found there at restore */
					e->has_flags = 1;
					e->flags = PM_IN_PARENT;
					if (hashes_recorded(ctx, t, i) && (r = hash_pages(ctx, e, NULL)) == 0 &&
					    chain_page_hashes(ctx->prev, t->pid, a, n, e->page_xxh3) < 0)
						e->n_page_xxh3 = 0;	/* left by write tracking: no hashes to pass on */
					if (r < 0)
						break;
					a += (uint64_t)n * 4096;
					continue;
				}
				b->remote[b->n] = (struct iovec){ (void *)(uintptr_t)a, (size_t)n * 4096 };
				b->readable[b->n] = !!(t->mm->vmas[i]->prot & PROT_READ);
				b->hashed[b->n] = (uint8_t)hashes_recorded(ctx, t, i);
				/* Written since the last protect means its copy-on-write was broken: exclusive. */
				b->nshared += !(t->written_only && t->written_only[i]);
				b->entry[b->n++] = e;
				b->pages += n;
				a += (uint64_t)n * 4096;
			}
		}
	}
	if (r == 0)
		r = flush_batch(ctx, t, memfd, b, ps);
	free(b->buf);
	return r;
}

#define PM_PFN_MASK ((1ULL << 55) - 1)

/*
 * Copy-on-write sharing with the parent: in a VMA the child has exactly as its parent does, a
 * page mapped to the same physical page in both is still shared. Such runs are recorded as
 * inherited (restore forks the child from its restored parent and keeps them); only the rest
 * of the child's pages is stored. PFNs are visible to root in /proc/PID/pagemap.
 */
static int split_inherited(struct dump_ctx *ctx, struct dtask *t, const Ferry__Vma *v, struct range_list *l,
			   struct range_list *inherited)
{
	const struct dtask *p = &ctx->tasks[t->parent];
	const Ferry__Vma *pv = NULL;
	for (size_t j = 0; j < p->mm->n_vmas && !pv; j++)
		if (vma_same(p->mm->vmas[j], v))
			pv = p->mm->vmas[j];
	if (!pv || v->kind == FERRY__VMA_KIND__VMA_SHARED_ANON)	/* shared: stored by one task (mem/shmem.c) */
		return 0;
	char path[64];
	_cleanup_close_ int cfd = open(PROC_PATH(path, t->pid, "pagemap"), O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int pfd = open(PROC_PATH(path, p->pid, "pagemap"), O_RDONLY | O_CLOEXEC);
	if (cfd < 0 || pfd < 0)
		return -errno;
	struct range_list own = { 0 };
	uint64_t cbuf[512], pbuf[512];
	int r = 0;
	for (size_t k = 0; k < l->n && r == 0; k++) {
		for (uint64_t a = l->r[k].start; a < l->r[k].end && r == 0;) {
			size_t n = (l->r[k].end - a) / 4096;
			if (n > ARRAY_SIZE(cbuf))
				n = ARRAY_SIZE(cbuf);
			if ((r = pread_full(cfd, cbuf, n * 8, (a / 4096) * 8)) < 0 ||
			    (r = pread_full(pfd, pbuf, n * 8, (a / 4096) * 8)) < 0)
				break;
			for (size_t i = 0; i < n && r == 0; i++, a += 4096) {
				int same = (cbuf[i] & PM_PRESENT) && (pbuf[i] & PM_PRESENT) &&
					   (cbuf[i] & PM_PFN_MASK) && (cbuf[i] & PM_PFN_MASK) == (pbuf[i] & PM_PFN_MASK);
				r = range_add(same ? inherited : &own, a, a + 4096);
			}
		}
	}
	if (r < 0) {
		free(own.r);
		return r;
	}
	free(l->r);
	*l = own;
	return 0;
}

static int record_inherited(struct dump_ctx *ctx, struct dtask *t, const struct range_list *l)
{
	Ferry__Pagemap *pm = t->pagemap;
	size_t n = 0;
	for (size_t k = 0; k < l->n; k++)
		n += ((l->r[k].end - l->r[k].start) / 4096 + PS_RUN_MAX_PAGES - 1) / PS_RUN_MAX_PAGES;
	pm->inherited = ARENA_ARRAY(&ctx->arena, Ferry__PagemapEntry *, n + 1);
	if (!pm->inherited)
		return -ENOMEM;
	for (size_t k = 0; k < l->n; k++)
		for (uint64_t a = l->r[k].start; a < l->r[k].end;) {
			uint32_t np = (l->r[k].end - a) / 4096 > PS_RUN_MAX_PAGES ? PS_RUN_MAX_PAGES : (l->r[k].end - a) / 4096;
			Ferry__PagemapEntry *e = ARENA_NEW(&ctx->arena, Ferry__PagemapEntry);
			if (!e)
				return -ENOMEM;
			ferry__pagemap_entry__init(e);
			e->vaddr = a;
			e->nr_pages = np;
			pm->inherited[pm->n_inherited++] = e;
			a += (uint64_t)np * 4096;
		}
	return 0;
}

static int add_range(void *l, uint64_t s, uint64_t e)
{
	return range_add(l, s, e);
}

/* Clean runs of a VMA: those the parent image holds are left to it, the rest stored again. */
struct split {
	struct range_list *held, *stored;
	uint64_t unheld;
};

static int split_held(void *arg, uint64_t s, uint64_t e, int held)
{
	struct split *sp = arg;
	if (!held)
		sp->unheld += (e - s) / 4096;
	return range_add(held ? sp->held : sp->stored, s, e);
}

/*
 * With a previous image and the task tracked: present pages not written since it are left to
 * the parent image (when it holds them); written ones, and everything in a VMA that is not
 * tracked, are stored again. The present ranges of VMA i are split into stored and in-parent.
 */
static int split_unchanged(struct dump_ctx *ctx, struct dtask *t, const Ferry__Vma *v, size_t i,
			   struct range_list written, int tracked)
{
	struct range_list keep = { 0 };
	struct range_list *l = &((struct range_list *)t->page_ranges)[i];
	int r = 0;
	if (!tracked || !ctx->prev) {
		free(written.r);
		return 0;
	}
	if (!t->parent_ranges && !(t->parent_ranges = calloc(t->mm->n_vmas + 1, sizeof(struct range_list)))) {
		free(written.r);
		return fe_set(ctx->err, ENOMEM, "page ranges");
	}
	struct range_list *pl = &((struct range_list *)t->parent_ranges)[i];
	size_t w = 0;
	uint64_t unheld = 0;
	for (size_t k = 0; k < l->n && r == 0; k++) {
		uint64_t a = l->r[k].start, end = l->r[k].end;
		while (a < end && r == 0) {
			while (w < written.n && written.r[w].end <= a)
				w++;
			int dirty = w < written.n && written.r[w].start <= a;
			uint64_t stop = dirty ? written.r[w].end : (w < written.n ? written.r[w].start : end);
			stop = stop < end ? stop : end;
			struct split sp = { pl, &keep };
			r = dirty ? range_add(&keep, a, stop) : chain_cover(ctx->prev, t->pid, a, stop, split_held, &sp);
			unheld += sp.unheld;
			a = stop;
		}
	}
	if (unheld)
		pr_debug("pid %d: %#llx-%#llx: %llu clean page(s) the parent image lacks, stored again\n", t->pid,
			 (unsigned long long)v->start, (unsigned long long)v->end, (unsigned long long)unheld);
	/* Stored here = written since the protect (unless the chain lacked a clean page). */
	int only_written = keep.n == written.n;
	for (size_t k = 0; only_written && k < keep.n; k++)
		only_written = keep.r[k].start >= written.r[k].start && keep.r[k].end <= written.r[k].end;
	if (!t->written_only)
		t->written_only = calloc(t->mm->n_vmas + 1, 1);
	if (t->written_only)
		t->written_only[i] = (uint8_t)only_written;
	free(written.r);
	free(l->r);
	*l = keep;
	return r < 0 ? fe_set(ctx->err, ENOMEM, "page ranges") : 0;
}

/* Pages and runs to store and to leave to the parent (sign: 1 to add them up, -1 to take them back). */
static void count_task(struct dump_ctx *ctx, struct dtask *t, int sign)
{
	uint64_t pages = 0, runs = 0, in_parent = 0;
	for (size_t i = 0; i < t->mm->n_vmas; i++) {
		const struct range_list *l = &((struct range_list *)t->page_ranges)[i];
		const struct range_list *pl = t->parent_ranges ? &((struct range_list *)t->parent_ranges)[i] : NULL;
		for (size_t k = 0; k < l->n; k++) {
			uint64_t np = (l->r[k].end - l->r[k].start) / 4096;
			pages += np;
			runs += (np + PS_RUN_MAX_PAGES - 1) / PS_RUN_MAX_PAGES;
		}
		for (size_t k = 0; pl && k < pl->n; k++) {
			uint64_t np = (pl->r[k].end - pl->r[k].start) / 4096;
			in_parent += np;
			runs += (np + PS_RUN_MAX_PAGES - 1) / PS_RUN_MAX_PAGES;
		}
	}
	t->npages += sign * pages;
	t->nruns += sign * runs;
	ctx->stats.pages_in_parent += sign * in_parent;
}

/*
 * Hash tracking (mem/track.h): every present page of the task is read and hashed; a page whose
 * hash is the one the parent image records for it is left to the parent, the rest is stored.
 * Runs while the task is frozen for a dump; a pre-dump reads a running task, which is harmless:
 * whatever it stores is hashed as stored, and the final dump compares against that.
 */
static int split_by_hash(struct dump_ctx *ctx, struct dtask *t)
{
	char path[64];
	_cleanup_close_ int memfd = open(PROC_PATH(path, t->pid, "mem"), O_RDONLY | O_CLOEXEC);
	if (memfd < 0)
		return fe_set(ctx->err, errno, "open %s", path);
	if (!t->parent_ranges && !(t->parent_ranges = calloc(t->mm->n_vmas + 1, sizeof(struct range_list))))
		return fe_set(ctx->err, ENOMEM, "page ranges");
	_cleanup_free_ uint8_t *buf = aligned_alloc(4096, BOUNCE_PAGES * 4096);
	_cleanup_free_ uint64_t *want = malloc(BOUNCE_PAGES * sizeof(*want));
	if (!buf || !want)
		return fe_set(ctx->err, ENOMEM, "hash buffer");
	count_task(ctx, t, -1);
	int r = 0;
	for (size_t i = 0; i < t->mm->n_vmas && r == 0; i++) {
		struct range_list *l = &((struct range_list *)t->page_ranges)[i];
		struct range_list *pl = &((struct range_list *)t->parent_ranges)[i], keep = { 0 };
		if (!compared_by_hash(ctx, t, i))
			continue;
		for (size_t k = 0; k < l->n && r == 0; k++)
			for (uint64_t a = l->r[k].start; a < l->r[k].end && r == 0;) {
				uint64_t n = (l->r[k].end - a) / 4096;
				n = n < BOUNCE_PAGES ? n : BOUNCE_PAGES;
				/* Unreadable (gone while a pre-dump ran, or PROT_NONE) or not in the parent: stored. */
				if (pread_full(memfd, buf, n * 4096, (off_t)a) < 0 ||
				    chain_page_hashes(ctx->prev, t->pid, a, n, want) < 0) {
					for (uint64_t p = 0; p < n && r == 0; p++)
						r = range_add(&keep, a + p * 4096, a + (p + 1) * 4096);
				} else {
					for (uint64_t p = 0; p < n && r == 0; p++)
						r = range_add(XXH3_64bits(buf + p * 4096, 4096) == want[p] ? pl : &keep,
							      a + p * 4096, a + (p + 1) * 4096);
				}
				a += n * 4096;
			}
		free(l->r);
		*l = keep;
	}
	count_task(ctx, t, 1);
	return r < 0 ? fe_set(ctx->err, -r, "pid %d: compare pages with the parent image", t->pid) : 0;
}

/*
 * Pass 1, for every task before any page is copied (copying may unshare what the child still
 * shares with its parent): find present pages per VMA and split off those shared with the parent.
 */
/* A VMA's pages; with tracking, those written since the parent image (*tracked set). */
static int scan_one(struct dump_ctx *ctx, struct dtask *t, int pmfd, size_t i, struct range_list *out,
		    struct range_list *inherited, struct range_list *written, int *tracked, struct range_list *guards)
{
	Ferry__Vma *v = t->mm->vmas[i];
	int use_scan = kprobe_get()->pagemap_scan, r;
	*tracked = 0;
	if (v->kind == FERRY__VMA_KIND__VMA_SHARED_ANON) {
		r = shmem_scan_vma(ctx, t, v, out, written, tracked);
		/* Writes the tracking cannot see (a child that came and went, write(2)): found by hash. */
		if (r == 0 && !t->by_hash && !(t->by_hash = calloc(t->mm->n_vmas + 1, 1)))
			r = -ENOMEM;
		if (r == 0)
			t->by_hash[i] = (uint8_t)(1 | (*tracked ? 0 : 2));
		if (r == -EPERM || r == -EACCES) {
			pr_warn("pid %d: %#llx-%#llx: cannot open the shared object (%s): pages only another process "
				"has mapped are missed\n", t->pid, (unsigned long long)v->start, (unsigned long long)v->end,
				strerror(-r));
			r = scan_vma(pmfd, use_scan, v, out, guards);
		}
		return r < 0 ? fe_set(ctx->err, r, "pid %d: scan the shared memory at %#llx-%#llx", t->pid,
				      (unsigned long long)v->start, (unsigned long long)v->end) : 0;
	}
	/*
	 * Protect (and collect what was written) before listing: a pre-dump scans running tasks, and
	 * a page first written between a listing and a protect would be in neither.
	 */
	if ((r = track_vma(ctx, t, v, tracked, add_range, written)) < 0)
		return r;
	r = scan_vma(pmfd, use_scan, v, out, guards);
	if (r == 0 && t->parent >= 0 && !ctx->opts->pre_dump)
		r = split_inherited(ctx, t, v, out, inherited);
	return r < 0 ? fe_set(ctx->err, r, "pid %d: scan pages of %#llx-%#llx", t->pid,
			      (unsigned long long)v->start, (unsigned long long)v->end) : 0;
}

/* Guard regions as PageRanges of the mm. */
static int record_guards(struct dump_ctx *ctx, struct dtask *t, const struct range_list *g)
{
	t->mm->n_guards = 0;
	t->mm->guards = ARENA_ARRAY(&ctx->arena, Ferry__PageRange *, g->n + 1);
	for (size_t k = 0; t->mm->guards && k < g->n; k++) {
		Ferry__PageRange *pr = ARENA_NEW(&ctx->arena, Ferry__PageRange);
		if (!pr)
			return -ENOMEM;
		ferry__page_range__init(pr);
		pr->start = g->r[k].start;
		pr->end = g->r[k].end;
		t->mm->guards[t->mm->n_guards++] = pr;
	}
	return t->mm->guards ? 0 : -ENOMEM;
}

static int last_task(const struct dump_ctx *ctx, const struct dtask *t)
{
	for (size_t k = ctx->ntasks; k-- > 0;)
		if (!ctx->tasks[k].zombie)
			return &ctx->tasks[k] == t;
	return 1;
}

void mem_note_reaped(struct dtask *t)
{
	if (t->mm->has_reaped_minflt)
		return;
	t->mm->has_reaped_minflt = 1;
	t->mm->reaped_minflt = proc_stat_field(t->pid, 11);
}

/*
 * Pass 1, for every task before any page is copied (copying may unshare what the child still
 * shares with its parent): find present pages per VMA and split off those shared with the parent.
 */
int mem_scan_pages(struct dump_ctx *ctx, struct dtask *t)
{
	char path[64];
	_cleanup_close_ int pmfd = open(PROC_PATH(path, t->pid, "pagemap"), O_RDONLY | O_CLOEXEC);
	if (pmfd < 0)
		return fe_set(ctx->err, errno, "open %s", path);
	struct range_list *per_vma = calloc(t->mm->n_vmas + 1, sizeof(*per_vma));
	if (!per_vma)
		return fe_set(ctx->err, ENOMEM, "page ranges");
	t->page_ranges = per_vma;
	mem_note_reaped(t);
	struct range_list inherited = { 0 }, guards = { 0 };
	int r = 0, guard_scan = kprobe_get()->pagemap_scan && scan_knows_guards(pmfd);
	for (size_t i = 0; i < t->mm->n_vmas && r == 0; i++) {
		Ferry__Vma *v = t->mm->vmas[i];
		if (!vma_has_pages(v)) {
			if (guard_scan && !vma_is_kernel(v) && v->kind != FERRY__VMA_KIND__VMA_AIO_RING &&
			    (r = scan_guards(pmfd, v, &guards)) < 0)
				r = fe_set(ctx->err, r, "pid %d: guard regions of %#llx", t->pid, (unsigned long long)v->start);
			continue;
		}
		ctx->stats.pages_scanned += (v->end - v->start) / 4096;
		struct range_list written = { 0 };
		int tracked;
		r = scan_one(ctx, t, pmfd, i, &per_vma[i], &inherited, &written, &tracked, &guards);
		if (r < 0)
			free(written.r);
		else
			r = split_unchanged(ctx, t, v, i, written, tracked);
	}
	if (r == 0)
		count_task(ctx, t, 1);
	if (r == 0 && (record_inherited(ctx, t, &inherited) < 0 || record_guards(ctx, t, &guards) < 0))
		r = fe_set(ctx->err, ENOMEM, "pagemap");
	free(inherited.r);
	free(guards.r);
	if (r < 0 || last_task(ctx, t))
		shmem_dump_free(ctx);
	return r;
}

/* Pass 2: copy the pages into the task's page store. */
int mem_copy_pages(struct dump_ctx *ctx, struct dtask *t)
{
	struct page_store ps = { .fd = -1 };
	Ferry__Pagemap *pm = t->pagemap;
	int by_hash = 0;
	for (size_t i = 0; i < t->mm->n_vmas && !by_hash; i++)
		by_hash = compared_by_hash(ctx, t, i);
	if (by_hash) {
		int r = split_by_hash(ctx, t);
		if (r < 0)
			return r;
	}
	pm->pid = t->pid;
	pm->total_pages = t->npages;
	pm->entries = ARENA_ARRAY(&ctx->arena, Ferry__PagemapEntry *, t->nruns + 1);
	int r = pm->entries ? pages_create_to(ctx->sink, t->pid, t->npages, &ps, ctx->err) : fe_set(ctx->err, ENOMEM, "pagemap");
	if (r == 0) {
		uint64_t t0 = now_us();
		r = copy_ranges(ctx, t, t->page_ranges, &ps);
		ctx->stats.memdump_us += now_us() - t0;
		r = r < 0 ? r : pages_commit(&ps, ctx->err);
		if (r < 0)
			pages_abort(&ps);
	}
	ctx->stats.pages_written += t->npages;
	ctx->stats.bytes_written += t->npages * 4096;
	pr_info("pid %d: %llu pages saved in %llu runs, %zu run(s) shared with the parent\n", t->pid,
		(unsigned long long)t->npages, (unsigned long long)t->nruns, pm->n_inherited);
	return r;
}

void mem_free_ranges(struct dtask *t)
{
	struct range_list *lists[2] = { t->page_ranges, t->parent_ranges };
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; lists[k] && t->mm && i < t->mm->n_vmas; i++)
			free(lists[k][i].r);
		free(lists[k]);
	}
	t->page_ranges = t->parent_ranges = NULL;
	free(t->written_only);
	t->written_only = NULL;
	free(t->by_hash);
	t->by_hash = NULL;
}

static int is_private(const Ferry__Vma *v)
{
	return v->kind == FERRY__VMA_KIND__VMA_ANON || v->kind == FERRY__VMA_KIND__VMA_HEAP ||
	       v->kind == FERRY__VMA_KIND__VMA_STACK || v->kind == FERRY__VMA_KIND__VMA_FILE_PRIVATE;
}

/* Next inherited run at or after addr. */
static const Ferry__PagemapEntry *next_inherited(const Ferry__Pagemap *pm, size_t *b, uint64_t addr)
{
	while (*b < pm->n_inherited && pm->inherited[*b]->vaddr + pm->inherited[*b]->nr_pages * 4096ULL <= addr)
		(*b)++;
	return *b < pm->n_inherited ? pm->inherited[*b] : NULL;
}

/* Narrows [*s, *e) to the span of the present regions in it (cursor *k); 0 if there are none. */
static int clip_to_present(const struct range_list *l, size_t *k, uint64_t *s, uint64_t *e)
{
	while (*k < l->n && l->r[*k].end <= *s)
		(*k)++;
	if (*k == l->n || l->r[*k].start >= *e)
		return 0;
	uint64_t first = l->r[*k].start > *s ? l->r[*k].start : *s, last = first;
	for (size_t j = *k; j < l->n && l->r[j].start < *e; j++)
		last = l->r[j].end < *e ? l->r[j].end : *e;
	*s = first;
	*e = last;
	return 1;
}

/*
 * In VMAs a forked task keeps from its parent, everything but the runs it still shares is
 * dropped: pages it did not have, and pages it will be given its own copy of — writing those over
 * the parent's would first copy the parent's page (a copy-on-write fault) only to overwrite it.
 * Where PAGEMAP_SCAN says which pages the fork brought, only those spans are dropped (most gaps
 * hold none: one injected madvise() fewer each).
 */
int pages_restore_drop_gaps(struct restore_ctx *ctx, struct rtask *t, const int *kept)
{
	const Ferry__Pagemap *pm = t->pagemap;
	char path[64];
	_cleanup_close_ int pmfd = kprobe_get()->pagemap_scan ? open(PROC_PATH(path, t->pid, "pagemap"), O_RDONLY | O_CLOEXEC) : -1;
	size_t b = 0;
	int r = 0;
	for (size_t i = 0; r == 0 && i < t->mm->n_vmas; i++) {
		const Ferry__Vma *v = t->mm->vmas[i];
		struct range_list present = { 0 };
		size_t k = 0;
		if (!kept[i] || !is_private(v))
			continue;
		int exact = pmfd >= 0 &&	/* the pages the fork brought (present or swapped) */
			    scan_regions(pmfd, v->start, v->end, PAGE_IS_PRESENT | PAGE_IS_SWAPPED, 0, &present) == 0;
		for (uint64_t addr = v->start; r == 0 && addr < v->end;) {
			const Ferry__PagemapEntry *e = next_inherited(pm, &b, addr);
			uint64_t gap_end = e && e->vaddr < v->end ? e->vaddr : v->end, ds = addr, de = gap_end;
			long ret;
			if (gap_end > addr && (!exact || clip_to_present(&present, &k, &ds, &de)))
				r = RINJ(ctx, &t->threads[0].inj, &ret, "drop pages the task did not have", SYS_madvise, ds,
					 de - ds, MADV_DONTNEED);
			addr = e && e->vaddr < v->end ? e->vaddr + e->nr_pages * 4096ULL : v->end;
		}
		free(present.r);
	}
	return r;
}

#define FILL_IOV_MAX 512

struct pieces {
	struct chain_piece *p;
	size_t n, cap;
};

static int add_piece(const struct chain_piece *p, void *arg)
{
	struct pieces *ps = arg;
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 64;
		struct chain_piece *n = realloc(ps->p, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		ps->p = n;
		ps->cap = cap;
	}
	ps->p[ps->n++] = *p;
	return 0;
}

static int cmp_piece(const void *a, const void *b)
{
	const struct chain_piece *x = a, *y = b;
	if (x->store_fd != y->store_fd)
		return x->store_fd < y->store_fd ? -1 : 1;
	return x->file_off < y->file_off ? -1 : x->file_off > y->file_off;
}

/*
 * Runs left to the parent images: each store of the chain is handed to the task and read from.
 * (The task's own runs are written by the filler, mem/fill.c.)
 */
int pages_restore_fill_chain(struct restore_ctx *ctx, struct rtask *t)
{
	const Ferry__Pagemap *pm = t->pagemap;
	struct injector *inj = &t->threads[0].inj;
	struct pieces ps = { 0 };
	int r = 0;
	for (size_t i = 0; i < pm->n_entries && r == 0; i++)
		if (pm->entries[i]->flags & PM_IN_PARENT)
			r = chain_resolve(ctx->chain, t->pid, pm->entries[i]->vaddr, pm->entries[i]->nr_pages * 4096ULL,
					  add_piece, &ps, ctx->err);
	qsort(ps.p, ps.n, sizeof(*ps.p), cmp_piece);
	long remote = -1, ret;
	for (size_t i = 0; i < ps.n && r == 0;) {
		if (i == 0 || ps.p[i].store_fd != ps.p[i - 1].store_fd) {
			if (remote >= 0)
				RINJ(ctx, inj, &ret, "close", SYS_close, remote);
			remote = -1;
			if ((r = files_fetch(ctx, inj, ps.p[i].store_fd, &remote)) < 0)
				break;
		}
		struct iovec iov[FILL_IOV_MAX];
		size_t cnt = 0, first = i;
		uint64_t bytes = 0;
		do {	/* pieces that follow each other in the file: one preadv */
			iov[cnt++] = (struct iovec){ (void *)(uintptr_t)ps.p[i].vaddr, ps.p[i].len };
			bytes += ps.p[i].len;
			i++;
		} while (i < ps.n && cnt < FILL_IOV_MAX && ps.p[i].store_fd == ps.p[first].store_fd &&
			 ps.p[i].file_off == ps.p[i - 1].file_off + ps.p[i - 1].len);
		uint64_t at = inj_scratch_put(inj, 0, iov, cnt * sizeof(iov[0]));
		r = RINJ(ctx, inj, &ret, "read pages from a parent image", SYS_preadv, remote, at, cnt, ps.p[first].file_off, 0);
		if (r == 0 && (uint64_t)ret != bytes)
			r = fe_msg(ctx->err, EIO, "pid %d: short read from a parent image", t->pid);
		ctx->stats.pages_restored += bytes / 4096;
		progress_add(&ctx->progress, bytes);
	}
	if (remote >= 0)
		RINJ(ctx, inj, &ret, "close", SYS_close, remote);
	free(ps.p);
	return r;
}
