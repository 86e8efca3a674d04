/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tree-level objects: what belongs to the whole tree rather than to a descriptor or a task
 * (SysV IPC, dirty-page tracking, the chain of parent images; next: namespaces, the mount tree,
 * cgroups, network devices, TCP repair). Each registers an ops table (treeobj.c) and keeps its
 * own state in its slot of the context (treeobj_dump_slot, treeobj_rst_slot); dump.c and
 * restore.c call every object at named stages, in registry order. Every hook is optional.
 *
 * Dump:
 *   dump_begin      stage "track", before any object of any task is dumped (a pre-dump too)
 *   dump_write      stage "write-images", beside the tasks' files (not in a pre-dump)
 *   dump_seal       the first step of finishing the image, before the inventory
 *   dump_end        once the dump succeeded (ok) or failed, before the tree is released or
 *                   killed; frees the object's state
 * Restore:
 *   restore_verify        stage "verify-pages", before anything is created
 *   restore_before_fork   stage "open-files", before any task exists
 *   restore_after_tree    every task and thread exists, sessions and stops are made, before the
 *                         task objects (stage "objects")
 *   restore_finish        the end: failed says whether the restore is being undone (abort);
 *                         frees the object's state
 */
#pragma once
#include "engine/context.h"

struct tree_obj_ops {
	const char *name;
	int (*dump_begin)(struct dump_ctx *ctx);
	int (*dump_write)(struct dump_ctx *ctx);
	int (*dump_seal)(struct dump_ctx *ctx);
	void (*dump_end)(struct dump_ctx *ctx, int ok);
	int (*restore_verify)(struct restore_ctx *ctx);
	int (*restore_before_fork)(struct restore_ctx *ctx);
	int (*restore_after_tree)(struct restore_ctx *ctx);
	void (*restore_finish)(struct restore_ctx *ctx, int failed);
};

extern const struct tree_obj_ops sysv_tree_ops;		/* mem/sysvshm.c */
extern const struct tree_obj_ops track_tree_ops;	/* mem/track.c */
extern const struct tree_obj_ops chain_tree_ops;	/* engine/chain.c */

/* The object's state slot in this operation (NULL until the object puts something there). */
void **treeobj_dump_slot(struct dump_ctx *ctx, const struct tree_obj_ops *o);
void **treeobj_rst_slot(struct restore_ctx *ctx, const struct tree_obj_ops *o);

/* Every object's hook of that name, in order; the first failure stops. */
int treeobj_dump_begin(struct dump_ctx *ctx);
int treeobj_dump_write(struct dump_ctx *ctx);
int treeobj_dump_seal(struct dump_ctx *ctx);
void treeobj_dump_end(struct dump_ctx *ctx, int ok);
int treeobj_restore_verify(struct restore_ctx *ctx);
int treeobj_restore_before_fork(struct restore_ctx *ctx);
int treeobj_restore_after_tree(struct restore_ctx *ctx);
void treeobj_restore_finish(struct restore_ctx *ctx, int failed);

/* The previous image of the chain (--prev-images-dir) as a path (engine/dump.c); NULL if none. */
const char *dump_prev_path(struct dump_ctx *ctx, char *buf, size_t len);
