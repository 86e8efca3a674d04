/* SPDX-License-Identifier: Apache-2.0 */
/* Restore stages that build the tree below the root: tasks, threads, sessions and zombies. */
#pragma once
#include "engine/context.h"

/* Forks every non-root task from its restored parent (parents first) and rebuilds its memory. */
int restore_tree_tasks(struct restore_ctx *ctx);
/* Clones every task's threads with their TIDs. */
int restore_tree_threads(struct restore_ctx *ctx);
/* Process groups, then zombies exit with their saved status. */
int restore_tree_sessions(struct restore_ctx *ctx);
