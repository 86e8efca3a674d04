/* SPDX-License-Identifier: Apache-2.0 */
/* Public entry points of the engine: dump and restore of a process with its threads. */
#pragma once
#include <signal.h>
#include <sys/types.h>
#include "common/error.h"

struct img_sink;
struct transform_opts;

struct dump_opts {
	pid_t pid;
	const char *dir;
	int leave_running;
	int shell_job;
	const char *log_file;	/* relative names go into dir; NULL: dump.log */
	int display_stats;
	int tcp_close;		/* drop established TCP connections instead of refusing them */
	int tcp_established;	/* established TCP connections by TCP repair (both ends in the tree) */
	int ext_unix_sk;	/* unix sockets whose peer is outside the tree: restored (CRIU's --ext-unix-sk) */
	int skip_in_flight;	/* drop TCP connections a listener has not accepted yet */
	int file_locks;		/* save flock/POSIX locks (refused otherwise) */
	struct img_sink *sink;	/* where image files go; NULL: into dir (a page server: transport/) */
	int pre_dump;		/* copy memory only, while the tree runs on (ferry pre-dump) */
	int track_mem;		/* keep dirty-page tracking for the next (pre-)dump */
	const char *prev_dir;	/* the previous (pre-)dump of the chain, relative to dir or absolute */
	const char *stats_json;	/* also write the statistics as JSON to this file ("-": stdout) */
	const struct transform_opts *transform;	/* compress/encrypt what is written (transform/) */
	int force_irmap;	/* find watched inodes by scanning directories, not by file handle */
	const char *const *irmap_scan_paths;	/* directories scanned first for watched inodes */
	size_t n_irmap_scan_paths;
	const volatile sig_atomic_t *cancel;	/* set non-zero (any thread, a signal handler) to stop */
};

struct inherit_fd {
	int fd;			/* our descriptor */
	const char *key;	/* a path (or object name) of a file in the image */
};

struct restore_opts {
	const char *dir;
	int detached;
	int shell_job;
	const char *pidfile;
	const struct inherit_fd *inherit;
	size_t n_inherit;
	const char *log_file;	/* NULL: restore.log */
	int display_stats;
	const char *stats_json;	/* also write the statistics as JSON to this file ("-": stdout) */
	const char *key_file;	/* the key of an encrypted image (decoded as it is read) */
	int caller_waits;	/* detached, but the caller waits for the root: it stays ferry's child */
	const volatile sig_atomic_t *cancel;	/* set non-zero to stop (honoured until the release) */
	void (*released)(void *arg);	/* called once the tree runs, before waiting for it */
	void *released_arg;
};

/* 0 or -errno with err filled; on failure the process runs on as before. */
int ferry_dump(const struct dump_opts *o, struct ferry_err *err);
/*
 * 0 or -errno with err filled; on failure nothing restored is left alive. Without o->detached,
 * waits for the restored process and stores its wait status in *wstatus.
 */
int ferry_restore(const struct restore_opts *o, int *wstatus, struct ferry_err *err);
