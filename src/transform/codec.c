/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chunks: compression (zstd, LZ4), encryption (AES-256-GCM: the nonce is the chunk index under a
 * per-file key derived from a random salt; the additional data binds the image header, the
 * encoding header, the chunk header and the file name) or, without encryption, an XXH3-128 tag.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <lz4.h>
#include <zstd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "common/hash.h"
#include "image/pagestore.h"
#include "transform/codec.h"

#define ZSTD_LEVEL 1

struct tf_enc {
	uint32_t flags;
	struct img_hdr outer;
	struct tf_hdr th;
	uint8_t ckey[TF_KEY_LEN];
	EVP_CIPHER_CTX *evp;
	ZSTD_CCtx *zc;
	uint8_t *zbuf, *ebuf;	/* compressed, encrypted chunk */
	size_t cap;
	uint32_t index;
	char name[256];
};

/* Room for a stored chunk of a plain chunk of n bytes, whatever the algorithm. */
static size_t stored_bound(size_t n)
{
	size_t z = ZSTD_compressBound(n), l = (size_t)LZ4_compressBound((int)n);
	return z > l ? z : l;
}

static void nonce_of(uint32_t index, uint8_t nonce[12])
{
	memset(nonce, 0, 12);
	memcpy(nonce + 8, &index, sizeof(index));
}

/* Additional authenticated data: image header, encoding header, chunk header, file name. */
static int aad_feed(EVP_CIPHER_CTX *c, int enc, const struct img_hdr *outer, const struct tf_hdr *th,
		    const struct tf_chunk *ch, const char *name)
{
	int n;
	int (*upd)(EVP_CIPHER_CTX *, unsigned char *, int *, const unsigned char *, int) =
		enc ? EVP_EncryptUpdate : EVP_DecryptUpdate;
	return upd(c, NULL, &n, (const uint8_t *)outer, sizeof(*outer)) > 0 &&
	       upd(c, NULL, &n, (const uint8_t *)th, sizeof(*th)) > 0 &&
	       upd(c, NULL, &n, (const uint8_t *)ch, sizeof(*ch)) > 0 &&
	       upd(c, NULL, &n, (const uint8_t *)name, (int)strlen(name)) > 0 ? 0 : -1;
}

static void xxh_tag(const struct tf_chunk *ch, const uint8_t *data, size_t len, uint8_t tag[TF_TAG_LEN])
{
	XXH128_hash_t h = XXH3_128bits_withSeed(data, len, XXH3_64bits(ch, sizeof(*ch)));
	XXH128_canonicalFromHash((XXH128_canonical_t *)tag, h);
}

int tf_enc_new(uint32_t flags, const struct tf_key *key, const uint8_t image_id[TF_ID_LEN], const char *name,
	       struct tf_enc **out, struct ferry_err *err)
{
	struct tf_enc *e = calloc(1, sizeof(*e));
	if (!e)
		return fe_set(err, ENOMEM, "encoder for %s", name);
	e->flags = flags;
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->th = (struct tf_hdr){ .magic = TF_MAGIC, .version = TF_VERSION, .hdr_size = sizeof(struct tf_hdr),
				 .chunk_size = TF_CHUNK_SIZE, .flags = flags };
	memcpy(e->th.image_id, image_id, TF_ID_LEN);
	e->cap = stored_bound(TF_CHUNK_SIZE);
	e->zbuf = malloc(e->cap);
	e->ebuf = malloc(e->cap);
	int r = e->zbuf && e->ebuf ? 0 : fe_set(err, ENOMEM, "encoder for %s", name);
	if (!r && (flags & TF_FLAG_ZSTD) && !(e->zc = ZSTD_createCCtx()))
		r = fe_set(err, ENOMEM, "zstd context for %s", name);
	if (!r && (flags & TF_FLAG_AES256GCM)) {
		memcpy(e->th.key_id, key->id, TF_ID_LEN);
		if (getrandom(e->th.salt, TF_SALT_LEN, 0) != TF_SALT_LEN)
			r = fe_set(err, errno ? errno : EIO, "random salt for %s", name);
		else if ((r = tf_key_derive(key, e->th.salt, e->ckey, err)) == 0 && !(e->evp = EVP_CIPHER_CTX_new()))
			r = fe_set(err, ENOMEM, "cipher context for %s", name);
	}
	if (r < 0) {
		tf_enc_free(e);
		return r;
	}
	*out = e;
	return 0;
}

void tf_enc_free(struct tf_enc *e)
{
	if (!e)
		return;
	EVP_CIPHER_CTX_free(e->evp);
	ZSTD_freeCCtx(e->zc);
	free(e->zbuf);
	free(e->ebuf);
	OPENSSL_cleanse(e->ckey, sizeof(e->ckey));
	free(e);
}

int tf_enc_start(struct tf_enc *e, const struct img_hdr *plain_hdr, tf_emit_fn emit, void *arg,
		 struct ferry_err *err)
{
	e->outer = *plain_hdr;
	e->outer.flags = e->flags;
	if (e->flags & TF_FLAG_AES256GCM)
		e->outer.payload_xxh3 = 0;	/* a checksum of the plaintext would let one confirm guesses */
	img_hdr_seal(&e->outer);
	int r = emit(arg, &e->outer, sizeof(e->outer), err);
	return r < 0 ? r : emit(arg, &e->th, sizeof(e->th), err);
}

/* Compresses plain into e->zbuf; returns the compressed size, or 0 to store it raw. */
static size_t compress_chunk(struct tf_enc *e, const uint8_t *plain, size_t len)
{
	size_t n = 0;
	if (e->flags & TF_FLAG_ZSTD) {
		n = ZSTD_compressCCtx(e->zc, e->zbuf, e->cap, plain, len, ZSTD_LEVEL);
		if (ZSTD_isError(n))
			n = 0;
	} else if (e->flags & TF_FLAG_LZ4) {
		int k = LZ4_compress_default((const char *)plain, (char *)e->zbuf, (int)len, (int)e->cap);
		n = k > 0 ? (size_t)k : 0;
	}
	return n < len ? n : 0;
}

static int encrypt_chunk(struct tf_enc *e, const struct tf_chunk *ch, const uint8_t *in, uint8_t tag[TF_TAG_LEN],
			 struct ferry_err *err)
{
	uint8_t nonce[12];
	int n = 0, fin = 0;
	nonce_of(ch->index, nonce);
	if (EVP_EncryptInit_ex(e->evp, EVP_aes_256_gcm(), NULL, e->ckey, nonce) <= 0 ||
	    aad_feed(e->evp, 1, &e->outer, &e->th, ch, e->name) < 0 ||
	    (ch->stored_len && EVP_EncryptUpdate(e->evp, e->ebuf, &n, in, (int)ch->stored_len) <= 0) ||
	    EVP_EncryptFinal_ex(e->evp, e->ebuf + n, &fin) <= 0 ||
	    EVP_CIPHER_CTX_ctrl(e->evp, EVP_CTRL_GCM_GET_TAG, TF_TAG_LEN, tag) <= 0)
		return fe_msg(err, EIO, "%s: encryption of chunk %u failed (OpenSSL)", e->name, ch->index);
	return 0;
}

int tf_enc_set_chunk_size(struct tf_enc *e, uint32_t size)
{
	if (size < TF_CHUNK_MIN || size > TF_CHUNK_SIZE)
		return -EINVAL;
	e->th.chunk_size = size;
	return 0;
}

int tf_enc_chunk(struct tf_enc *e, const uint8_t *plain, size_t len, int last, tf_emit_fn emit, void *arg,
		 struct ferry_err *err)
{
	if (len > e->th.chunk_size || (!last && len != e->th.chunk_size))
		return fe_msg(err, EINVAL, "%s: chunk of %zu bytes", e->name, len);
	struct tf_chunk ch = { .index = e->index++, .cflags = last ? TF_CHUNK_LAST : 0, .plain_len = (uint32_t)len };
	size_t zn = (e->flags & TF_FLAGS_COMPRESS) ? compress_chunk(e, plain, len) : 0;
	const uint8_t *stored = zn ? e->zbuf : plain;
	ch.stored_len = (uint32_t)(zn ? zn : len);
	if (!zn)
		ch.cflags |= TF_CHUNK_RAW;
	uint8_t tag[TF_TAG_LEN];
	int r;
	if (e->flags & TF_FLAG_AES256GCM) {
		if ((r = encrypt_chunk(e, &ch, stored, tag, err)) < 0)
			return r;
		stored = e->ebuf;
	} else {
		xxh_tag(&ch, stored, ch.stored_len, tag);
	}
	if ((r = emit(arg, &ch, sizeof(ch), err)) < 0 || (ch.stored_len && (r = emit(arg, stored, ch.stored_len, err)) < 0))
		return r;
	return emit(arg, tag, sizeof(tag), err);
}

/* ---------------------------------------------------------------- decoding */

struct tf_dec {
	const char *name;
	const struct img_hdr *outer;
	const struct tf_hdr *th;
	uint8_t ckey[TF_KEY_LEN];
	EVP_CIPHER_CTX *evp;
	ZSTD_DCtx *zd;
	uint8_t *sbuf, *pbuf;	/* decrypted stored bytes, decompressed plain bytes */
	size_t scap;
};

static int check_headers(const uint8_t *buf, size_t len, const char *name, struct ferry_err *err)
{
	const struct img_hdr *h = (const void *)buf;
	const struct tf_hdr *th = (const void *)(buf + sizeof(*h));
	if (len < sizeof(*h) + sizeof(*th))
		return fe_msg(err, EBADMSG, "%s: truncated encoded image (%zu bytes)", name, len);
	int r = img_check_hdr(h, len, 0, name, err);
	if (r < 0)
		return r;
	if (!h->flags || h->flags & ~TF_FLAGS_KNOWN || (h->flags & TF_FLAGS_COMPRESS) == TF_FLAGS_COMPRESS)
		return fe_msg(err, EBADMSG, "%s: unknown encoding (flags %#x)", name, h->flags);
	if (th->magic != TF_MAGIC || th->version != TF_VERSION || th->hdr_size != sizeof(*th) ||
	    th->flags != h->flags || th->chunk_size < TF_CHUNK_MIN || th->chunk_size > TF_CHUNK_MAX)
		return fe_msg(err, EBADMSG, "%s: malformed encoding header", name);
	return 0;
}

static int hex8(const uint8_t *id, char *out)
{
	for (int i = 0; i < TF_ID_LEN; i++)
		sprintf(out + 2 * i, "%02x", id[i]);
	return 0;
}

static int dec_init(struct tf_dec *d, const struct tf_key *key, struct ferry_err *err)
{
	uint32_t f = d->th->flags;
	d->scap = stored_bound(d->th->chunk_size);
	d->sbuf = malloc(d->scap);
	d->pbuf = malloc(d->th->chunk_size);
	if (!d->sbuf || !d->pbuf)
		return fe_set(err, ENOMEM, "%s: decoder", d->name);
	if ((f & TF_FLAG_ZSTD) && !(d->zd = ZSTD_createDCtx()))
		return fe_set(err, ENOMEM, "%s: zstd context", d->name);
	if (!(f & TF_FLAG_AES256GCM))
		return 0;
	if (!key)
		return fe_msg(err, EACCES, "%s is encrypted: give its key (--encrypt-key FILE)", d->name);
	if (CRYPTO_memcmp(key->id, d->th->key_id, TF_ID_LEN)) {
		char want[20], have[20];
		hex8(d->th->key_id, want);
		hex8(key->id, have);
		return fe_msg(err, EACCES, "%s: wrong key (the file was encrypted with key id %s, the key given has id %s)",
			      d->name, want, have);
	}
	int r = tf_key_derive(key, d->th->salt, d->ckey, err);
	if (!r && !(d->evp = EVP_CIPHER_CTX_new()))
		r = fe_set(err, ENOMEM, "%s: cipher context", d->name);
	return r;
}

static void dec_free(struct tf_dec *d)
{
	EVP_CIPHER_CTX_free(d->evp);
	ZSTD_freeDCtx(d->zd);
	free(d->sbuf);
	free(d->pbuf);
	OPENSSL_cleanse(d->ckey, sizeof(d->ckey));
}

/* Authenticates (and decrypts into sbuf) one chunk's stored bytes; *out points at them. */
static int dec_verify(struct tf_dec *d, const struct tf_chunk *ch, const uint8_t *in, const uint8_t *tag,
		      const uint8_t **out, struct ferry_err *err)
{
	if (!d->evp) {
		uint8_t want[TF_TAG_LEN];
		xxh_tag(ch, in, ch->stored_len, want);
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
		if (memcmp(want, tag, TF_TAG_LEN))
			return fe_msg(err, EBADMSG, "%s: chunk %u fails its checksum: the file is corrupt", d->name, ch->index);
#endif
		*out = in;
		return 0;
	}
	uint8_t nonce[12];
	int n = 0, fin = 0;
	nonce_of(ch->index, nonce);
	if (EVP_DecryptInit_ex(d->evp, EVP_aes_256_gcm(), NULL, d->ckey, nonce) <= 0 ||
	    aad_feed(d->evp, 0, d->outer, d->th, ch, d->name) < 0 ||
	    (ch->stored_len && EVP_DecryptUpdate(d->evp, d->sbuf, &n, in, (int)ch->stored_len) <= 0) ||
	    EVP_CIPHER_CTX_ctrl(d->evp, EVP_CTRL_GCM_SET_TAG, TF_TAG_LEN, (void *)tag) <= 0 ||
	    EVP_DecryptFinal_ex(d->evp, d->sbuf + n, &fin) <= 0)
		return fe_msg(err, EBADMSG, "%s: chunk %u fails authentication: the file was modified, is corrupt "
			      "or belongs elsewhere", d->name, ch->index);
	*out = d->sbuf;
	return 0;
}

static int dec_inflate(struct tf_dec *d, const struct tf_chunk *ch, const uint8_t *in, const uint8_t **out,
		       struct ferry_err *err)
{
	if (ch->cflags & TF_CHUNK_RAW) {
		*out = in;
		return 0;
	}
	size_t n;
	if (d->th->flags & TF_FLAG_ZSTD) {
		n = ZSTD_decompressDCtx(d->zd, d->pbuf, d->th->chunk_size, in, ch->stored_len);
		if (ZSTD_isError(n))
			n = SIZE_MAX;
	} else {
		int k = LZ4_decompress_safe((const char *)in, (char *)d->pbuf, (int)ch->stored_len, (int)d->th->chunk_size);
		n = k < 0 ? SIZE_MAX : (size_t)k;
	}
	if (n != ch->plain_len)
		return fe_msg(err, EBADMSG, "%s: chunk %u does not decompress to its %u bytes", d->name, ch->index,
			      ch->plain_len);
	*out = d->pbuf;
	return 0;
}

static int check_chunk(const struct tf_dec *d, const struct tf_chunk *ch, uint32_t index, size_t left,
		       struct ferry_err *err)
{
	int raw = ch->cflags & TF_CHUNK_RAW, last = ch->cflags & TF_CHUNK_LAST;
	if (ch->index != index)
		return fe_msg(err, EBADMSG, "%s: chunk %u found where chunk %u belongs (reordered?)", d->name,
			      ch->index, index);
	if (ch->cflags & ~(TF_CHUNK_RAW | TF_CHUNK_LAST) || ch->plain_len > d->th->chunk_size ||
	    (!last && ch->plain_len != d->th->chunk_size) || ch->stored_len > d->scap ||
	    (raw && ch->stored_len != ch->plain_len) || (!raw && !(d->th->flags & TF_FLAGS_COMPRESS)))
		return fe_msg(err, EBADMSG, "%s: chunk %u has a malformed header", d->name, index);
	if (left < (size_t)ch->stored_len + TF_TAG_LEN)
		return fe_msg(err, EBADMSG, "%s: truncated in chunk %u", d->name, index);
	return 0;
}

/* The plain file's own header (first 32 bytes) must agree with the outer one. */
static int check_plain_hdr(const struct tf_dec *d, const uint8_t *p, size_t n, struct ferry_err *err)
{
	struct img_hdr h;
	if (n < sizeof(h))
		return fe_msg(err, EBADMSG, "%s: the encoded content is shorter than an image header", d->name);
	memcpy(&h, p, sizeof(h));
	const struct img_hdr *o = d->outer;
	if (h.magic != o->magic || h.kind != o->kind || h.major != o->major || h.minor != o->minor || h.flags ||
	    h.payload_len != o->payload_len || (!(o->flags & TF_FLAG_AES256GCM) && h.payload_xxh3 != o->payload_xxh3) ||
	    memcmp(h.image_id, o->image_id, IMG_ID_LEN) || h.owner != o->owner)
		return fe_msg(err, EBADMSG, "%s: the decoded image header does not match the encoded one", d->name);
	return 0;
}

static int dec_chunks(struct tf_dec *d, const uint8_t *buf, size_t len, tf_emit_fn emit, void *arg,
		      uint64_t *total, struct ferry_err *err)
{
	size_t off = sizeof(struct img_hdr) + sizeof(struct tf_hdr);
	for (uint32_t index = 0;; index++) {
		struct tf_chunk ch;
		if (len - off < sizeof(ch))
			return fe_msg(err, EBADMSG, "%s: truncated after %u chunks (the last chunk is missing)", d->name, index);
		memcpy(&ch, buf + off, sizeof(ch));
		off += sizeof(ch);
		int r = check_chunk(d, &ch, index, len - off, err);
		const uint8_t *s = NULL, *p = NULL;
		if (r < 0 || (r = dec_verify(d, &ch, buf + off, buf + off + ch.stored_len, &s, err)) < 0 ||
		    (r = dec_inflate(d, &ch, s, &p, err)) < 0)
			return r;
		off += ch.stored_len + TF_TAG_LEN;
		if (index == 0 && (r = check_plain_hdr(d, p, ch.plain_len, err)) < 0)
			return r;
		if (ch.plain_len && (r = emit(arg, p, ch.plain_len, err)) < 0)
			return r;
		*total += ch.plain_len;
		if (ch.cflags & TF_CHUNK_LAST)
			break;
	}
	if (off != len)
		return fe_msg(err, EBADMSG, "%s: %zu bytes of trailing garbage after the last chunk", d->name, len - off);
	return 0;
}

int tf_decode_buf(const uint8_t *buf, size_t len, const char *name, const struct tf_key *key, tf_emit_fn emit,
		  void *arg, struct tf_info *info, struct ferry_err *err)
{
	int r = check_headers(buf, len, name, err);
	if (r < 0)
		return r;
	struct tf_dec d = { .name = name, .outer = (const void *)buf, .th = (const void *)(buf + sizeof(struct img_hdr)) };
	uint64_t total = 0;
	r = dec_init(&d, key, err);
	if (!r)
		r = dec_chunks(&d, buf, len, emit, arg, &total, err);
	uint64_t want = (d.outer->kind == IMG_PAGES ? PS_HDR_SIZE : sizeof(struct img_hdr)) + d.outer->payload_len;
	if (!r && total != want)
		r = fe_msg(err, EBADMSG, "%s: decodes to %llu bytes, its header wants %llu", name,
			   (unsigned long long)total, (unsigned long long)want);
	if (!r && info) {
		info->flags = d.th->flags;
		memcpy(info->image_id, d.th->image_id, TF_ID_LEN);
		info->plain_size = total;
	}
	dec_free(&d);
	return r;
}
