/* SPDX-License-Identifier: Apache-2.0 */
/* The registry of tree-level objects (treeobj.h) and the calls at each stage. */
#include "common/util.h"
#include "engine/treeobj.h"

/* In order: the chain and the tracking first (a dump reads its parent's pages through them). */
static const struct tree_obj_ops *const tree_objects[TREE_OBJ_MAX] = {
	&track_tree_ops,
	&chain_tree_ops,
	&sysv_tree_ops,
};

static size_t index_of(const struct tree_obj_ops *o)
{
	size_t i = 0;
	while (i < TREE_OBJ_MAX - 1 && tree_objects[i] != o)
		i++;
	return i;
}

void **treeobj_dump_slot(struct dump_ctx *ctx, const struct tree_obj_ops *o)
{
	return &ctx->tree[index_of(o)];
}

void **treeobj_rst_slot(struct restore_ctx *ctx, const struct tree_obj_ops *o)
{
	return &ctx->tree[index_of(o)];
}

#define EACH(i) for (size_t i = 0; i < TREE_OBJ_MAX && tree_objects[i]; i++)
#define CALL(ctx, hook)                                                                           \
	do {                                                                                      \
		EACH(i) {                                                                         \
			int r = tree_objects[i]->hook ? tree_objects[i]->hook(ctx) : 0;         \
			if (r < 0)                                                                \
				return r;                                                         \
		}                                                                                 \
		return 0;                                                                         \
	} while (0)

int treeobj_dump_begin(struct dump_ctx *ctx) { CALL(ctx, dump_begin); }
int treeobj_dump_write(struct dump_ctx *ctx) { CALL(ctx, dump_write); }
int treeobj_dump_seal(struct dump_ctx *ctx) { CALL(ctx, dump_seal); }
int treeobj_restore_verify(struct restore_ctx *ctx) { CALL(ctx, restore_verify); }
int treeobj_restore_before_fork(struct restore_ctx *ctx) { CALL(ctx, restore_before_fork); }
int treeobj_restore_after_tree(struct restore_ctx *ctx) { CALL(ctx, restore_after_tree); }

void treeobj_dump_end(struct dump_ctx *ctx, int ok)
{
	EACH(i)
		if (tree_objects[i]->dump_end)
			tree_objects[i]->dump_end(ctx, ok);
}

void treeobj_restore_finish(struct restore_ctx *ctx, int failed)
{
	EACH(i)
		if (tree_objects[i]->restore_finish)
			tree_objects[i]->restore_finish(ctx, failed);
}
