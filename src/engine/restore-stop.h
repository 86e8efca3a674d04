/* SPDX-License-Identifier: Apache-2.0 */
/* Restore: tasks that were stopped (group stop) come back stopped (restore-stop.c). */
#pragma once
#include "engine/context.h"

/*
 * Puts every task dumped in a group stop into the same stop, while it is still traced, and lets
 * its parent collect that stop with waitid(WSTOPPED) only if it had not before the dump. Runs
 * after the sessions (an orphaned group discards SIGTSTP) and before the signals are restored
 * (the SIGCHLD this raises in the parent is the restore's, and drained).
 */
int restore_tree_stops(struct restore_ctx *ctx);
