/* SPDX-License-Identifier: Apache-2.0 */
/* The process tree at dump: freeze it, then release it as it was or kill it. */
#pragma once
#include "engine/context.h"

/* Seizes the tree rooted at opts->pid into ctx->tasks (parents first; zombies recorded). */
int pstree_seize(struct dump_ctx *ctx);
/* Whether the parent p could still collect each stopped child's stop (p is being injected into). */
int pstree_dump_stops(struct dump_ctx *ctx, struct dtask *p);
/*
 * Puts back registers and masks and detaches every thread; re-sends stashed signals. 0, or the
 * first thread that could not be released (it stays traced until ferry exits; the kernel then
 * detaches it from a stop it leaves cleanly).
 */
int pstree_release(struct dump_ctx *ctx, int resend_stashed);
/* SIGKILLs every task and collects the tracer's notifications. */
void pstree_kill(struct dump_ctx *ctx);
void pstree_free(struct dump_ctx *ctx);
