/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The page store: pages-<pid>.img is a 4 KiB header page followed by raw pages, page-aligned, in
 * the order of the runs listed in pagemap-<pid>.img (each run carries the XXH3-64 of its data).
 * The writer maps the preallocated file and lets the dumper copy into it directly (one copy);
 * a restore checks each run as it writes it into the task (mem/fill.c), `image verify` all first.
 */
#pragma once
#include <stdint.h>
#include "common/safefile.h"
#include "image/image.h"

#define PS_PAGE 4096ULL
#define PS_HDR_SIZE PS_PAGE
#define PS_RUN_MAX_PAGES 256	/* a run is split so corruption is pinned to at most 1 MiB */

struct page_store {
	int fd;
	int dirfd;
	struct img_out *out;	/* written through a sink (pages_create_to), sequentially */
	struct img_sink *sink;
	uint64_t written;
	uint8_t *map;		/* data area (after the header page), npages * 4 KiB */
	uint64_t npages;
	int pid;
	struct img_ident ident;	/* stamped into the header (writers) */
	char name[64];
	struct safe_tmp tmp;	/* pages_create: the unnamed file until commit */
};

/* Creates the store with room for npages (space reserved up front: a full disk fails here). */
int pages_create(int dirfd, int pid, const struct img_ident *ident, uint64_t npages, struct page_store *ps,
		 struct ferry_err *err);
static inline uint8_t *pages_slot(struct page_store *ps, uint64_t idx) { return ps->map + idx * PS_PAGE; }
/* Writes n pages from buf at page index idx (the dumper's path: one copy from a cache-hot buffer). */
int pages_write(struct page_store *ps, uint64_t idx, const void *buf, uint64_t n, struct ferry_err *err);
/* The same through a sink: pages must then be written in order (pages_write), header first. */
int pages_create_to(struct img_sink *sink, int pid, uint64_t npages, struct page_store *ps, struct ferry_err *err);
/* Writes the header and publishes the file under its final name. */
int pages_commit(struct page_store *ps, struct ferry_err *err);
void pages_abort(struct page_store *ps);

/* Opens and maps an existing plain store, checking its header and size against the pagemap. */
int pages_open(int dirfd, int pid, const Ferry__Pagemap *pm, struct page_store *ps, struct ferry_err *err);
/*
 * The same from a descriptor (an image source's: image/source.h), which it then owns; the store
 * must belong to pid and, when ident is not NULL, to that image.
 */
int pages_open_fd(int fd, int pid, const Ferry__Pagemap *pm, const struct img_ident *ident, struct page_store *ps,
		  struct ferry_err *err);
/* Checks the pagemap's runs (ordered, aligned, within bounds) and every run's checksum. */
int pages_verify(const struct page_store *ps, const Ferry__Pagemap *pm, struct ferry_err *err);
/* Pagemap structure checks alone (no data): used by pages_verify and the fuzzer. */
int pagemap_validate(const Ferry__Pagemap *pm, struct ferry_err *err);
void pages_close(struct page_store *ps);
