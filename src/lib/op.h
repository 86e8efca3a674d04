/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The operation handle behind include/ferry/ferry.h: the engine's option structs it fills, the
 * log sink and callbacks it carries, and the result it keeps. Internal to libferry.
 */
#pragma once
#include <pthread.h>
#include <signal.h>
#include "ferry/ferry.h"
#include "common/error.h"
#include "common/log.h"
#include "engine/engine.h"
#include "migrate/migrate.h"
#include "transform/transform.h"
#include "transport/transport.h"

struct ferry_op {
	enum ferry_op_kind kind;
	int running;
	volatile sig_atomic_t cancel;
	/* the engine's options, filled by name (options.c) */
	struct dump_opts dump;
	struct restore_opts restore;
	struct remote_opts remote;
	struct transform_opts transform;
	struct migrate_opts migrate;	/* migrate: its remote is filled from remote at the run */
	struct serve_opts serve;
	char endpoint[256];		/* serve "listen", migrate "to": the host part (remote.address) */
	int page_server;		/* dump: to a page server (remote) */
	int verbosity;			/* console level; -1 none */
	unsigned cpu_cap;		/* restore, check: FERRY_CPU_CAP_* checked (default all) */
	int json, forever, shim;
	const char *dir, *path, *file, *output, *log_file, *pidfile, *feature, *shim_status_file;
	const char *check_image;	/* check: the image to pre-check ("image") */
	const char *from_export;	/* restore: the export file to restore from ("from-export") */
	FILE *out;
	char **strs;			/* every string copied in, owned */
	size_t nstrs;
	const char **irmap;
	struct inherit_fd *inherit;
	/* the caller's sinks */
	struct log_sink sink;
	pthread_mutex_t log_lock;	/* the engine's worker threads log too */
	ferry_log_fn log_fn;
	int log_level;
	void *log_arg;
	ferry_progress_fn progress_fn;
	void *progress_arg;
	ferry_stage_fn hook_fn;
	void *hook_arg;
	ferry_ready_fn ready_fn;
	void *ready_arg;
	/* the result of the last run */
	struct ferry_err err;
	int rc;
	char **chain;
	size_t nchain;
	char **warnings;
	size_t nwarnings;
	char **findings;		/* check "image": every difference found */
	size_t nfindings;
	struct op_report report;
	char image_id[33];
	pid_t shim_pid;
	int shim_fd;			/* the shim's report pipe; -1 */
};

#define K_BIT(k) (1u << (k))

/* options.c: defaults of a kind, and the named setters */
void op_defaults(struct ferry_op *op);
/* A copy of s owned by op (NULL stays NULL); NULL on ENOMEM. */
const char *op_strdup(struct ferry_op *op, const char *s);

/* run.c: the runners of each kind; 0 or -errno with op->err set. */
int op_run_kind(struct ferry_op *op);
/* The engine's hook calling the caller's (engine.h: ferry_hook_fn). */
int op_hook(const char *stage, pid_t root, void *arg);
/* The engine's progress calling the caller's (engine.h: op_report). */
void op_progress(void *arg, const char *phase, uint64_t done, uint64_t total, int unit, int tree);
/* The engine's released callback calling the caller's ready callback. */
void op_ready(void *arg);
/* The log sink's callback: collects warnings, passes messages on to the caller's callback. */
void op_log(void *arg, int level, const char *msg);

/* run.c: a restore in this process (the root becomes its child). */
int op_restore_direct(struct ferry_op *op);

/* shim.c: a restore whose tree's parent is a shim process; 0 or -errno with op->err set. */
int op_restore_shim(struct ferry_op *op);
int op_shim_wait(struct ferry_op *op, int *wstatus);
