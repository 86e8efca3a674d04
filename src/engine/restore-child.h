/* SPDX-License-Identifier: Apache-2.0 */
/* The restored task's own setup before ferry takes it over by injection. */
#pragma once
#include "engine/context.h"

struct child_report {
	int code;		/* 0, or a positive errno */
	int pages_fd;		/* the page store's descriptor in the new task */
	char msg[1024];
};

/* Runs in the new task; never returns. Reports on sync_fd, then stops under ptrace. */
void restore_child_main(struct restore_ctx *ctx, struct rtask *t, int sync_fd) __attribute__((noreturn));
