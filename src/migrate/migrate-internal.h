/* SPDX-License-Identifier: Apache-2.0 */
/* What the source's files share (source.c, handover.c, stats.c). */
#pragma once
#include <limits.h>
#include "migrate/channel.h"
#include "migrate/migrate.h"

#define MIG_MAX_ROUNDS 32

struct round_stat {
	uint64_t bytes, pages, us;
	int final;
};

struct msrc {
	const struct migrate_opts *o;
	struct chan ch;
	char dir[PATH_MAX];		/* the work directory */
	int tmp_dir;			/* made here: removed at the end */
	struct round_stat rs[MIG_MAX_ROUNDS];
	int nrounds;
	uint64_t t0, t_freeze, t_end, bytes;
	int handover;			/* the final image is whole at the destination */
	int dest_done;			/* the destination said FAILED: it holds nothing */
	int ready;			/* READY received: the destination holds a restored copy */
	int killed;			/* the dump killed the local copy: past the point of no return */
	int running;			/* RUNNING received */
	pid_t dest_pid;
	int hr;				/* the hand-over's own failure (-errno), and its message */
	struct ferry_err herr;
	struct ferry_err *err;
};

/* handover.c: the post-dump action of the final dump (engine-glue.h). */
int src_handover(void *arg);
/* handover.c: after the kill: GO, then RUNNING; over new connections if the channel is lost. */
int src_commit(struct msrc *s);
/* handover.c: the migration failed with the local tree running: the destination must drop its copy. */
void src_abort(struct msrc *s, const char *why);

/* stats.c */
void src_stats_report(const struct msrc *s);
