/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chains of images: a pre-dump or dump made with --prev-images-dir stores only the pages written
 * since its parent and marks the rest "in parent" (PagemapEntry.flags & PM_IN_PARENT). Restore,
 * verify and merge resolve such runs through the chain (inventory.parent_dir, recursively).
 */
#pragma once
#include <stdio.h>
#include "engine/context.h"
#include "image/source.h"

#define PM_IN_PARENT 1u

struct chain;	/* the parents of an image, opened and verified */

/*
 * Opens the chain above the image read through src (whose inventory is inv), every level read
 * the way src is (decoded with its key) and checked to be the parent its child was made from;
 * *out is NULL when it has none.
 */
int chain_open(const struct img_src *src, const Ferry__Inventory *inv, struct chain **out, struct ferry_err *err);
/*
 * Opens dir itself (and its parents) as a chain: the previous image of a dump being made (with
 * the dump's key, NULL if none). Only pagemaps are read (which pages each level holds): after a
 * dump to a page server, dir holds the image's metadata and its pages are on the server.
 */
int chain_open_dir(const char *dir, const char *key_file, struct chain **out, struct ferry_err *err);
void chain_close(struct chain *c);
/* A level's identity, source, directory, and the level above it (NULL at the top). */
const struct img_ident *chain_ident(const struct chain *c);
const struct img_src *chain_src(const struct chain *c);
const char *chain_dir(const struct chain *c);
struct chain *chain_parent(const struct chain *c);
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

/*
 * `ferry image verify DIR`: every file of the image and of every parent (decoded with the key
 * in key_file, NULL if none), every checksum, identity and structure, and the chain.
 */
int chain_verify(const char *dir, const char *key_file, FILE *out, struct ferry_err *err);
/*
 * Every file of the image behind src (its inventory read first) but the page stores: header,
 * checksum, identity, owner, records unpacked, contents chunk by chunk. 0 or -errno.
 */
int verify_files(struct img_src *src, struct ferry_err *err);
/*
 * Restore's own checks of the image read through src, without restoring anything: every record
 * and its structure, every page run, the chain (engine/restore.c). 0 or -errno.
 */
int restore_check_image(struct img_src *src, struct ferry_err *err);
/*
 * `ferry image merge DIR OUT`: a self-contained copy of DIR with every page resolved, encoded
 * as DIR is (with the same key).
 */
int chain_merge(const char *dir, const char *out, const char *key_file, struct ferry_err *err);
