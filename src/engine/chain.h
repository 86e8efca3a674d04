/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chains of images: a pre-dump or dump made with --prev-images-dir stores only the pages written
 * since its parent and marks the rest "in parent" (PagemapEntry.flags & PM_IN_PARENT). Restore,
 * verify and merge resolve such runs through the chain (inventory.parent_dir, recursively).
 */
#pragma once
#include <stdio.h>
#include "engine/context.h"

#define PM_IN_PARENT 1u

struct chain;	/* the parents of an image, opened and verified */

/* Opens the chain above the image in dirfd (whose inventory is inv); *out is NULL when it has none. */
int chain_open(int dirfd, const char *dir, const Ferry__Inventory *inv, struct chain **out, struct ferry_err *err);
/*
 * Opens dir itself (and its parents) as a chain: the previous image of a dump being made. Only
 * pagemaps are read (which pages each level holds): after a dump to a page server, dir holds
 * the image's metadata and its pages are on the server.
 */
int chain_open_dir(const char *dir, struct chain **out, struct ferry_err *err);
void chain_close(struct chain *c);
/* Checks every page store of the chain and that each in-parent run resolves. */
int chain_verify_pages(struct chain *c, struct ferry_err *err);

/* One piece of memory found in the chain: len bytes at file_off of the store behind store_fd. */
struct chain_piece {
	int store_fd;
	uint64_t vaddr, len, file_off;
};
/*
 * Splits [start, end) of pid into the runs the chain's newest image holds (stored there or in
 * its parents) and those it does not: fn(arg, s, e, held) for each, in order.
 */
int chain_cover(struct chain *c, int pid, uint64_t start, uint64_t end,
		int (*fn)(void *arg, uint64_t s, uint64_t e, int held), void *arg);
/* The hashes the chain's newest image records for n pages of pid from vaddr (hash tracking); -ENOENT if any lacks one. */
int chain_page_hashes(struct chain *c, int pid, uint64_t vaddr, uint64_t n, uint64_t *out);
/* Resolves [vaddr, vaddr+len) of pid through the chain into pieces; -ENOENT if some page is missing. */
int chain_resolve(struct chain *c, int pid, uint64_t vaddr, uint64_t len,
		  int (*fn)(const struct chain_piece *p, void *arg), void *arg, struct ferry_err *err);

/* `ferry image verify DIR`: every file, every checksum, and the parent chain. */
int chain_verify(const char *dir, FILE *out, struct ferry_err *err);
/* `ferry image merge DIR OUT`: a self-contained copy of DIR with every page resolved. */
int chain_merge(const char *dir, const char *out, struct ferry_err *err);
