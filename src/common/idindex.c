/* SPDX-License-Identifier: Apache-2.0 */
/* The sorted key index (idindex.h). */
#include <errno.h>
#include <stdlib.h>
#include "common/idindex.h"

static int cmp_ent(const void *a, const void *b)
{
	const struct idx_ent *x = a, *y = b;
	return (x->key > y->key) - (x->key < y->key);
}

int idx_build(struct id_index *ix, size_t n, uint64_t (*key)(const void *arr, size_t i), const void *arr,
	      uint64_t *dup)
{
	ix->n = 0;
	ix->v = malloc((n ? n : 1) * sizeof(*ix->v));
	if (!ix->v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		ix->v[i] = (struct idx_ent){ key(arr, i), i };
	qsort(ix->v, n, sizeof(*ix->v), cmp_ent);
	for (size_t i = 1; i < n; i++)
		if (ix->v[i].key == ix->v[i - 1].key) {
			if (dup)
				*dup = ix->v[i].key;
			idx_free(ix);
			return -EEXIST;
		}
	ix->n = n;
	return 0;
}

long idx_find(const struct id_index *ix, uint64_t key)
{
	size_t lo = 0, hi = ix->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ix->v[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ix->n && ix->v[lo].key == key ? (long)ix->v[lo].pos : -1;
}

void idx_free(struct id_index *ix)
{
	free(ix->v);
	ix->v = NULL;
	ix->n = 0;
}
