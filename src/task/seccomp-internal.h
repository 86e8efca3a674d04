/* SPDX-License-Identifier: Apache-2.0 */
/* Between task/seccomp.c (filters per thread) and task/seccomp-share.c (filters shared by threads). */
#pragma once
#include "engine/context.h"

/* Installs one filter in the thread of inj (SPEC_ALLOW; speculation is restored on its own). */
int seccomp_install(struct restore_ctx *ctx, struct injector *inj, const Ferry__SeccompFilter *f);
/* Gives each thread's chain its filter objects and checks that sharing by TSYNC probes (dump). */
int seccomp_share_dump(struct dump_ctx *ctx, struct dtask *t, Ferry__SeccompState *st);
/* How many of thread tid's filters seccomp_make_threads() gave it already (the rest are its own). */
size_t seccomp_installed(const Ferry__SeccompState *st, pid_t pid, pid_t tid);
