/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tee sink (sink.h): every file goes to the primary sink, and those the filter keeps also to
 * a mirror. A dump to a page server mirrors its metadata (everything but page data) into its
 * local image directory, where the next dump of an incremental chain finds which pages its
 * parent holds (engine/chain.c) without asking the server.
 */
#include <errno.h>
#include <stdlib.h>
#include "image/sink.h"

struct img_out {
	struct img_tee *t;
	struct img_out *p, *m;	/* m: NULL when the file is not mirrored */
};

static int tee_begin(struct img_sink *s, const char *name, uint64_t size, struct img_out **out, struct ferry_err *err)
{
	struct img_tee *t = s->priv;
	struct img_out *o = calloc(1, sizeof(*o));
	if (!o)
		return fe_set(err, ENOMEM, "image %s", name);
	o->t = t;
	int r = t->primary->ops->begin(t->primary, name, size, &o->p, err);
	if (r == 0 && t->mirrored(name) && (r = t->mirror->ops->begin(t->mirror, name, size, &o->m, err)) < 0)
		t->primary->ops->abort(o->p);
	if (r < 0) {
		free(o);
		return r;
	}
	*out = o;
	return 0;
}

static int tee_write(struct img_out *o, const void *buf, size_t len, struct ferry_err *err)
{
	int r = o->t->primary->ops->write(o->p, buf, len, err);
	return r == 0 && o->m ? o->t->mirror->ops->write(o->m, buf, len, err) : r;
}

static void tee_abort(struct img_out *o)
{
	o->t->primary->ops->abort(o->p);
	if (o->m)
		o->t->mirror->ops->abort(o->m);
	free(o);
}

/* The mirror first: a primary committed without its mirror would break the next dump's chain. */
static int tee_commit(struct img_out *o, struct ferry_err *err)
{
	struct img_tee *t = o->t;
	int r = o->m ? t->mirror->ops->commit(o->m, err) : 0;
	o->m = NULL;
	if (r < 0) {
		tee_abort(o);
		return r;
	}
	r = t->primary->ops->commit(o->p, err);
	free(o);
	return r;
}

static int tee_close(struct img_sink *s, int ok, struct ferry_err *err)
{
	struct img_tee *t = s->priv;
	struct ferry_err e2 = { 0 };
	int r = t->primary->ops->close(t->primary, ok, err);
	int rm = t->mirror->ops->close(t->mirror, ok, r < 0 ? &e2 : err);
	return r < 0 ? r : rm;
}

static void tee_remove(struct img_sink *s, const char *name)
{
	struct img_tee *t = s->priv;
	t->primary->ops->remove(t->primary, name);
	t->mirror->ops->remove(t->mirror, name);
}

static int tee_sync(struct img_sink *s, struct ferry_err *err)
{
	struct img_tee *t = s->priv;
	int r = img_sink_sync(t->primary, err);
	return r < 0 ? r : img_sink_sync(t->mirror, err);
}

static const struct img_sink_ops tee_ops = {
	.begin = tee_begin, .write = tee_write, .commit = tee_commit, .abort = tee_abort,
	.close = tee_close, .remove = tee_remove, .sync = tee_sync,
};

void img_sink_tee(struct img_sink *s, struct img_tee *t)
{
	*s = (struct img_sink){ .ops = &tee_ops, .dirfd = -1, .priv = t };
}
