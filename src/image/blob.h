/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The blob store: the content of a file that travels in the image (a memfd, a file deleted while
 * open, a SysV segment) as ghost-ID.img, streamed in both directions. The writer reads the file
 * in chunks of at most 1 MiB, data extents only (SEEK_DATA/SEEK_HOLE: holes stay holes), each
 * chunk with its offset and an XXH3-64 of its bytes; the reader checks every chunk before
 * handing it on, and the restore writes it straight into the new object. Nothing holds a whole
 * content in memory, so the one limit is BLOB_MAX_SIZE, checked at dump and at restore.
 *
 * Payload (after the 64-byte image header, whose payload_xxh3 is 0):
 *   blob header, 32 bytes: magic "FBLB", version 1, header size 32, chunk_max, 0, size, nchunks
 *   nchunks times: chunk header, 24 bytes (offset, len, 0, XXH3-64 of the data seeded with the
 *   offset), then len bytes; offsets ascending, chunks apart, within size.
 */
#pragma once
#include <stdint.h>
#include "image/image.h"
#include "image/sink.h"
#include "image/source.h"

#define BLOB_MAGIC 0x424c4246u	/* "FBLB" */
#define BLOB_VERSION 1
#define BLOB_CHUNK (1u << 20)		/* bytes per chunk written by this ferry */
#define BLOB_CHUNK_MAX (16u << 20)	/* a reader refuses larger chunks */
#define BLOB_MAX_SIZE (1ULL << 40)	/* the one limit on a content's (logical) size */

struct blob_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t hdr_size;
	uint32_t chunk_max;
	uint32_t reserved;
	uint64_t size;		/* the content's size, holes included */
	uint64_t nchunks;
} __attribute__((packed));
_Static_assert(sizeof(struct blob_hdr) == 32, "blob header is 32 bytes");

struct blob_chunk {
	uint64_t offset;
	uint32_t len;
	uint32_t reserved;
	uint64_t xxh3;
} __attribute__((packed));
_Static_assert(sizeof(struct blob_chunk) == 24, "blob chunk header is 24 bytes");

/*
 * Writes the first size bytes of the file behind fd (a description of ferry's own: it seeks)
 * through sink as ghost-ID.img, stamped with the sink's identity. what names the content in
 * messages ("memfd /memfd:x", "deleted file /tmp/y"). A content above BLOB_MAX_SIZE, or one that
 * changes while read, is refused (the dump fails before anything is lost).
 */
int blob_write(struct img_sink *sink, uint32_t id, int fd, uint64_t size, const char *what, struct ferry_err *err);

/* Receives each verified chunk: len bytes of the content at off. */
typedef int (*blob_put_fn)(void *arg, uint64_t off, const void *data, size_t len, struct ferry_err *err);

/*
 * Reads ghost-ID.img through src, checking its identity and every chunk before put (may be
 * NULL: verify only) receives it. The content must be size bytes long (UINT64_MAX: any);
 * *size_out (if not NULL) gets its size. Nothing is handed on from a chunk that fails.
 */
int blob_read(struct img_src *src, uint32_t id, uint64_t size, blob_put_fn put, void *arg, uint64_t *size_out,
	      struct ferry_err *err);

/* Puts: pwrite into the file *(int *)arg; memcpy into the mapping at arg (as large as the content). */
int blob_put_fd(void *arg, uint64_t off, const void *data, size_t len, struct ferry_err *err);
int blob_put_mem(void *arg, uint64_t off, const void *data, size_t len, struct ferry_err *err);

/* The parser itself, fed any way the plain file arrives (the fuzzer drives it directly). */
struct blob_reader;
int blob_reader_new(const char *name, uint32_t id, const struct img_ident *ident, uint64_t size, blob_put_fn put,
		    void *arg, struct blob_reader **out, struct ferry_err *err);
int blob_reader_feed(void *br, const void *buf, size_t len, struct ferry_err *err);
/* 0 once the whole file arrived, exactly; the content's size in *size_out. */
int blob_reader_end(struct blob_reader *br, uint64_t *size_out, struct ferry_err *err);
void blob_reader_free(struct blob_reader *br);
