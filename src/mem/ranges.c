/* SPDX-License-Identifier: Apache-2.0 */
/* Range lists (mem/ranges.h). */
#include <errno.h>
#include <stdlib.h>
#include "mem/ranges.h"

int range_add(struct range_list *l, uint64_t s, uint64_t e)
{
	if (!l || s >= e)
		return 0;
	if (l->n && l->r[l->n - 1].end == s) {
		l->r[l->n - 1].end = e;
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		void *nr = realloc(l->r, cap * sizeof(*l->r));
		if (!nr)
			return -ENOMEM;
		l->r = nr;
		l->cap = cap;
	}
	l->r[l->n].start = s;
	l->r[l->n].end = e;
	l->n++;
	return 0;
}

static int cmp_start(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;
	return *x < *y ? -1 : *x > *y;
}

void ranges_normalize(struct range_list *l)
{
	if (l->n < 2)
		return;
	qsort(l->r, l->n, sizeof(*l->r), cmp_start);
	size_t k = 0;
	for (size_t i = 1; i < l->n; i++) {
		if (l->r[i].start <= l->r[k].end) {
			if (l->r[i].end > l->r[k].end)
				l->r[k].end = l->r[i].end;
		} else {
			l->r[++k] = l->r[i];
		}
	}
	l->n = k + 1;
}

int ranges_subtract(const struct range_list *a, const struct range_list *b, struct range_list *out)
{
	size_t j = 0;
	for (size_t i = 0; i < a->n; i++) {
		uint64_t s = a->r[i].start, e = a->r[i].end;
		while (j < b->n && b->r[j].end <= s)
			j++;
		for (size_t k = j; k < b->n && b->r[k].start < e && s < e; k++) {
			if (b->r[k].start > s && range_add(out, s, b->r[k].start) < 0)
				return -ENOMEM;
			if (b->r[k].end > s)
				s = b->r[k].end;
		}
		if (s < e && range_add(out, s, e) < 0)
			return -ENOMEM;
	}
	return 0;
}

int ranges_clip(const struct range_list *a, uint64_t s, uint64_t e, int64_t delta, struct range_list *out)
{
	for (size_t i = 0; i < a->n; i++) {
		uint64_t rs = a->r[i].start > s ? a->r[i].start : s, re = a->r[i].end < e ? a->r[i].end : e;
		if (rs < re && range_add(out, rs + delta, re + delta) < 0)
			return -ENOMEM;
	}
	return 0;
}

void ranges_free(struct range_list *l)
{
	free(l->r);
	l->r = NULL;
	l->n = l->cap = 0;
}
