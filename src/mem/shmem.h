/* SPDX-License-Identifier: Apache-2.0 */
/* Shared anonymous memory objects, dumped once and tracked across their mappings (mem/shmem.c). */
#pragma once
#include "engine/context.h"
#include "mem/ranges.h"

/*
 * Dump, for a MAP_SHARED|MAP_ANONYMOUS VMA v of t: names its object (v->shmem_id) and adds to
 * out the populated pages of v's part of it that no task before claimed. *tracked = 1 when the
 * writes since the parent image are known for the whole object: then written gets those in v.
 * -EPERM/-EACCES when the object cannot be opened (no CAP_SYS_ADMIN for map_files).
 */
int shmem_scan_vma(struct dump_ctx *ctx, struct dtask *t, Ferry__Vma *v, struct range_list *out,
		   struct range_list *written, int *tracked);
void shmem_dump_free(struct dump_ctx *ctx);
/* Restore: ferry's descriptor for v's object, created on first use (kept until files_close_all). */
int shmem_restore_object(struct restore_ctx *ctx, const Ferry__Vma *v);
