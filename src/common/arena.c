/* SPDX-License-Identifier: Apache-2.0 */
/* Bump allocator: 64 KiB blocks, larger requests get a block of their own. */
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "common/arena.h"

struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	max_align_t data[];
};

void *arena_alloc(struct arena *a, size_t size)
{
	size = (size + 15) & ~(size_t)15;
	struct arena_block *b = a->head;
	if (!b || b->used + size > b->cap) {
		size_t cap = size > 65536 ? size : 65536;
		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->cap = cap;
		b->used = 0;
		if (a->head && size > 65536) {	/* keep the current block for small requests */
			b->next = a->head->next;
			a->head->next = b;
		} else {
			b->next = a->head;
			a->head = b;
		}
	}
	void *p = (char *)b->data + b->used;
	b->used += size;
	memset(p, 0, size);
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return s ? arena_memdup(a, s, strlen(s) + 1) : NULL;
}

void *arena_memdup(struct arena *a, const void *p, size_t size)
{
	void *d = arena_alloc(a, size ? size : 1);
	if (d && size)
		memcpy(d, p, size);
	return d;
}

void arena_free(struct arena *a)
{
	struct arena_block *b = a->head;
	while (b) {
		struct arena_block *n = b->next;
		free(b);
		b = n;
	}
	a->head = NULL;
}
