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
/* Finds present pages and copies them into pages-PID.img; fills t->pagemap. */
int mem_dump_pages(struct dump_ctx *ctx, struct dtask *t);

/* Restore, in order: trampoline + empty address space, then every VMA with its pages, then mm fields. */
int mem_restore_prepare(struct restore_ctx *ctx, struct rtask *t);
int mem_restore_vmas(struct restore_ctx *ctx, struct rtask *t);
int mem_restore_mm_fields(struct restore_ctx *ctx, struct rtask *t);
/* Unmaps the trampoline: no injection is possible afterwards. */
int mem_restore_drop_trampoline(struct restore_ctx *ctx, struct rtask *t);
/* Validates an Mm record (ordering, alignment, kinds) before anything is restored. */
int mm_validate(const Ferry__Mm *mm, int pid, struct ferry_err *err);
/* Whether a VMA's pages are saved in the page store. */
int vma_has_pages(const Ferry__Vma *v);

/* vma.c internals used by mm.c */
int vma_restore_map_all(struct restore_ctx *ctx, struct rtask *t);
int vma_restore_protect_all(struct restore_ctx *ctx, struct rtask *t);
/* pages.c: fills every VMA from the page store by injected preadv() calls. */
int pages_restore_fill(struct restore_ctx *ctx, struct rtask *t);
