/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The only place where migration calls into the engine (engine/engine.h today; libferry's public
 * API later). A round is a dump of the tree into an image sink; the hand-over is the dump's
 * "post-dump" action (the image is whole at the destination, the tree still frozen: returning 0
 * lets the dump kill it, non-zero lets it run on as before) and the restore's "pre-resume" action
 * (the tree is restored and held, not running: 0 lets it run, non-zero kills it).
 */
#pragma once
#include <signal.h>
#include <sys/types.h>
#include "common/error.h"

struct img_sink;

struct glue_dump {
	pid_t pid;
	const char *dir;		/* local directory: logs and the image's metadata */
	const char *prev;		/* the previous round, relative to dir; NULL: none */
	int pre_dump;			/* copy memory while the tree runs on, tracking what it writes next */
	int tcp_close;			/* reset established TCP connections instead of refusing them */
	struct img_sink *sink;		/* where the image goes */
	int (*handover)(void *arg);	/* final dump: the post-dump action */
	void *arg;
	const volatile sig_atomic_t *cancel;
};
/* 0, or -errno with err filled: then the tree runs on as before. */
int glue_dump(const struct glue_dump *g, struct ferry_err *err);

#define GLUE_LEAVE_STOPPED 2

struct glue_restore {
	const char *dir;
	int allow_changed_files;		/* files whose inode, mount or size changed since the dump */
	/* The pre-resume action: 0 lets the tree run, GLUE_LEAVE_STOPPED releases it stopped, else killed. */
	int (*ready)(pid_t root, void *arg);
	void (*running)(void *arg);		/* the tree runs */
	void *arg;
};
/* 0 once the tree runs (detached), or -errno with err filled: then nothing restored is left. */
int glue_restore(const struct glue_restore *g, struct ferry_err *err);

/*
 * The parent-death signal of the image's root (its leader's, or else one of its threads'), 0 if
 * none: the root's parent is not part of the tree. 0 or -errno.
 */
int glue_root_pdeath(const char *dir, int *sig, struct ferry_err *err);

/*
 * A pre-copy round's dirty-page tracking is no longer wanted (the migration failed between
 * rounds): the tracking holder its image in dir names is stopped, so nothing of the migration
 * stays attached to the tree.
 */
void glue_track_release(const char *dir);
