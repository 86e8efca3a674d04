/* SPDX-License-Identifier: Apache-2.0 */
/* Restore stages that build the tree below the root: tasks, threads, sessions and zombies. */
#pragma once
#include "engine/context.h"

/* Forks every non-root task from its restored parent (parents first) and rebuilds its memory. */
int restore_tree_tasks(struct restore_ctx *ctx);
/* Waits until every task made so far has its memory, protections and mm fields. */
int restore_tree_memory_wait(struct restore_ctx *ctx);
/* Clones every task's threads with their TIDs. */
int restore_tree_threads(struct restore_ctx *ctx);
/* Process groups, then zombies exit with their saved status. */
int restore_tree_sessions(struct restore_ctx *ctx);
/* Clones thread th of t (its TID, flags and injector) by a clone3 injected through `from`. */
int restore_tree_clone_thread(struct restore_ctx *ctx, struct rtask *t, struct injector *from, struct rthread *th);
/* A throwaway thread of t (any TID) cloned through `from`, stopped, with an injector (*inj). */
int restore_tree_clone_carrier(struct restore_ctx *ctx, struct rtask *t, struct injector *from, pid_t *tid,
			       struct injector *inj);
