/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A sorted index of keys to positions, for lookups in image records by id in O(log n) (files by
 * id, tasks by pid, memfds by inode). Building it finds duplicates: checks over image entries
 * stay n log n however large the image is.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct idx_ent {
	uint64_t key;
	size_t pos;
};

struct id_index {
	struct idx_ent *v;
	size_t n;
};

/*
 * Indexes n entries whose keys key(arr, i) gives. 0, -ENOMEM, or -EEXIST with *dup (if not NULL)
 * the first duplicated key (the index is then empty).
 */
int idx_build(struct id_index *ix, size_t n, uint64_t (*key)(const void *arr, size_t i), const void *arr,
	      uint64_t *dup);
/* The position of key, or -1. */
long idx_find(const struct id_index *ix, uint64_t key);
void idx_free(struct id_index *ix);
