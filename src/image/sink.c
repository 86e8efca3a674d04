/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local image sink. Each file is written unnamed (O_TMPFILE) and linked into place on
 * commit, so a killed dump leaves no temporary behind and no name points at half a file.
 * Durability: a one-shot sink (img_sink_local) fsyncs each file and the directory as it commits.
 * A dump's sink (img_sink_local_open) starts each file's writeback at commit and waits for all
 * of them, then the directory, before the inventory is linked: "inventory.img exists" means
 * "the image is whole on disk", also after a machine crash. Every close() is checked. Its
 * close() removes what it committed when the dump failed. Fault points, by the file's kind:
 * image-publish-KIND when a file gets its name, image-fsync-KIND (image-fsync-dir) once on disk.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/safefile.h"
#include "common/util.h"
#include "image/image.h"
#include "image/sink.h"

#define INVENTORY "inventory.img"
#define PENDING_MAX 64		/* files written out but not yet waited for */
#define KICK_BYTES (32u << 20)	/* a large file's writeback starts every this many bytes */

struct local_state {
	int pending[PENDING_MAX];	/* fds of committed files whose writeback is under way */
	char pending_name[PENDING_MAX][256];
	size_t npending;
	char (*done)[256];		/* names committed, removed if the dump fails */
	size_t ndone, capdone;
};

struct img_out {
	struct img_sink *s;
	struct safe_tmp t;
	uint64_t written, kicked;	/* bytes written; bytes whose writeback was started */
	char name[256];
};

static int local_begin(struct img_sink *s, const char *name, uint64_t size, struct img_out **out, struct ferry_err *err)
{
	struct img_out *o = calloc(1, sizeof(*o));
	if (!o)
		return fe_set(err, ENOMEM, "image %s", name);
	o->s = s;
	snprintf(o->name, sizeof(o->name), "%s", name);
	int r = safe_tmp_open(&o->t, s->dirfd, name, err);
	if (r < 0) {
		free(o);
		return fe_wrap(err, r, "image %s", name);
	}
	*out = o;
	return 0;
}

static int local_write(struct img_out *o, const void *buf, size_t len, struct ferry_err *err)
{
	int r = write_full(o->t.fd, buf, len);
	if (!r && fault_point("image-write"))
		r = -ENOSPC;
	if (r < 0)
		return fe_set(err, -r, "write image %s", o->name);
	/* A dump's large file goes to disk while the rest is copied (a no-op on tmpfs). */
	o->written += len;
	if (o->s->priv && o->written - o->kicked >= KICK_BYTES) {
		sync_file_range(o->t.fd, (off_t)o->kicked, (off_t)(o->written - o->kicked), SYNC_FILE_RANGE_WRITE);
		o->kicked = o->written;
	}
	return 0;
}

static void local_abort(struct img_out *o)
{
	safe_tmp_abort(&o->t);
	free(o);
}

/*
 * A dump's fault point for file name: "image-<op>-<kind>" (the name without its id and .img:
 * pages, core, inventory…; "dir" for the directory), the same in every run.
 */
static int point(const char *op, const char *name)
{
	char kind[64], what[96];
	snprintf(kind, sizeof(kind), "%s", name);
	char *dot = strstr(kind, ".img"), *dash = strrchr(kind, '-');
	if (dot)
		*dot = 0;
	if (dash && dash[1] && strspn(dash + 1, "0123456789") == strlen(dash + 1))
		*dash = 0;
	snprintf(what, sizeof(what), "image-%s", op);
	return fault_stage(what, kind);
}

/*
 * fsync of a file or of the directory ("dir"). In a dump's sink (traced), each one that succeeded
 * passes the fault point image-fsync-KIND: FERRY_FAULT=image-fsync-pages fails a page store's,
 * and FERRY_FAULT_TRACE records the order in which files became durable (tests/images).
 */
static int sync_fd(int fd, const char *name, int traced)
{
	if (fsync(fd) < 0)
		return -errno;
	return traced && point("fsync", name) ? -EIO : 0;
}

/* Waits for the writeback of pending file i and forgets it; 0 or -errno. */
static int settle(struct local_state *st, size_t i, struct ferry_err *err)
{
	int fd = st->pending[i], r = sync_fd(fd, st->pending_name[i], 1);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		fe_set(err, -r, "write out image %s", st->pending_name[i]);
	st->pending[i] = st->pending[--st->npending];
	memcpy(st->pending_name[i], st->pending_name[st->npending], sizeof(st->pending_name[i]));
	return r;
}

static int settle_all(struct local_state *st, struct ferry_err *err)
{
	int r = 0;
	while (st->npending)
		if (settle(st, st->npending - 1, err) < 0 && r == 0)
			r = -(err && err->code ? err->code : EIO);
	return r;
}

static int remember(struct local_state *st, const char *name)
{
	if (st->ndone == st->capdone) {
		size_t n = st->capdone ? 2 * st->capdone : 64;
		void *p = realloc(st->done, n * sizeof(*st->done));
		if (!p)
			return -ENOMEM;
		st->done = p;
		st->capdone = n;
	}
	snprintf(st->done[st->ndone++], sizeof(st->done[0]), "%s", name);
	return 0;
}

/* A dump's file: its writeback starts now and is waited for before the inventory. */
static int commit_batched(struct img_out *o, struct local_state *st, struct ferry_err *err)
{
	int r = 0;
	if (st->npending == PENDING_MAX)
		r = settle(st, 0, err);
	int keep = r == 0 ? fcntl(o->t.fd, F_DUPFD_CLOEXEC, 0) : -1;
	if (r == 0 && keep < 0)
		r = fe_set(err, errno, "image %s", o->name);
	if (r < 0 || remember(st, o->name) < 0) {
		if (keep >= 0)
			close(keep);
		safe_tmp_abort(&o->t);
		return r < 0 ? r : fe_set(err, ENOMEM, "image %s", o->name);
	}
	sync_file_range(keep, 0, 0, SYNC_FILE_RANGE_WRITE);
	if ((r = safe_tmp_commit(&o->t, o->name, 0, err)) < 0) {
		close(keep);
		st->ndone--;
		return r;
	}
	st->pending[st->npending] = keep;
	snprintf(st->pending_name[st->npending++], sizeof(st->pending_name[0]), "%s", o->name);
	return point("publish", o->name) ? fe_msg(err, EIO, "fault injected after %s got its name", o->name) : 0;
}

/* Every file before it, and their names, are on disk before the inventory gets its own. */
static int commit_durable(struct img_out *o, struct local_state *st, struct ferry_err *err)
{
	int r = st ? settle_all(st, err) : 0;
	if (r == 0 && st && (r = sync_fd(o->s->dirfd, "dir", 1)) < 0)
		fe_set(err, -r, "write out the image directory");
	if (r == 0 && (r = sync_fd(o->t.fd, o->name, st != NULL)) < 0)
		fe_set(err, -r, "write out image %s", o->name);
	if (r < 0) {
		safe_tmp_abort(&o->t);
		return r;
	}
	if (st && remember(st, o->name) < 0) {
		safe_tmp_abort(&o->t);
		return fe_set(err, ENOMEM, "image %s", o->name);
	}
	if ((r = safe_tmp_commit(&o->t, o->name, 0, err)) < 0)
		return r;
	if (st && point("publish", o->name))
		return fe_msg(err, EIO, "fault injected after %s got its name", o->name);
	if ((r = sync_fd(o->s->dirfd, "dir", st != NULL)) < 0)
		return fe_set(err, -r, "write out the image directory");
	return 0;
}

static int local_commit(struct img_out *o, struct ferry_err *err)
{
	struct local_state *st = o->s->priv;
	int r = st && strcmp(o->name, INVENTORY) ? commit_batched(o, st, err) : commit_durable(o, st, err);
	free(o);
	return r;
}

static int local_close(struct img_sink *s, int ok, struct ferry_err *err)
{
	struct local_state *st = s->priv;
	if (!st)
		return 0;
	int r = settle_all(st, ok ? err : NULL);
	if (r == 0 && ok && (r = sync_fd(s->dirfd, "dir", 1)) < 0)
		fe_set(err, -r, "write out the image directory");
	if (!ok)	/* a failed dump leaves no files of its own behind */
		for (size_t i = 0; i < st->ndone; i++)
			unlinkat(s->dirfd, st->done[i], 0);
	free(st->done);
	free(st);
	s->priv = NULL;
	return ok ? r : 0;
}

/* Removing an old inventory is made durable at once: files of a new dump must never pass for its. */
static void local_remove(struct img_sink *s, const char *name)
{
	if (unlinkat(s->dirfd, name, 0) == 0 && !strcmp(name, INVENTORY))
		fsync(s->dirfd);
}

void img_dir_clear(int dirfd)
{
	int dfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	enum img_kind kind;
	int id;
	for (struct dirent *de; (de = readdir(d));)
		if (img_parse_name(de->d_name, &kind, &id) == 0 && kind != IMG_INVENTORY)
			unlinkat(dirfd, de->d_name, 0);
	closedir(d);
}

static int local_sync(struct img_sink *s, struct ferry_err *err)
{
	struct local_state *st = s->priv;
	int r = st ? settle_all(st, err) : 0;
	if (r == 0 && (r = sync_fd(s->dirfd, "dir", st != NULL)) < 0)
		fe_set(err, -r, "write out the image directory");
	return r;
}

static const struct img_sink_ops local_ops = {
	.begin = local_begin, .write = local_write, .commit = local_commit, .abort = local_abort,
	.close = local_close, .remove = local_remove, .sync = local_sync,
};

int img_sink_sync(struct img_sink *s, struct ferry_err *err)
{
	return s && s->ops->sync ? s->ops->sync(s, err) : 0;
}

void img_sink_local(struct img_sink *s, int dirfd)
{
	memset(s, 0, sizeof(*s));
	s->ops = &local_ops;
	s->dirfd = dirfd;
}

int img_sink_local_open(struct img_sink *s, int dirfd, struct ferry_err *err)
{
	img_sink_local(s, dirfd);
	struct local_state *st = calloc(1, sizeof(*st));
	if (!st)
		return fe_set(err, ENOMEM, "image sink");
	s->priv = st;
	return 0;
}

int img_sink_write_file(struct img_sink *s, const char *name, const void *a, size_t alen, const void *b,
			size_t blen, struct ferry_err *err)
{
	struct img_out *o;
	int r = s->ops->begin(s, name, alen + blen, &o, err);
	if (r < 0)
		return r;
	r = s->ops->write(o, a, alen, err);
	if (!r && blen)
		r = s->ops->write(o, b, blen, err);
	if (r < 0) {
		s->ops->abort(o);
		return r;
	}
	return s->ops->commit(o, err);
}
