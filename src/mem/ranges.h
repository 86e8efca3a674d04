/* SPDX-License-Identifier: Apache-2.0 */
/* Lists of address (or offset) ranges [start, end), used by the page scan and the tracking. */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct range_list {
	struct { uint64_t start, end; } *r;
	size_t n, cap;
};

/* Appends [s, e), merged with the last range when they touch; l may be NULL (nothing is kept). */
int range_add(struct range_list *l, uint64_t s, uint64_t e);
/* Sorts and merges overlapping or touching ranges. */
void ranges_normalize(struct range_list *l);
/* out = a without b (both normalized); appends to out. */
int ranges_subtract(const struct range_list *a, const struct range_list *b, struct range_list *out);
/* out = a within [s, e), moved by delta (both normalized); appends to out. */
int ranges_clip(const struct range_list *a, uint64_t s, uint64_t e, int64_t delta, struct range_list *out);
void ranges_free(struct range_list *l);
