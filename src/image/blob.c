/* SPDX-License-Identifier: Apache-2.0 */
/* The blob store (blob.h): contents written and read in checksummed chunks, holes kept. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/hash.h"
#include "common/util.h"
#include "image/blob.h"

/* ---------------------------------------------------------------- writing */

/* Walks the data of a file: chunks of at most BLOB_CHUNK bytes, holes skipped. */
struct data_walk {
	int fd;
	uint64_t size, at, ext_end;	/* the current data extent ends at ext_end */
};

/* Moves the walk to the next data extent at or after w->at (to w->size if none). */
static int next_extent(struct data_walk *w)
{
	off_t d = lseek(w->fd, (off_t)w->at, SEEK_DATA), h = (off_t)w->size;
	if (d < 0 && errno == EINVAL)	/* no SEEK_DATA here: all of it is data */
		d = (off_t)w->at;
	else if (d < 0 && errno == ENXIO)	/* nothing but a hole up to the end */
		d = (off_t)w->size;
	else if (d < 0)
		return -errno;
	else if ((uint64_t)d < w->size && (h = lseek(w->fd, d, SEEK_HOLE)) < 0)
		return -errno;
	w->at = (uint64_t)d < w->size ? (uint64_t)d : w->size;
	w->ext_end = (uint64_t)h < w->size ? (uint64_t)h : w->size;
	return 0;
}

/* The next chunk in *off, *len: 1, or 0 at the end, or -errno. */
static int next_chunk(struct data_walk *w, uint64_t *off, uint32_t *len)
{
	if (w->at >= w->ext_end && w->at < w->size) {
		int r = next_extent(w);
		if (r < 0)
			return r;
	}
	if (w->at >= w->size || w->at >= w->ext_end)
		return 0;
	uint64_t n = w->ext_end - w->at;
	*off = w->at;
	*len = (uint32_t)(n < BLOB_CHUNK ? n : BLOB_CHUNK);
	w->at += *len;
	return 1;
}

struct blob_out {
	struct img_sink *sink;
	struct img_out *o;
	uint8_t *buf;
	uint64_t nchunks, data;
};

/* Pass 1 counts (o->buf NULL); pass 2 reads, sums and writes every chunk. */
static int walk(struct blob_out *b, int fd, uint64_t size, const char *what, struct ferry_err *err)
{
	struct data_walk w = { .fd = fd, .size = size };
	uint64_t off;
	uint32_t len;
	int r;
	b->nchunks = b->data = 0;
	while ((r = next_chunk(&w, &off, &len)) > 0) {
		b->nchunks++;
		b->data += len;
		if (!b->buf)
			continue;
		if ((r = pread_full(fd, b->buf, len, (off_t)off)) < 0)
			return fe_set(err, r, "%s: read %u bytes at %llu", what, len, (unsigned long long)off);
		struct blob_chunk ch = { .offset = off, .len = len, .xxh3 = XXH3_64bits_withSeed(b->buf, len, off) };
		if ((r = b->sink->ops->write(b->o, &ch, sizeof(ch), err)) < 0 ||
		    (r = b->sink->ops->write(b->o, b->buf, len, err)) < 0)
			return r;
	}
	return r < 0 ? fe_set(err, r, "%s: find its data (SEEK_DATA)", what) : 0;
}

/* The image header and blob header, for nchunks chunks holding data bytes. */
static int write_headers(struct blob_out *b, uint32_t id, uint64_t size, struct ferry_err *err)
{
	struct img_hdr h;
	struct img_ident ident;
	char name[64];
	struct blob_hdr bh = { .magic = BLOB_MAGIC, .version = BLOB_VERSION, .hdr_size = sizeof(bh),
			       .chunk_max = BLOB_CHUNK, .size = size, .nchunks = b->nchunks };
	uint64_t plen = sizeof(bh) + b->nchunks * sizeof(struct blob_chunk) + b->data;
	memcpy(ident.id, b->sink->ident, IMG_ID_LEN);
	img_hdr_init(&h, IMG_GHOST, (int)id, &ident, NULL, plen, 0);
	img_name(name, sizeof(name), IMG_GHOST, (int)id);
	int r = b->sink->ops->begin(b->sink, name, sizeof(h) + plen, &b->o, err);
	if (r < 0)
		return r;
	if ((r = b->sink->ops->write(b->o, &h, sizeof(h), err)) < 0 ||
	    (r = b->sink->ops->write(b->o, &bh, sizeof(bh), err)) < 0) {
		b->sink->ops->abort(b->o);
		b->o = NULL;
	}
	return r;
}

int blob_write(struct img_sink *sink, uint32_t id, int fd, uint64_t size, const char *what, struct ferry_err *err)
{
	if (size > BLOB_MAX_SIZE)
		return fe_msg(err, EFBIG, "%s holds %llu bytes, more than the %llu GiB an image carries", what,
			      (unsigned long long)size, (unsigned long long)(BLOB_MAX_SIZE >> 30));
	struct blob_out b = { .sink = sink };
	int r = walk(&b, fd, size, what, err);	/* no buffer: counts the chunks and their bytes */
	if (r < 0)
		return r;
	uint64_t nchunks = b.nchunks, data = b.data;
	if (!(b.buf = malloc(BLOB_CHUNK)))
		return fe_set(err, ENOMEM, "%s", what);
	if ((r = write_headers(&b, id, size, err)) == 0 && (r = walk(&b, fd, size, what, err)) == 0 &&
	    (b.nchunks != nchunks || b.data != data))
		r = fe_msg(err, EIO, "%s changed while it was dumped", what);
	free(b.buf);
	if (r < 0) {
		if (b.o)
			sink->ops->abort(b.o);
		return r;
	}
	return sink->ops->commit(b.o, err);
}

/* ---------------------------------------------------------------- reading */

enum rstate { R_IMG, R_BLOB, R_CHUNK, R_DATA, R_DONE };

struct blob_reader {
	char name[64];
	uint32_t id;
	struct img_ident ident;
	uint64_t want;
	blob_put_fn put;
	void *arg;
	enum rstate st;
	uint8_t hbuf[sizeof(struct img_hdr)];	/* the fixed-size header being gathered */
	size_t hfill;
	struct img_hdr h;
	struct blob_hdr bh;
	struct blob_chunk ch;
	uint8_t *data;
	size_t dfill, dcap;
	uint64_t chunks, next_off;
	uint64_t got;		/* bytes of the file fed so far */
};

int blob_reader_new(const char *name, uint32_t id, const struct img_ident *ident, uint64_t size, blob_put_fn put,
		    void *arg, struct blob_reader **out, struct ferry_err *err)
{
	struct blob_reader *br = calloc(1, sizeof(*br));
	if (!br)
		return fe_set(err, ENOMEM, "read %s", name);
	snprintf(br->name, sizeof(br->name), "%s", name);
	br->id = id;
	if (ident)
		br->ident = *ident;
	br->want = size;
	br->put = put;
	br->arg = arg;
	*out = br;
	return 0;
}

void blob_reader_free(struct blob_reader *br)
{
	if (br)
		free(br->data);
	free(br);
}

static int on_img_hdr(struct blob_reader *br, struct ferry_err *err)
{
	memcpy(&br->h, br->hbuf, sizeof(br->h));
	int r = img_check_hdr(&br->h, sizeof(br->h) + br->h.payload_len, IMG_GHOST, br->name, err);
	if (r == 0 && br->h.flags)
		r = fe_msg(err, EBADMSG, "%s: encoded where a plain file was expected", br->name);
	if (r == 0)
		r = img_check_owner(&br->h, (int)br->id, &br->ident, br->name, err);
	if (r == 0 && br->h.payload_len < sizeof(struct blob_hdr))
		r = fe_msg(err, EBADMSG, "%s: truncated image (no blob header)", br->name);
	br->st = R_BLOB;
	return r;
}

static int on_blob_hdr(struct blob_reader *br, struct ferry_err *err)
{
	const struct blob_hdr *b = &br->bh;
	memcpy(&br->bh, br->hbuf, sizeof(br->bh));
	uint64_t room = br->h.payload_len - sizeof(*b);
	if (b->magic != BLOB_MAGIC || b->version != BLOB_VERSION || b->hdr_size != sizeof(*b) || b->reserved ||
	    b->chunk_max < 4096 || b->chunk_max > BLOB_CHUNK_MAX || b->size > BLOB_MAX_SIZE ||
	    b->nchunks > room / sizeof(struct blob_chunk) || room - b->nchunks * sizeof(struct blob_chunk) > b->size)
		return fe_msg(err, EBADMSG, "%s: malformed blob header", br->name);
	if (br->want != UINT64_MAX && b->size != br->want)
		return fe_msg(err, EBADMSG, "%s: holds %llu bytes where the image says %llu", br->name,
			      (unsigned long long)b->size, (unsigned long long)br->want);
	br->st = b->nchunks ? R_CHUNK : R_DONE;
	return 0;
}

static int on_chunk_hdr(struct blob_reader *br, struct ferry_err *err)
{
	struct blob_chunk *c = &br->ch;
	memcpy(c, br->hbuf, sizeof(*c));
	if (c->reserved || c->len == 0 || c->len > br->bh.chunk_max || c->offset < br->next_off ||
	    c->offset > br->bh.size || c->len > br->bh.size - c->offset)
		return fe_msg(err, EBADMSG, "%s: chunk %llu has a malformed header", br->name,
			      (unsigned long long)br->chunks);
	if (c->len > br->dcap) {
		uint8_t *p = realloc(br->data, c->len);
		if (!p)
			return fe_set(err, ENOMEM, "read %s", br->name);
		br->data = p;
		br->dcap = c->len;
	}
	br->dfill = 0;
	br->st = R_DATA;
	return 0;
}

static int on_data(struct blob_reader *br, struct ferry_err *err)
{
	const struct blob_chunk *c = &br->ch;
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	if (XXH3_64bits_withSeed(br->data, c->len, c->offset) != c->xxh3)
		return fe_msg(err, EBADMSG, "%s: chunk %llu (%u bytes at %llu) fails its checksum: the content is corrupt",
			      br->name, (unsigned long long)br->chunks, c->len, (unsigned long long)c->offset);
#endif
	int r = br->put ? br->put(br->arg, c->offset, br->data, c->len, err) : 0;
	br->next_off = c->offset + c->len;
	br->st = ++br->chunks == br->bh.nchunks ? R_DONE : R_CHUNK;
	return r;
}

static size_t hdr_size(enum rstate st)
{
	return st == R_IMG ? sizeof(struct img_hdr) : st == R_BLOB ? sizeof(struct blob_hdr) : sizeof(struct blob_chunk);
}

int blob_reader_feed(void *arg, const void *buf, size_t len, struct ferry_err *err)
{
	struct blob_reader *br = arg;
	const uint8_t *p = buf;
	br->got += len;
	while (len) {
		int r = 0;
		size_t n;
		if (br->st == R_DONE)
			return fe_msg(err, EBADMSG, "%s: trailing garbage after the last chunk", br->name);
		if (br->st == R_DATA) {
			n = br->ch.len - br->dfill < len ? br->ch.len - br->dfill : len;
			memcpy(br->data + br->dfill, p, n);
			if ((br->dfill += n) == br->ch.len)
				r = on_data(br, err);
		} else {
			size_t need = hdr_size(br->st);
			n = need - br->hfill < len ? need - br->hfill : len;
			memcpy(br->hbuf + br->hfill, p, n);
			if ((br->hfill += n) == need) {
				br->hfill = 0;
				r = br->st == R_IMG ? on_img_hdr(br, err) : br->st == R_BLOB ? on_blob_hdr(br, err)
											: on_chunk_hdr(br, err);
			}
		}
		if (r < 0)
			return r;
		p += n;
		len -= n;
	}
	return 0;
}

int blob_reader_end(struct blob_reader *br, uint64_t *size_out, struct ferry_err *err)
{
	if (br->st != R_DONE)
		return fe_msg(err, EBADMSG, "%s: truncated image (%llu of %llu chunks)", br->name,
			      (unsigned long long)br->chunks, (unsigned long long)br->bh.nchunks);
	if (br->got != sizeof(br->h) + br->h.payload_len)
		return fe_msg(err, EBADMSG, "%s: %llu bytes where the header says %llu", br->name,
			      (unsigned long long)br->got, (unsigned long long)(sizeof(br->h) + br->h.payload_len));
	if (size_out)
		*size_out = br->bh.size;
	return 0;
}

int blob_read(struct img_src *src, uint32_t id, uint64_t size, blob_put_fn put, void *arg, uint64_t *size_out,
	      struct ferry_err *err)
{
	char name[64];
	struct blob_reader *br;
	img_name(name, sizeof(name), IMG_GHOST, (int)id);
	int r = blob_reader_new(name, id, &src->ident, size, put, arg, &br, err);
	if (r < 0)
		return r;
	r = img_src_stream(src, name, blob_reader_feed, br, err);
	if (r == 0)
		r = blob_reader_end(br, size_out, err);
	blob_reader_free(br);
	return r;
}

int blob_put_fd(void *arg, uint64_t off, const void *data, size_t len, struct ferry_err *err)
{
	int r = pwrite_full(*(const int *)arg, data, len, (off_t)off);
	return r < 0 ? fe_set(err, r, "write %zu bytes at %llu", len, (unsigned long long)off) : 0;
}

int blob_put_mem(void *arg, uint64_t off, const void *data, size_t len, struct ferry_err *err)
{
	memcpy((uint8_t *)arg + off, data, len);
	return 0;
}
