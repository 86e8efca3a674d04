/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The address space: VMA layout (maps), mm fields (brk, arg/env, auxv, exe), the vdso, and the
 * pages. Dump reads maps and copies present pages into the page store; restore rebuilds the
 * layout by injected mmap() calls and lets the new task read its pages straight from the store.
 */
#pragma once
#include "engine/context.h"

extern const struct task_obj_ops mm_obj;

/* Parses /proc/PID/maps into mm->vmas; refuses mappings this version cannot restore. */
int vma_dump_layout(struct dump_ctx *ctx, struct dtask *t);
/* Finds present pages (and those shared with the parent) for every task before any is copied. */
int mem_scan_pages(struct dump_ctx *ctx, struct dtask *t);
/* Copies the pages found into pages-PID.img; fills t->pagemap. */
int mem_copy_pages(struct dump_ctx *ctx, struct dtask *t);
void mem_free_ranges(struct dtask *t);

/*
 * Restore, in order: trampoline + empty address space (prepare), every VMA mapped and the pages
 * queued with the filler (layout: the root; child_layout: a task forked from its restored parent
 * p), then, once the filler has written them, the final protections and mm fields (finish).
 */
int mem_restore_prepare(struct restore_ctx *ctx, struct rtask *t);
/* kept: NULL for the root; for a forked task, per VMA 0 or the parent's prot + 1 (t owns it). */
int mem_restore_layout(struct restore_ctx *ctx, struct rtask *t, int *kept);
int mem_restore_child_layout(struct restore_ctx *ctx, struct rtask *t, struct rtask *p, const uint8_t *hidden);
/* Around p's fork of t: p's big VMAs t will not keep are not copied by the fork (MADV_DONTFORK). */
int mem_fork_hide(struct restore_ctx *ctx, struct rtask *p, struct rtask *t, uint8_t **hidden);
int mem_fork_unhide(struct restore_ctx *ctx, struct rtask *p, const uint8_t *hidden);
int mem_restore_finish(struct restore_ctx *ctx, struct rtask *t);
int mem_restore_mm_fields(struct restore_ctx *ctx, struct rtask *t);
/* Unmaps the trampoline: no injection is possible afterwards. */
int mem_restore_drop_trampoline(struct restore_ctx *ctx, struct rtask *t);
/* Validates an Mm record (ordering, alignment, kinds) before anything is restored. */
int mm_validate(const Ferry__Mm *mm, int pid, struct ferry_err *err);
/* Whether a VMA's pages are saved in the page store. */
int vma_has_pages(const Ferry__Vma *v);

/* vma.c internals used by mm.c and pages.c */
int vma_restore_map_all(struct restore_ctx *ctx, struct rtask *t, const int *kept);
int vma_restore_protect_all(struct restore_ctx *ctx, struct rtask *t, const int *kept);
/* Same range, kind, file and offset: a VMA a forked child keeps from its parent. */
int vma_same(const Ferry__Vma *a, const Ferry__Vma *b);
/* pages.c: the runs left to parent images, read by the task from their stores (injected preadv). */
int pages_restore_fill_chain(struct restore_ctx *ctx, struct rtask *t);
/* pages.c: in inherited VMAs, drops all but the runs still shared with the parent (before filling). */
int pages_restore_drop_gaps(struct restore_ctx *ctx, struct rtask *t, const int *kept);

/* sysvshm.c: SysV shared memory segments attached by the tree. */
int shm_dump_mapping(struct dump_ctx *ctx, struct dtask *t, const Ferry__Vma *v);
int shm_dump_write(struct dump_ctx *ctx);
/* Restore: recreate every segment with its id and content (before any task exists). */
int shm_restore_create(struct restore_ctx *ctx);
/* By injection: attach the segment behind v where it was. */
int shm_restore_attach(struct restore_ctx *ctx, struct rtask *t, const Ferry__Vma *v);
/* Success: remove segments that were marked for removal; failure: remove what was created. */
void shm_restore_finish(struct restore_ctx *ctx, int failed);
