/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The address space: VMA layout (maps), mm fields (brk, arg/env, auxv, exe), the vdso, and the
 * pages. Dump reads maps and copies present pages into the page store; restore rebuilds the
 * layout by injected mmap() calls and lets the new task read its pages straight from the store.
 */
#pragma once
#include "engine/context.h"

extern const struct task_obj_ops mm_obj;

/*
 * Vma.vmflags: what /proc/PID/smaps VmFlags says of a VMA, in ferry's own on-disk bits (never
 * the kernel's). Restored at mmap time (growsdown, noreserve, droppable, hugetlb, maywrite via the
 * open mode, THP advice, accounting), or once the whole tree exists (mem_restore_late: the
 * madvise() flags, mlock, seals), since some are not inherited by fork and DONTFORK must not
 * hide a VMA from the children forked at restore.
 */
#define VMF_DONTFORK	(1u << 0)	/* dc */
#define VMF_WIPEONFORK	(1u << 1)	/* wf */
#define VMF_DONTDUMP	(1u << 2)	/* dd */
#define VMF_HUGEPAGE	(1u << 3)	/* hg */
#define VMF_NOHUGEPAGE	(1u << 4)	/* nh */
#define VMF_MERGEABLE	(1u << 5)	/* mg (KSM) */
#define VMF_LOCKED	(1u << 6)	/* lo */
#define VMF_LOCKONFAULT	(1u << 7)	/* lf */
#define VMF_GROWSDOWN	(1u << 8)	/* gd */
#define VMF_NORESERVE	(1u << 9)	/* nr */
#define VMF_ACCOUNT	(1u << 10)	/* ac */
#define VMF_DROPPABLE	(1u << 11)	/* dp (MAP_DROPPABLE) */
#define VMF_HUGETLB	(1u << 12)	/* ht */
#define VMF_SEQ_READ	(1u << 13)	/* sr */
#define VMF_RAND_READ	(1u << 14)	/* rr */
#define VMF_SEALED	(1u << 15)	/* sl (mseal) */
#define VMF_MAYWRITE	(1u << 16)	/* mw: a shared file mapping of a file opened for writing */
#define VMF_MAYBE_GUARD	(1u << 17)	/* gu: guard regions were installed in it once */
/* Flags a forked child's VMA inherits as they were when it was forked: they must match to keep it. */
#define VMF_AT_MAP	(VMF_HUGEPAGE | VMF_NOHUGEPAGE | VMF_GROWSDOWN | VMF_NORESERVE | VMF_ACCOUNT | \
			 VMF_DROPPABLE | VMF_HUGETLB | VMF_MAYWRITE | VMF_MAYBE_GUARD)

/* Parses /proc/PID/maps into mm->vmas; refuses mappings this version cannot restore. */
int vma_dump_layout(struct dump_ctx *ctx, struct dtask *t);
/* Finds present pages (and those shared with the parent) for every task before any is copied. */
int mem_scan_pages(struct dump_ctx *ctx, struct dtask *t);
/*
 * Records the minor faults of t's reaped children (Mm.reaped_minflt, mem/shmem.c): while the tree
 * is frozen, before any of its memory is protected (mem_scan_pages does it if not done yet).
 */
void mem_note_reaped(struct dtask *t);
/* Copies the pages found into pages-PID.img; fills t->pagemap. */
int mem_copy_pages(struct dump_ctx *ctx, struct dtask *t);
void mem_free_ranges(struct dtask *t);

/*
 * Restore, in order: trampoline + empty address space (prepare), every VMA mapped and the pages
 * queued with the filler (layout: the root; child_layout: a task forked from its restored parent
 * p), then, once the filler has written them, the final protections, AIO contexts and mm fields
 * (finish); the VMA flags come last, once the whole tree is made and filled (late).
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
/*
 * Once every task of the tree exists and every page is written (the filler writes nothing any
 * more): madvise() flags, mlock, guard regions, mlockall, seals.
 */
int mem_restore_late(struct restore_ctx *ctx, struct rtask *t);
/* Unmaps the trampoline: no injection is possible afterwards. */
int mem_restore_drop_trampoline(struct restore_ctx *ctx, struct rtask *t);
/* Validates an Mm record (ordering, alignment, kinds) before anything is restored. */
int mm_validate(const Ferry__Mm *mm, int pid, struct ferry_err *err);
/*
 * The image's [vvar], [vvar_vclock], [vdso] of mm against this kernel's layout: 0 with *base
 * where they start (0: none is mapped) and their lengths, or -EOPNOTSUPP naming both layouts.
 */
int mm_vdso_layout(const Ferry__Mm *mm, uint64_t *base, uint64_t len[3], struct ferry_err *err);
/* Whether a VMA's pages are saved in the page store. */
int vma_has_pages(const Ferry__Vma *v);

/* vma.c internals used by mm.c and pages.c */
int vma_restore_map_all(struct restore_ctx *ctx, struct rtask *t, const int *kept);
int vma_restore_protect_all(struct restore_ctx *ctx, struct rtask *t, const int *kept);
/* Same range, kind, file, offset and map-time flags: a VMA a forked child keeps from its parent. */
int vma_same(const Ferry__Vma *a, const Ferry__Vma *b);
/* [vdso], [vvar], [vvar_vclock], [vsyscall]: mapped by the kernel. */
int vma_is_kernel(const Ferry__Vma *v);
/* vma.c, by injection at restore: the per-VMA madvise()/mlock()/mseal() state (mem_restore_late). */
int vma_restore_flags(struct restore_ctx *ctx, struct rtask *t, int sealed);
/* pages.c: the runs left to parent images, read by the task from their stores (injected preadv). */
int pages_restore_fill_chain(struct restore_ctx *ctx, struct rtask *t);
/* pages.c: in inherited VMAs, drops all but the runs still shared with the parent (before filling). */
int pages_restore_drop_gaps(struct restore_ctx *ctx, struct rtask *t, const int *kept);

/* aio.c: AIO contexts. Dump (injecting): their rings and unreaped events into t->mm->aio. */
int aio_dump(struct dump_ctx *ctx, struct dtask *t);
/* Restore, by injection once the layout is in place: every context of t at its old address. */
int aio_restore(struct restore_ctx *ctx, struct rtask *t);
/* Whether v is the ring of one of mm's own contexts (not one inherited by fork). */
int aio_is_context(const Ferry__Mm *mm, const Ferry__Vma *v);

/*
 * secretmem.c: memfd_secret() memory, readable only by the task that maps it. Dump: the task
 * copies len bytes at addr into ferry's file copy at offset off (a memfd the blob store reads).
 */
int secretmem_read(struct dump_ctx *ctx, struct dtask *t, uint64_t addr, size_t len, int copy, uint64_t off);
/* The same through a mapping of the task's fd made for the moment (the whole object, at 0). */
int secretmem_read_fd(struct dump_ctx *ctx, struct dtask *t, int fd, size_t len, int copy);
/* Restore, in ferry: a secret memory object of size bytes filled from blob blob_id; returns its fd. */
int secretmem_create(struct restore_ctx *ctx, uint32_t blob_id, uint64_t size, struct ferry_err *err);

/* sysvshm.c: SysV shared memory segments attached by the tree. */
int shm_dump_mapping(struct dump_ctx *ctx, struct dtask *t, const Ferry__Vma *v);
/* By injection, before t's other VMAs are mapped: every attachment not inherited (kept[i]). */
int shm_restore_attach_all(struct restore_ctx *ctx, struct rtask *t, const int *kept);
