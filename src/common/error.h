/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Errors that carry their context. Library code returns 0 or -errno and, when given a
 * struct ferry_err, fills in a message; callers prepend their own context with fe_wrap()
 * ("restore vma 0x7f..: open /x.so: No such file or directory"). Only the edges print it.
 */
#pragma once
#include <errno.h>
#include <signal.h>

/*
 * What a caller can do about an error (include/ferry/ferry.h: enum ferry_err_class has the same
 * values). Set where the error arises, with fe_class(); FE_NONE lets fe_class_of() derive it
 * from the errno.
 */
enum fe_class {
	FE_NONE = 0,
	FE_GENERIC,		/* internal or not classified */
	FE_UNSUPPORTED,		/* the tree holds something ferry refuses, by name */
	FE_PID_TAKEN,		/* a PID (or TID) of the image is in use here */
	FE_IMAGE_CORRUPT,	/* checksum, framing, truncation, mixed files */
	FE_IMAGE_FOREIGN,	/* another format/protocol version, or a machine this one cannot run */
	FE_TRANSIENT_IO,	/* a read or write failed; trying again may work */
	FE_PEER_LOST,		/* the page server or a migration peer went away */
	FE_CANCELLED,		/* ferry_op_cancel(), a signal, or a hook said no */
	FE_RESOURCE,		/* memory, disk, descriptors, a size limit */
	FE_NO_PROCESS,		/* the process to dump does not exist (or exited meanwhile) */
	FE_INVALID,		/* a wrong argument or option */
	FE_NCLASSES
};

#define FE_MAX_LINKS 16

struct ferry_err {
	int code;	/* positive errno of the root cause */
	char msg[1024];
	int cls;	/* enum fe_class; FE_NONE: derived from code */
	/* the chain: msg is link[n-1] ": " ... link[0] ": " root; lens of each prefix, innermost first */
	unsigned nlinks;
	unsigned short link_len[FE_MAX_LINKS];
};

/* Sets the error (replacing any) from fmt plus strerror(code); returns -code. err may be NULL. */
int fe_set(struct ferry_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Like fe_set, with no strerror suffix: the message says it all. */
int fe_msg(struct ferry_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prepends "context: " to the message and returns -code; rc == 0 is passed through untouched. */
int fe_wrap(struct ferry_err *err, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void fe_clear(struct ferry_err *err);
/* Classifies the error behind rc (< 0: rc is passed through; 0: nothing is set). */
int fe_class(struct ferry_err *err, int cls, int rc);
/* The class: the one set, or one derived from the errno. */
int fe_class_of(const struct ferry_err *err, int rc);
/* Number of elements of the chain (outermost context first, the root cause last), and one. */
unsigned fe_chain_len(const struct ferry_err *err);
/* Copies element i into buf (NUL-terminated); returns its length, or -ERANGE when i is out of range. */
int fe_chain_at(const struct ferry_err *err, unsigned i, char *buf, unsigned len);
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
/*
 * The calling thread's operation cancel flag (or NULL); returns the previous one. A stall ends
 * when it is set, even before the stall began: without it only a signal handled while the stall
 * sleeps ends it, and one handled between two sleeps (a thread kept off the CPU by load) is lost.
 */
const volatile sig_atomic_t *fault_set_cancel(const volatile sig_atomic_t *cancel);
