/* SPDX-License-Identifier: Apache-2.0 */
/* The root task's own first steps before ferry takes it over by injection. */
#pragma once
#include "engine/context.h"

/* Runs in the new root task; never returns: it stops under ptrace (or exits on failure). */
void restore_child_main(struct restore_ctx *ctx, struct rtask *t) __attribute__((noreturn));
