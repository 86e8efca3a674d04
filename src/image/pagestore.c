/* SPDX-License-Identifier: Apache-2.0 */
/* The page store's writer and verifying reader. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "common/hash.h"
#include "common/cleanup.h"
#include "common/safefile.h"
#include "common/util.h"
#include "image/pagestore.h"

int pages_create(int dirfd, int pid, const struct img_ident *ident, uint64_t npages, struct page_store *ps,
		 struct ferry_err *err)
{
	memset(ps, 0, sizeof(*ps));
	ps->fd = -1;
	ps->pid = pid;
	if (ident)
		ps->ident = *ident;
	ps->dirfd = dirfd;
	ps->npages = npages;
	img_name(ps->name, sizeof(ps->name), IMG_PAGES, pid);
	int r = safe_tmp_open(&ps->tmp, dirfd, ps->name, err);
	if (r < 0)
		return r;
	ps->fd = ps->tmp.fd;
	off_t size = PS_HDR_SIZE + npages * PS_PAGE;
	/*
	 * Check the room up front rather than fallocate(): on tmpfs that would allocate every page
	 * once more before the copy. A disk that fills up later still fails the write cleanly.
	 */
	struct statvfs sv;
	if (fault_point("pages-enospc") ||
	    (fstatvfs(ps->fd, &sv) == 0 && sv.f_blocks && (uint64_t)sv.f_bavail * sv.f_frsize < (uint64_t)size))
		r = ENOSPC;
	if (!r && ftruncate(ps->fd, size) < 0)
		r = errno;
	if (r) {
		pages_abort(ps);
		return fe_set(err, r, "reserve %llu MiB for %s", (unsigned long long)(size >> 20), ps->name);
	}
	if (npages) {
		ps->map = mmap(NULL, npages * PS_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, ps->fd, PS_HDR_SIZE);
		if (ps->map == MAP_FAILED) {
			ps->map = NULL;
			r = errno;
			pages_abort(ps);
			return fe_set(err, r, "map %s", ps->name);
		}
	}
	return 0;
}

int pages_create_to(struct img_sink *sink, int pid, uint64_t npages, struct page_store *ps, struct ferry_err *err)
{
	if (sink->ops->begin == NULL)
		return fe_msg(err, EINVAL, "sink");
	memset(ps, 0, sizeof(*ps));
	ps->fd = -1;
	ps->dirfd = -1;
	ps->sink = sink;
	ps->npages = npages;
	ps->pid = pid;
	memcpy(ps->ident.id, sink->ident, IMG_ID_LEN);
	img_name(ps->name, sizeof(ps->name), IMG_PAGES, pid);
	if (fault_point("pages-enospc"))
		return fe_set(err, ENOSPC, "reserve room for %s", ps->name);
	int r = sink->ops->begin(sink, ps->name, PS_HDR_SIZE + npages * PS_PAGE, &ps->out, err);
	if (r < 0)
		return r;
	uint8_t hdrpage[PS_HDR_SIZE] = { 0 };
	struct img_hdr h;
	img_hdr_init(&h, IMG_PAGES, pid, &ps->ident, NULL, npages * PS_PAGE, 0);
	memcpy(hdrpage, &h, sizeof(h));
	r = sink->ops->write(ps->out, hdrpage, sizeof(hdrpage), err);
	if (r < 0) {
		sink->ops->abort(ps->out);
		ps->out = NULL;
	}
	return r;
}

int pages_write(struct page_store *ps, uint64_t idx, const void *buf, uint64_t n, struct ferry_err *err)
{
	if (idx + n > ps->npages)
		return fe_msg(err, EINVAL, "%s: write past the reserved %llu pages", ps->name,
			      (unsigned long long)ps->npages);
	if (ps->out) {
		if (idx != ps->written)
			return fe_msg(err, EINVAL, "%s: pages out of order for a sequential sink", ps->name);
		ps->written += n;
		return ps->sink->ops->write(ps->out, buf, n * PS_PAGE, err);
	}
	int r = pwrite_full(ps->fd, buf, n * PS_PAGE, PS_HDR_SIZE + idx * PS_PAGE);
	return r < 0 ? fe_set(err, r, "write %s", ps->name) : 0;
}

int pages_commit(struct page_store *ps, struct ferry_err *err)
{
	if (ps->out) {
		struct img_out *o = ps->out;
		ps->out = NULL;
		if (ps->written != ps->npages) {
			ps->sink->ops->abort(o);
			return fe_msg(err, EIO, "%s: %llu of %llu pages written", ps->name,
				      (unsigned long long)ps->written, (unsigned long long)ps->npages);
		}
		return ps->sink->ops->commit(o, err);
	}
	uint8_t hdrpage[PS_HDR_SIZE] = { 0 };
	struct img_hdr h;
	img_hdr_init(&h, IMG_PAGES, ps->pid, &ps->ident, NULL, ps->npages * PS_PAGE, 0);
	memcpy(hdrpage, &h, sizeof(h));
	if (ps->map)
		munmap(ps->map, ps->npages * PS_PAGE);
	ps->map = NULL;
	int r = pwrite_full(ps->fd, hdrpage, sizeof(hdrpage), 0);
	if (r < 0) {
		pages_abort(ps);
		return fe_set(err, -r, "write %s", ps->name);
	}
	ps->fd = -1;
	return safe_tmp_commit(&ps->tmp, ps->name, 1, err);
}

void pages_abort(struct page_store *ps)
{
	if (ps->out) {
		ps->sink->ops->abort(ps->out);
		ps->out = NULL;
		return;
	}
	if (ps->map)
		munmap(ps->map, ps->npages * PS_PAGE);
	ps->map = NULL;
	if (ps->fd >= 0)
		safe_tmp_abort(&ps->tmp);
	ps->fd = -1;
}

static int runs_ordered(const Ferry__Pagemap *pm, Ferry__PagemapEntry **runs, size_t n, const char *what,
			struct ferry_err *err)
{
	uint64_t prev_end = 0;
	for (size_t i = 0; i < n; i++) {
		const Ferry__PagemapEntry *e = runs[i];
		if (e->vaddr % PS_PAGE || e->nr_pages == 0 || e->nr_pages > PS_RUN_MAX_PAGES || e->vaddr < prev_end ||
		    e->vaddr + (uint64_t)e->nr_pages * PS_PAGE > (1ULL << 57))
			return fe_msg(err, EBADMSG, "pagemap-%d.img: %s run %zu (%#llx, %u pages) is malformed",
				      pm->pid, what, i, (unsigned long long)e->vaddr, e->nr_pages);
		prev_end = e->vaddr + (uint64_t)e->nr_pages * PS_PAGE;
	}
	return 0;
}

int pagemap_validate(const Ferry__Pagemap *pm, struct ferry_err *err)
{
	int r0 = runs_ordered(pm, pm->inherited, pm->n_inherited, "inherited", err);
	if (r0 < 0)
		return r0;
	uint64_t total = 0, prev_end = 0;
	for (size_t i = 0; i < pm->n_entries; i++) {
		const Ferry__PagemapEntry *e = pm->entries[i];
		if (e->vaddr % PS_PAGE || e->nr_pages == 0 || e->nr_pages > PS_RUN_MAX_PAGES ||
		    e->vaddr < prev_end || e->vaddr + (uint64_t)e->nr_pages * PS_PAGE < e->vaddr ||
		    e->vaddr + (uint64_t)e->nr_pages * PS_PAGE > (1ULL << 57))
			return fe_msg(err, EBADMSG, "pagemap-%d.img: run %zu (%#llx, %u pages) is malformed",
				      pm->pid, i, (unsigned long long)e->vaddr, e->nr_pages);
		prev_end = e->vaddr + (uint64_t)e->nr_pages * PS_PAGE;
		if (!(e->flags & 1))	/* runs found in a parent image (PM_IN_PARENT) have no data here */
			total += e->nr_pages;
		if (e->flags & ~1u)
			return fe_msg(err, EBADMSG, "pagemap-%d.img: run %zu has unknown flags %#x", pm->pid, i, e->flags);
	}
	if (total != pm->total_pages)
		return fe_msg(err, EBADMSG, "pagemap-%d.img: runs add up to %llu pages, header says %llu",
			      pm->pid, (unsigned long long)total, (unsigned long long)pm->total_pages);
	return 0;
}

/* The header page: a page store of pid, of this image, as long as the pagemap wants. */
static int check_store(struct page_store *ps, int pid, const struct img_ident *ident, const Ferry__Pagemap *pm,
		       struct ferry_err *err)
{
	struct img_hdr h;
	struct stat st;
	if (fstat(ps->fd, &st) < 0 || pread_full(ps->fd, &h, sizeof(h), 0) < 0)
		return fe_msg(err, EBADMSG, "%s: truncated page store (no header)", ps->name);
	if (h.magic != FERRY_IMG_MAGIC || h.kind != IMG_PAGES)
		return fe_msg(err, EBADMSG, "%s: not a ferry page store (bad magic or kind)", ps->name);
	if (h.flags)
		return fe_msg(err, EBADMSG, "%s: encoded page store (flags %#x): read it through ferry", ps->name, h.flags);
	ps->npages = pm->total_pages;
	if (ps->npages > (UINT64_MAX - PS_HDR_SIZE) / PS_PAGE || h.payload_len != ps->npages * PS_PAGE ||
	    (uint64_t)st.st_size != PS_HDR_SIZE + h.payload_len)
		return fe_msg(err, EBADMSG, "%s: truncated or overlong page store (%lld bytes, pagemap wants %llu)",
			      ps->name, (long long)st.st_size, (unsigned long long)(PS_HDR_SIZE + ps->npages * PS_PAGE));
	int r = img_check_hdr(&h, (uint64_t)st.st_size, IMG_PAGES, ps->name, err);
	return r < 0 ? r : img_check_owner(&h, pid, ident, ps->name, err);
}

int pages_open_fd(int fd, int pid, const Ferry__Pagemap *pm, const struct img_ident *ident, struct page_store *ps,
		  struct ferry_err *err)
{
	memset(ps, 0, sizeof(*ps));
	ps->dirfd = -1;
	ps->fd = fd;
	img_name(ps->name, sizeof(ps->name), IMG_PAGES, pid);
	int r = check_store(ps, pid, ident, pm, err);
	if (r == 0 && ps->npages) {
		ps->map = mmap(NULL, ps->npages * PS_PAGE, PROT_READ, MAP_SHARED, ps->fd, PS_HDR_SIZE);
		if (ps->map == MAP_FAILED) {
			ps->map = NULL;
			r = fe_set(err, errno, "map %s", ps->name);
		}
	}
	if (r < 0)
		pages_close(ps);
	return r;
}

int pages_open(int dirfd, int pid, const Ferry__Pagemap *pm, struct page_store *ps, struct ferry_err *err)
{
	char name[64];
	img_name(name, sizeof(name), IMG_PAGES, pid);
	int fd = safe_open_read(dirfd, name, NULL, err);
	if (fd < 0) {
		memset(ps, 0, sizeof(*ps));
		ps->fd = -1;
		return fd;
	}
	return pages_open_fd(fd, pid, pm, NULL, ps, err);
}

/* One verifier's share: runs [first, last) starting at page `off` of the store. */
struct verify_job {
	const struct page_store *ps;
	const Ferry__Pagemap *pm;
	size_t first, last;
	uint64_t off;
	size_t bad;		/* index of the first corrupt run, or SIZE_MAX */
	int err;		/* -errno of a read failure */
	pthread_t thread;
};

/* Reads in cache-sized chunks: cheaper than faulting the whole store in through a mapping. */
static void *verify_range(void *arg)
{
	struct verify_job *j = arg;
	enum { CHUNK = 1024 };
	uint8_t *buf = aligned_alloc(PS_PAGE, CHUNK * PS_PAGE);
	j->bad = SIZE_MAX;
	j->err = buf ? 0 : -ENOMEM;
	uint64_t off = j->off;
	for (size_t i = j->first; buf && i < j->last && j->bad == SIZE_MAX && !j->err;) {
		size_t first = i;
		uint64_t n = 0;
		while (i < j->last && n + j->pm->entries[i]->nr_pages <= CHUNK)
			n += (j->pm->entries[i]->flags & 1) ? 0 : j->pm->entries[i]->nr_pages, i++;
		j->err = pread_full(j->ps->fd, buf, n * PS_PAGE, PS_HDR_SIZE + off * PS_PAGE);
		uint64_t o = 0;
		for (size_t k = first; !j->err && k < i; k++) {
			const Ferry__PagemapEntry *e = j->pm->entries[k];
			if (e->flags & 1)
				continue;
			if (XXH3_64bits(buf + o * PS_PAGE, (size_t)e->nr_pages * PS_PAGE) != e->xxh3) {
				j->bad = k;
				break;
			}
			o += e->nr_pages;
		}
		off += n;
	}
	free(buf);
	return NULL;
}

/* Big stores are checked by two threads (hashing is CPU-bound; the store is in the page cache). */
int pages_verify(const struct page_store *ps, const Ferry__Pagemap *pm, struct ferry_err *err)
{
	int r = pagemap_validate(pm, err);
	if (r < 0)
		return r;
	struct verify_job jobs[2] = { { ps, pm, 0, pm->n_entries, 0, 0, 0, 0 }, { ps, pm, 0, 0, 0, 0, 0, 0 } };
	int njobs = 1;
	if (pm->total_pages >= 16384) {	/* 64 MiB */
		uint64_t half = 0;
		size_t split = 0;
		while (split < pm->n_entries && half < pm->total_pages / 2)
			half += (pm->entries[split]->flags & 1) ? 0 : pm->entries[split]->nr_pages, split++;
		jobs[0].last = split;
		jobs[1] = (struct verify_job){ ps, pm, split, pm->n_entries, half, 0, 0, 0 };
		njobs = pthread_create(&jobs[1].thread, NULL, verify_range, &jobs[1]) == 0 ? 2 : 1;
		if (njobs == 1)
			jobs[0].last = pm->n_entries;
	}
	verify_range(&jobs[0]);
	if (njobs == 2)
		pthread_join(jobs[1].thread, NULL);
	for (int k = 0; k < njobs; k++) {
		if (jobs[k].err)
			return fe_set(err, jobs[k].err, "read %s", ps->name);
		if (jobs[k].bad != SIZE_MAX)
			return fe_msg(err, EBADMSG, "%s: pages at %#llx (run %zu) fail their checksum: the page store is corrupt",
				      ps->name, (unsigned long long)pm->entries[jobs[k].bad]->vaddr, jobs[k].bad);
	}
	return 0;
}

void pages_close(struct page_store *ps)
{
	if (ps->map)
		munmap(ps->map, ps->npages * PS_PAGE);
	ps->map = NULL;
	if (ps->fd >= 0)
		close(ps->fd);
	ps->fd = -1;
}
