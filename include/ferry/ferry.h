/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libferry: checkpoint/restore of Linux process trees, as a library (docs/API.md).
 *
 * Every operation is a handle: made with ferry_op_new(kind), given its options by name (the
 * long names of the ferry command line: "images-dir", "tree", "leave-running"...), a log sink,
 * a progress callback, then run with ferry_op_run(). ferry_op_cancel() may be called from any
 * thread (or a signal handler) while it runs. Afterwards the handle holds the result: the
 * error (a class, a message, the chain of contexts), the warnings, the statistics, the image's
 * identity and, for a restore, the restored tree (resume, kill, wait).
 *
 * Handles share nothing: two operations may run at once in two threads of one process, each
 * with its own log. The library installs no signal handler and changes no process-wide signal
 * disposition. Functions returning int return 0 or a negative errno.
 */
#ifndef FERRY_FERRY_H
#define FERRY_FERRY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(FERRY_BUILDING_LIB)
#define FERRY_API __attribute__((visibility("default")))
#else
#define FERRY_API
#endif

/* The library's version (also the pkg-config version). */
#define FERRY_API_VERSION 1
FERRY_API const char *ferry_version(void);

/* What this library reads and writes: "image" (format major.minor), "protocol" (page server, major.minor), "encoding" (encoded images: major). 0, or -ENOENT. */
FERRY_API int ferry_format_version(const char *what, int *major, int *minor);

typedef struct ferry_op ferry_op;

enum ferry_op_kind {
	FERRY_OP_DUMP = 1,	/* checkpoint a tree ("tree", "images-dir") */
	FERRY_OP_PRE_DUMP,	/* copy memory while the tree runs on */
	FERRY_OP_RESTORE,	/* restore a tree ("images-dir") */
	FERRY_OP_VERIFY,	/* check an image (chain) whole ("images-dir"); report to the output */
	FERRY_OP_MERGE,		/* an image chain into one image ("images-dir", "output") */
	FERRY_OP_CHECK,		/* what this kernel offers ("json", "feature"), or whether the image
				   "image" can be restored here; report to the output */
	FERRY_OP_SHOW,		/* an image (directory or file "path") as JSON to the output */
	FERRY_OP_PAGE_SERVER,	/* receive images ("images-dir", "port", ...) */
	FERRY_OP_EXPORT,	/* an image directory as one file ("images-dir", "file") */
	FERRY_OP_IMPORT,	/* back ("file", "images-dir") */
	FERRY_OP_SERVE,		/* receive a live migration and run its tree here ("listen", auth) */
	FERRY_OP_MIGRATE,	/* move a running tree to a serve ("tree", "to", "mode"); report to the output */
};

/* A new handle of kind, with the defaults of the command line; NULL on ENOMEM or a bad kind. */
FERRY_API ferry_op *ferry_op_new(enum ferry_op_kind kind);
/* Frees the handle (not while ferry_op_run() runs). The restored tree, if any, is untouched. */
FERRY_API void ferry_op_free(ferry_op *op);
FERRY_API enum ferry_op_kind ferry_op_get_kind(const ferry_op *op);

/*
 * Options by name (docs/API.md lists them, with the kinds that take each). Strings are copied;
 * a string option that may be given many times ("irmap-scan-path") appends, NULL clears it.
 * -ENOENT: no such option; -ENOTSUP: not an option of this kind; -EINVAL: a bad value (the
 * error of the handle says why); -EBUSY: the operation runs.
 */
FERRY_API int ferry_op_set_bool(ferry_op *op, const char *name, int on);
FERRY_API int ferry_op_set_int(ferry_op *op, const char *name, long long value);
FERRY_API int ferry_op_set_str(ferry_op *op, const char *name, const char *value);
/* restore: give the restored tree our descriptor fd where the image has the file key. */
FERRY_API int ferry_op_add_inherit_fd(ferry_op *op, int fd, const char *key);
/* Where VERIFY, CHECK, SHOW and MIGRATE write their report (default: stdout). */
FERRY_API int ferry_op_set_output(ferry_op *op, FILE *out);

/* Log levels, CRIU's scale. */
enum ferry_log_level {
	FERRY_LOG_MSG = 0,	/* a report line (printed on stdout by the CLI) */
	FERRY_LOG_ERROR = 1,
	FERRY_LOG_WARN = 2,
	FERRY_LOG_INFO = 3,
	FERRY_LOG_DEBUG = 4,
};
/*
 * Every message up to level is passed to fn, whole, from the thread running the operation (or
 * one of its workers; calls are never concurrent). The per-operation log file is the option "log-file" (relative: into the
 * work or image directory; it receives everything up to debug); the option "verbosity" (-1:
 * none, the default) also prints messages on stderr as the command line does.
 */
typedef void (*ferry_log_fn)(void *arg, int level, const char *msg);
FERRY_API int ferry_op_set_log(ferry_op *op, ferry_log_fn fn, int level, void *arg);

enum ferry_unit { FERRY_UNIT_STAGES = 0, FERRY_UNIT_BYTES = 1 };
enum ferry_tree_state {
	FERRY_TREE_UNKNOWN = 0,
	FERRY_TREE_FROZEN = 1,		/* every task of the tree is stopped by the operation */
	FERRY_TREE_RUNNING = 2,
	FERRY_TREE_NOT_RUNNING = 3,	/* restore: the tree is not released yet */
};
struct ferry_progress {
	size_t size;		/* sizeof(struct ferry_progress) of the library: fields may be added at the end */
	const char *phase;	/* a stage's name; "pages" for a page copy; "done" at the end */
	uint64_t done, total;	/* in unit: stages (done of total), or bytes of the copy */
	int unit;		/* enum ferry_unit */
	int tree;		/* enum ferry_tree_state */
};
/* Called at each stage and for each batch of a copy, in the operation's thread. */
typedef void (*ferry_progress_fn)(void *arg, const struct ferry_progress *p);
FERRY_API int ferry_op_set_progress(ferry_op *op, ferry_progress_fn fn, void *arg);

/*
 * CRIU's action-script stages: "post-dump" (the image is whole, the tree still frozen),
 * "post-restore" and "pre-resume" (the restored tree complete, not yet running). Non-zero
 * fails the operation (the tree runs on as before / nothing restored is left alive).
 */
typedef int (*ferry_stage_fn)(void *arg, const char *stage, pid_t root);
FERRY_API int ferry_op_set_hook(ferry_op *op, ferry_stage_fn fn, void *arg);
/*
 * Called once: restore, when the tree is released (running, or stopped with "leave-stopped")
 * and before ferry_op_run() returns; page server and serve, once they listen.
 */
typedef void (*ferry_ready_fn)(void *arg, ferry_op *op);
FERRY_API int ferry_op_set_ready(ferry_op *op, ferry_ready_fn fn, void *arg);

/* Runs the operation in the calling thread: 0, or a negative errno with the error set. */
FERRY_API int ferry_op_run(ferry_op *op);
/*
 * Asks the running operation to stop (any thread; async-signal-safe). A dump leaves the tree
 * running as it was and fails with FERRY_ERR_CANCELLED; honoured between stages, between
 * objects and between batches of a page copy, until the image is whole.
 */
FERRY_API void ferry_op_cancel(ferry_op *op);

/* Error classes: what a caller can do about a failure. */
enum ferry_err_class {
	FERRY_ERR_NONE = 0,
	FERRY_ERR_GENERIC,		/* internal, or not classified */
	FERRY_ERR_UNSUPPORTED,		/* the tree holds an object ferry refuses (the message names it) */
	FERRY_ERR_PID_TAKEN,		/* a PID of the image is in use here */
	FERRY_ERR_IMAGE_CORRUPT,	/* checksum, framing, truncation: retry an older checkpoint */
	FERRY_ERR_IMAGE_FOREIGN,	/* another format or protocol version, a CPU this one is not */
	FERRY_ERR_TRANSIENT_IO,		/* a read or write failed: may work again */
	FERRY_ERR_PEER_LOST,		/* the page server or migration peer went away */
	FERRY_ERR_CANCELLED,		/* ferry_op_cancel(), or a hook refused */
	FERRY_ERR_RESOURCE,		/* memory, disk, descriptors or a size limit */
	FERRY_ERR_NO_PROCESS,		/* no such process (or it exited during the dump) */
	FERRY_ERR_INVALID,		/* a bad argument or option */
};
FERRY_API const char *ferry_err_class_name(int cls);

/* The last failure of the handle: class, positive errno, message (outermost context first). */
FERRY_API int ferry_op_error_class(const ferry_op *op);
FERRY_API int ferry_op_error_code(const ferry_op *op);
FERRY_API const char *ferry_op_error_message(const ferry_op *op);
/* The chain: element 0 is the outermost context, the last the root cause. */
FERRY_API size_t ferry_op_error_chain_len(const ferry_op *op);
FERRY_API const char *ferry_op_error_chain(const ferry_op *op, size_t i);

/* Warnings of the last run (each as logged, without its "Warn" tag). */
FERRY_API size_t ferry_op_warning_count(const ferry_op *op);
FERRY_API const char *ferry_op_warning(const ferry_op *op, size_t i);

/*
 * check with "image": every difference found that would make a restore here fail (the CPU, the
 * kernel, the vDSO, a PID taken, a file missing or changed), one line each, naming it. The run
 * fails when there is any; its error message holds them all.
 */
FERRY_API size_t ferry_op_finding_count(const ferry_op *op);
FERRY_API const char *ferry_op_finding(const ferry_op *op, size_t i);

/* Values of the option "cpu-cap" (restore, check): what is compared of the CPU. */
#define FERRY_CPU_CAP_FPU 1	/* the XSAVE features (XCR0) and area size the image's state needs */
#define FERRY_CPU_CAP_INS 2	/* the CPUID instruction-set flags recorded at dump */
#define FERRY_CPU_CAP_ALL 3	/* the default */

/* The image's identity (the inventory's image_id) as 32 hex digits; NULL if none yet. */
FERRY_API const char *ferry_op_image_id(const ferry_op *op);

/*
 * Statistics of the last run, by their names in docs/IMAGES.md (DumpStats, RestoreStats); of a
 * migration: total_ms, downtime_ms, bytes_sent, rounds, mode (0 cold, 1 precopy), dest_pid.
 */
FERRY_API size_t ferry_op_stat_count(const ferry_op *op);
FERRY_API const char *ferry_op_stat_name(const ferry_op *op, size_t i);
/* 0 with *value, or -ENOENT when the run did not record that statistic. */
FERRY_API int ferry_op_stat(const ferry_op *op, const char *name, uint64_t *value);

/* restore: the restored tree (root first), once ferry_op_run() succeeded. */
FERRY_API pid_t ferry_op_root_pid(const ferry_op *op);
FERRY_API size_t ferry_op_pid_count(const ferry_op *op);
FERRY_API pid_t ferry_op_pid(const ferry_op *op, size_t i);
/* SIGCONT to every task of a tree restored with "leave-stopped". */
FERRY_API int ferry_op_resume(ferry_op *op);
/* sig to every task of the restored tree. */
FERRY_API int ferry_op_kill(ferry_op *op, int sig);
/*
 * Waits for the restored root, when it is the caller's child (not detached, no shim), and
 * stores its wait status. With a shim: waits for the shim's report instead (see "shim").
 */
FERRY_API int ferry_op_wait(ferry_op *op, int *wstatus);
/* restore with "shim": the shim's pid (the restored root's parent), or 0. */
FERRY_API pid_t ferry_op_shim_pid(const ferry_op *op);

/* FERRY_FAULT=<name> in the environment makes this return 1: fault injection for tests. */
FERRY_API int ferry_fault_point(const char *name);
/*
 * The same, for a caller running op's hooks around it (the command line's action scripts): a
 * stall there (FERRY_STALL=<name>) also ends once op is cancelled, even by a cancel that came
 * before it or between its sleeps, not only by a signal that interrupts one.
 */
FERRY_API int ferry_op_fault_point(ferry_op *op, const char *name);

#ifdef __cplusplus
}
#endif
#endif
