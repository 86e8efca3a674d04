/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Errors that carry their context. Library code returns 0 or -errno and, when given a
 * struct ferry_err, fills in a message; callers prepend their own context with fe_wrap()
 * ("restore vma 0x7f..: open /x.so: No such file or directory"). Only the edges print it.
 */
#pragma once
#include <errno.h>
#include <signal.h>

struct ferry_err {
	int code;	/* positive errno of the root cause */
	char msg[1024];
};

/* Sets the error (replacing any) from fmt plus strerror(code); returns -code. err may be NULL. */
int fe_set(struct ferry_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Like fe_set, with no strerror suffix: the message says it all. */
int fe_msg(struct ferry_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prepends "context: " to the message and returns -code; rc == 0 is passed through untouched. */
int fe_wrap(struct ferry_err *err, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void fe_clear(struct ferry_err *err);
/* Message text, or strerror(-rc) when none was recorded. */
const char *fe_str(const struct ferry_err *err, int rc);

/*
 * Fault injection: FERRY_FAULT=<name> in the environment makes fault_point(name) return true;
 * FERRY_STALL=<name> makes it sleep there, FERRY_FAULT_TRACE=<file> records it (error.c).
 */
int fault_point(const char *name);
/* FERRY_FAULT=<name> selects a degraded path that works (not a failure: not traced, no stall). */
int fault_mode(const char *name);
/* fault_point("<op>-<stage>"), for the points every pipeline stage has. */
int fault_stage(const char *op, const char *stage);
/* The calling thread's operation cancel flag (or NULL): a stall also ends when it is set. */
void fault_set_cancel(const volatile sig_atomic_t *cancel);
