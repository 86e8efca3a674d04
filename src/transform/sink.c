/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The encoding sink: wraps the dump's sink and encodes each file as it is written, in one pass:
 * plain bytes gather into 1 MiB chunks, each chunk is compressed and/or encrypted and written
 * through to the inner sink under the file's own name. Files with nothing to do pass through.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "transform/codec.h"
#include "transform/transform.h"

struct tf_sink {
	struct img_sink pub;		/* what the dump sees */
	struct img_sink *inner;
	uint32_t compress_flag;		/* TF_FLAG_ZSTD, TF_FLAG_LZ4 or 0 */
	int encrypt;
	struct tf_key key;
};

struct img_out {
	struct tf_sink *s;
	struct img_out *inner;
	struct tf_enc *enc;		/* NULL: the file passes through */
	uint8_t *buf;			/* plain bytes of the chunk being gathered */
	size_t fill;
	int started;
	char name[256];
};

static struct tf_sink *tf_of(struct img_sink *s)
{
	return s->priv;
}

/* Which encoding a file gets: page data and file contents are compressed, everything encrypted. */
static uint32_t flags_for(const struct tf_sink *s, const char *name)
{
	const struct img_kind_desc *k = img_kind_by_name(name);
	uint32_t f = s->encrypt ? TF_FLAG_AES256GCM : 0;
	if (k && (k->kind == IMG_PAGES || k->kind == IMG_GHOST))
		f |= s->compress_flag;
	return f;
}

static void out_free(struct img_out *o)
{
	tf_enc_free(o->enc);
	free(o->buf);
	free(o);
}

static int tf_begin(struct img_sink *sink, const char *name, uint64_t size, struct img_out **out, struct ferry_err *err)
{
	struct tf_sink *s = tf_of(sink);
	uint32_t flags = flags_for(s, name);
	struct img_out *o = calloc(1, sizeof(*o));
	if (!o)
		return fe_set(err, ENOMEM, "image %s", name);
	o->s = s;
	snprintf(o->name, sizeof(o->name), "%s", name);
	int r = 0;
	if (flags) {
		if (!(o->buf = malloc(TF_CHUNK_SIZE)))
			r = fe_set(err, ENOMEM, "image %s", name);
		if (!r)
			r = tf_enc_new(flags, &s->key, s->pub.ident, name, &o->enc, err);	/* its first 8 bytes */
		size = 0;	/* the encoded size is not known in advance */
	}
	if (!r)
		r = s->inner->ops->begin(s->inner, name, size, &o->inner, err);
	if (r < 0) {
		out_free(o);
		return r;
	}
	*out = o;
	return 0;
}

static int emit_inner(void *arg, const void *buf, size_t len, struct ferry_err *err)
{
	struct img_out *o = arg;
	return o->s->inner->ops->write(o->inner, buf, len, err);
}

static int start(struct img_out *o, struct ferry_err *err)
{
	struct img_hdr h;
	memcpy(&h, o->buf, sizeof(h));
	if (h.magic != FERRY_IMG_MAGIC || h.flags)
		return fe_msg(err, EINVAL, "%s: not a plain image file, cannot encode it", o->name);
	o->started = 1;
	return tf_enc_start(o->enc, &h, emit_inner, o, err);
}

static int tf_write(struct img_out *o, const void *buf, size_t len, struct ferry_err *err)
{
	if (!o->enc)
		return o->s->inner->ops->write(o->inner, buf, len, err);
	const uint8_t *p = buf;
	while (len) {
		int r;
		if (o->fill == TF_CHUNK_SIZE) {
			if ((r = tf_enc_chunk(o->enc, o->buf, o->fill, 0, emit_inner, o, err)) < 0)
				return r;
			o->fill = 0;
		}
		size_t n = TF_CHUNK_SIZE - o->fill < len ? TF_CHUNK_SIZE - o->fill : len;
		memcpy(o->buf + o->fill, p, n);
		o->fill += n;
		p += n;
		len -= n;
		if (!o->started && o->fill >= sizeof(struct img_hdr) && (r = start(o, err)) < 0)
			return r;
	}
	return 0;
}

static void tf_abort(struct img_out *o)
{
	o->s->inner->ops->abort(o->inner);
	out_free(o);
}

static int tf_commit(struct img_out *o, struct ferry_err *err)
{
	int r = 0;
	if (o->enc && !o->started)
		r = fe_msg(err, EINVAL, "%s: shorter than an image header, cannot encode it", o->name);
	else if (o->enc)
		r = tf_enc_chunk(o->enc, o->buf, o->fill, 1, emit_inner, o, err);
	if (r < 0) {
		tf_abort(o);
		return r;
	}
	r = o->s->inner->ops->commit(o->inner, err);
	out_free(o);
	return r;
}

static int tf_close(struct img_sink *sink, int ok, struct ferry_err *err)
{
	struct tf_sink *s = tf_of(sink);
	tf_key_wipe(&s->key);
	free(s);
	return 0;
}

static void tf_remove(struct img_sink *sink, const char *name)
{
	struct tf_sink *s = tf_of(sink);
	s->inner->ops->remove(s->inner, name);
}

static int tf_sync(struct img_sink *sink, struct ferry_err *err)
{
	return img_sink_sync(tf_of(sink)->inner, err);
}

static const struct img_sink_ops tf_ops = {
	.begin = tf_begin, .write = tf_write, .commit = tf_commit, .abort = tf_abort,
	.close = tf_close, .remove = tf_remove, .sync = tf_sync,
};

int transform_sink_wrap(struct img_sink *inner, const struct transform_opts *o, struct img_sink **out,
			struct ferry_err *err)
{
	struct tf_sink *s = calloc(1, sizeof(*s));
	if (!s)
		return fe_set(err, ENOMEM, "encoding sink");
	s->inner = inner;
	s->compress_flag = o->compress == COMPRESS_ZSTD ? TF_FLAG_ZSTD : o->compress == COMPRESS_LZ4 ? TF_FLAG_LZ4 : 0;
	int r = 0;
	if (o->key_file) {
		s->encrypt = 1;
		r = tf_key_load(o->key_file, &s->key, err);
	}
	if (r < 0) {
		tf_key_wipe(&s->key);
		free(s);
		return r;
	}
	s->pub.ops = &tf_ops;
	s->pub.dirfd = inner->dirfd;
	memcpy(s->pub.ident, inner->ident, sizeof(s->pub.ident));
	s->pub.priv = s;
	*out = &s->pub;
	return 0;
}
