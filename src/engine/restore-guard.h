/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The release of a restored tree is one PTRACE_DETACH per thread: should ferry die between two
 * of them, PTRACE_O_EXITKILL kills the threads still attached and the detached ones run on, a
 * tree half alive. A guardian (a child of ferry) watches the release: if ferry dies before
 * saying it is over, the guardian SIGKILLs every process of the tree (restore-guard.c).
 */
#pragma once
#include <sys/types.h>
#include "engine/context.h"

struct restore_guard {
	pid_t pid;	/* the guardian, 0 if none */
	int fd;		/* our end of its pipe */
	int *pidfds;
	size_t n;
};

/* Right before the first detach: every task of the tree exists. */
int guard_start(struct restore_ctx *ctx, struct restore_guard *g);
/* The release is over (ok) or failed (the caller kills the tree itself): the guardian goes. */
void guard_stop(struct restore_guard *g);
