/* SPDX-License-Identifier: Apache-2.0 */
/* A bump allocator for the many small records a dump builds; everything is freed at once. */
#pragma once
#include <stddef.h>

struct arena {
	struct arena_block *head;
};

/* Zeroed memory that lives until arena_free(); NULL on allocation failure. */
void *arena_alloc(struct arena *a, size_t size);
char *arena_strdup(struct arena *a, const char *s);
void *arena_memdup(struct arena *a, const void *p, size_t size);
void arena_free(struct arena *a);
#define ARENA_NEW(a, type) ((type *)arena_alloc((a), sizeof(type)))
#define ARENA_ARRAY(a, type, n) ((type *)arena_alloc((a), sizeof(type) * (n)))
