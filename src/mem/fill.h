/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The page filler: a pool of worker threads in ferry that checks page runs against their
 * checksums and writes them into restored tasks with process_vm_writev() (or /proc/PID/mem where
 * that is missing), straight from the mapped page store: one copy, no injection, and several
 * tasks (or the halves of one big task) at a time while the tracer goes on building the tree.
 *
 * Only the thread that traces a task may inject into it, but any thread may write its memory:
 * the tracer maps a task's VMAs writable, submits the task, and goes on with other tasks; it
 * reprotects the VMAs once filler_wait() hands the task back.
 */
#pragma once
#include <stdint.h>
#include "engine/context.h"

struct filler;

enum {
	FILL_CHECK = 1,		/* hash every run and compare with its checksum */
	FILL_WRITE = 2,		/* write every run into the task */
};

/* Starts the workers (one per CPU, at least one). 0 or -errno. */
int filler_start(struct filler **out, struct ferry_err *err);
/*
 * Queues task t's runs held in its own page store (t->ps, mapped): checked, written, or both
 * (FILL_*). Runs left to parent images are not touched. 0 or -ENOMEM.
 */
int filler_submit(struct filler *f, struct rtask *t, int what, struct ferry_err *err);
/*
 * Waits until a submitted task is done and returns it in *t (NULL when nothing is queued); the
 * task's own result is returned, with err filled on failure. Updates prog as pages are written.
 */
int filler_wait(struct filler *f, struct rtask **t, struct progress *prog, struct ferry_err *err);
/* How long something was queued, in µs (the wall time pages were being checked or written). */
uint64_t filler_busy_us(const struct filler *f);
/* Drops whatever is queued, waits for the workers and frees the pool. NULL is fine. */
void filler_stop(struct filler *f);
