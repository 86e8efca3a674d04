/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pre-checks: can the image that a restore context read be restored here? One function, run by
 * restore before it creates anything and by `ferry check --image DIR` (ferry_check_image).
 */
#pragma once
#include "engine/context.h"

enum {
	PRECHECK_CPU_FPU = FERRY_CPU_FPU,	/* XCR0 components, XSAVE size, AMX permission */
	PRECHECK_CPU_INS = FERRY_CPU_INS,	/* CPUID instruction-set flags */
	PRECHECK_KERNEL = 1 << 2,		/* kernel features the image's objects need */
	PRECHECK_VDSO = 1 << 3,			/* the [vvar]/[vvar_vclock]/[vdso] layout */
	PRECHECK_PIDS = 1 << 4,			/* every PID and TID free */
	PRECHECK_FILES = 1 << 5,		/* files and mapped files present and the same */
	PRECHECK_ALL = (1 << 6) - 1,
};

/*
 * Runs the checks in `what` over the images ctx read (its inventory, tree, tasks and files).
 * A PID held by a zombie is waited for a while with wait_zombies. Every difference found is
 * appended to rep (if not NULL); 0 when none, else -errno of the first with ctx->err naming
 * all of them.
 */
int precheck_run(struct restore_ctx *ctx, unsigned what, int wait_zombies, struct ferry_check_report *rep);
