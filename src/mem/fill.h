/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The page filler: a pool of worker threads in ferry that checks page runs against their
 * checksums and writes them into restored tasks straight from the mapped page store, one copy:
 * with UFFDIO_COPY into private anonymous memory (no zeroed page first), process_vm_writev()
 * elsewhere (/proc/PID/mem where that is missing); several tasks, or the pieces of a big one,
 * at a time while the tracer goes on building the tree.
 *
 * Only the thread that traces a task may inject into it, but any thread may write its memory:
 * the tracer maps a task's VMAs writable, submits the task, and goes on with other tasks; it
 * reprotects the VMAs once filler_wait() hands the task back.
 */
#pragma once
#include <signal.h>
#include <stdint.h>
#include "engine/context.h"

struct filler;

enum {
	FILL_CHECK = 1,		/* hash every run and compare with its checksum */
	FILL_WRITE = 2,		/* write every run into the task */
};

/*
 * Starts the workers (one per CPU but one; they block every signal). Once *cancel (may be NULL)
 * is set, units fail with -ECANCELED and filler_wait() returns it. 0 or -errno.
 */
int filler_start(struct filler **out, const volatile sig_atomic_t *cancel, struct ferry_err *err);
/*
 * Queues task t's runs held in its own page store (t->ps, mapped) with ctx->filler: checked,
 * written, or both (FILL_*). Runs left to parent images are not touched. To write, t must be
 * stopped and traced by the caller, with its VMAs mapped (private anonymous ones are given
 * their pages with a userfaultfd ferry holds, closed when filler_wait() hands t back; the
 * others must be writable). 0 or -ENOMEM.
 */
int filler_submit(struct restore_ctx *ctx, struct rtask *t, int what);
/*
 * Waits until a submitted task is done and returns it in *t (NULL when nothing is queued); the
 * task's own result is returned, with err filled on failure. Updates prog as pages are written.
 * -ECANCELED with *t NULL once the operation is cancelled.
 */
int filler_wait(struct filler *f, struct rtask **t, struct progress *prog, struct ferry_err *err);
/*
 * Asks the kernel to read ahead the parts of mapped files under the private file mappings' stored
 * pages: writing such a page first reads the file's (copy-on-write), one fault at a time.
 */
void filler_prefetch(const struct restore_ctx *ctx);
/* How long something was queued, in µs (the wall time pages were being checked or written). */
uint64_t filler_busy_us(const struct filler *f);
/* Drops whatever is queued, waits for the workers and frees the pool. NULL is fine. */
void filler_stop(struct filler *f);
