/* SPDX-License-Identifier: Apache-2.0 */
/* Migration's calls into the engine (engine-glue.h): ferry_dump and ferry_restore, with their hooks. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include "common/util.h"
#include "image/image.h"
#include "engine/engine.h"
#include "migrate/engine-glue.h"

static int dump_hook(const char *stage, pid_t root, void *arg)
{
	const struct glue_dump *g = arg;
	(void)root;
	if (strcmp(stage, "post-dump") || !g->handover)
		return 0;
	return g->handover(g->arg);
}

int glue_dump(const struct glue_dump *g, struct ferry_err *err)
{
	struct dump_opts o = {
		.pid = g->pid,
		.dir = g->dir,
		.sink = g->sink,
		.pre_dump = g->pre_dump,
		.track_mem = g->pre_dump,
		.prev_dir = g->prev,
		.tcp_close = g->tcp_close,
		.ghost_fiemap = -1,
		.hook = dump_hook,
		.hook_arg = (void *)g,
		.cancel = g->cancel,
	};
	return ferry_dump(&o, err);
}

struct restore_call {
	const struct glue_restore *g;
	struct restore_opts *o;
};

static int restore_hook(const char *stage, pid_t root, void *arg)
{
	struct restore_call *c = arg;
	if (strcmp(stage, "pre-resume") || !c->g->ready)
		return 0;
	int r = c->g->ready(root, c->g->arg);
	if (r == GLUE_LEAVE_STOPPED)	/* read at the release, which comes next */
		c->o->leave_stopped = 1;
	return r == GLUE_LEAVE_STOPPED ? 0 : r;
}

int glue_restore(const struct glue_restore *g, struct ferry_err *err)
{
	struct restore_opts o = {
		.dir = g->dir,
		.detached = 1,
		.allow_changed_files = g->allow_changed_files,
		.hook = restore_hook,
		.released = g->running,
		.released_arg = g->arg,
	};
	struct restore_call c = { g, &o };
	o.hook_arg = &c;
	return ferry_restore(&o, NULL, err);
}

int glue_root_pdeath(const char *dir, int *sig, struct ferry_err *err)
{
	Ferry__Inventory *inv = NULL;
	Ferry__TaskCore *core = NULL;
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	*sig = 0;
	if (dirfd < 0)
		return fe_set(err, errno, "open %s", dir);
	int r = img_read_msg(dirfd, IMG_INVENTORY, 0, (ProtobufCMessage **)&inv, err);
	if (r == 0)
		r = img_read_msg(dirfd, IMG_CORE, inv->root_pid, (ProtobufCMessage **)&core, err);
	if (r == 0 && core->has_pdeath_sig)
		*sig = core->pdeath_sig;
	for (size_t i = 0; r == 0 && !*sig && i < core->n_threads; i++)
		if (core->threads[i]->attrs && core->threads[i]->attrs->has_pdeath_sig)
			*sig = core->threads[i]->attrs->pdeath_sig;
	img_free((ProtobufCMessage *)core);
	img_free((ProtobufCMessage *)inv);
	close(dirfd);
	return r;
}

void glue_track_release(const char *dir)
{
	Ferry__TrackState *ts = NULL;
	struct ferry_err e = { 0 };
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return;
	/* the holder's PID with its start time: never a process that reused the PID */
	if (img_read_msg(dirfd, IMG_TRACK, 0, (ProtobufCMessage **)&ts, &e) == 0 && ts->holder_pid > 0 &&
	    proc_stat_field(ts->holder_pid, 22) == ts->holder_start)
		kill(ts->holder_pid, SIGTERM);
	img_free((ProtobufCMessage *)ts);
	close(dirfd);
}
