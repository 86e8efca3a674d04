/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Dirty-page tracking without soft-dirty (this kernel has none): each task gets a userfaultfd in
 * write-protect async mode, created by one injected syscall and stolen at once, so the task keeps
 * no descriptor and no mapping. Writable VMAs are registered and write-protected; a write just
 * clears the protection (no message, no handler), and PAGEMAP_SCAN with PM_SCAN_WP_MATCHING lists
 * the written pages and protects them again. Between ferry invocations a holder process keeps the
 * uffds open (track.img says where); if it is gone, or a VMA is not (or no longer) registered —
 * the kernel says so through PAGE_IS_WPALLOWED — those pages count as written.
 *
 * Without userfaultfd write-protect (or with FERRY_TRACK=hash) tracking falls back to page
 * hashes: a --track-mem image records the XXH3 of every page it holds (PagemapEntry.page_xxh3),
 * and the next dump reads every present page and leaves to the parent those whose hash matches
 * (mem/pages.c). It needs no holder and survives anything, at the price of reading all memory.
 */
#pragma once
#include "engine/context.h"

/*
 * Chooses the method (ctx->hash_track); with userfaultfd, takes the uffds of the previous image's
 * holder, if it and the tasks are still the same.
 */
int track_begin(struct dump_ctx *ctx, const char *prev_dir_abs);
/* While t is frozen and injectable: gives it a uffd if it has none and tracking is wanted. */
int track_task_prepare(struct dump_ctx *ctx, struct dtask *t);
/*
 * For one VMA of a frozen task: *tracked = 1 and the written pages in `written` when the VMA is
 * tracked (they are protected again); otherwise *tracked = 0 and, if tracking is wanted, the VMA
 * is registered and protected for the next round.
 */
struct range_list;
int track_vma(struct dump_ctx *ctx, struct dtask *t, const Ferry__Vma *v, int *tracked,
	      int (*add)(void *list, uint64_t s, uint64_t e), void *written);
/*
 * ok: the image is written but for its inventory: a new holder keeps the uffds (--track-mem) or
 * tracking ends. !ok: the dump failed: the holder it started stops, and so does the previous one
 * if this dump already read (and reset) what it tracked.
 */
int track_finish(struct dump_ctx *ctx, int ok);
/* The image is committed: the previous image's holder may go. */
void track_commit(struct dump_ctx *ctx);
