/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decode-on-read: the decoder an image source (image/source.h) uses for encoded files. Each file
 * is decoded from its mapping chunk by chunk, every chunk verified before its plain bytes are
 * handed on, and nothing is ever written to a file. With a key, every file must be encrypted
 * (a plain file slipped into an encrypted image is refused); without one, encrypted files are
 * refused and compressed ones decoded.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "transform/codec.h"
#include "transform/transform.h"

struct src_key {
	struct tf_key key;
	int have_key;
};

/* Files that are never encoded: the tracking holder's state is local to the dumping host. */
static int never_encoded(const char *name)
{
	return !strcmp(name, "track.img");
}

static int src_plain_ok(void *priv, const char *name, struct ferry_err *err)
{
	const struct src_key *k = priv;
	if (!k->have_key || never_encoded(name))
		return 0;
	return fe_msg(err, EBADMSG, "%s is not encrypted while --encrypt-key was given: refusing it (it may have "
		      "been substituted)", name);
}

static int src_decode(void *priv, int fd, uint64_t size, const char *name, img_emit_fn emit, void *arg,
		      struct ferry_err *err)
{
	const struct src_key *k = priv;
	if (size < sizeof(struct img_hdr) + sizeof(struct tf_hdr))
		return fe_msg(err, EBADMSG, "%s: truncated encoded image (%llu bytes)", name, (unsigned long long)size);
	void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return fe_set(err, errno, "map %s", name);
	madvise(map, size, MADV_SEQUENTIAL);
	const struct img_hdr *h = map;
	int r = 0;
	if (k->have_key && !(h->flags & TF_FLAG_AES256GCM))
		r = src_plain_ok(priv, name, err);
	if (r == 0)
		r = tf_decode_buf(map, size, name, k->have_key ? &k->key : NULL, emit, arg, NULL, err);
	munmap(map, size);
	return r;
}

static void src_free(void *priv)
{
	struct src_key *k = priv;
	tf_key_wipe(&k->key);
	free(k);
}

static const struct img_src_codec tf_src_codec = {
	.decode = src_decode, .plain_ok = src_plain_ok, .free = src_free,
};

int transform_src_attach(struct img_src *s, const char *key_file, struct ferry_err *err)
{
	struct src_key *k = calloc(1, sizeof(*k));
	if (!k)
		return fe_set(err, ENOMEM, "image decoder");
	if (key_file) {
		int r = tf_key_load(key_file, &k->key, err);
		if (r < 0) {
			free(k);
			return r;
		}
		k->have_key = 1;
	}
	if (s->codec_owned && s->codec && s->codec->free)
		s->codec->free(s->codec_priv);
	s->codec = &tf_src_codec;
	s->codec_priv = k;
	s->codec_owned = 1;
	return 0;
}
