/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The on-disk form of an encoded image file (docs/IMAGES.md, "Encoded files"):
 *
 *   image header (32 bytes, flags != 0)  |  encoding header (64 bytes)  |  chunk 0 | chunk 1 | ...
 *
 * The chunks carry the whole plain file (its own header first) in order; each is a 16-byte chunk
 * header, the stored bytes (compressed or not, encrypted or not) and a 16-byte tag (AES-256-GCM,
 * or XXH3-128 when the file is not encrypted). The last chunk says so. Header-only: show.c uses it.
 */
#pragma once
#include <stdint.h>
#include <stdio.h>

/* img_hdr.flags of an encoded file; a reader refuses any other bit */
#define TF_FLAG_ZSTD 0x1u	/* chunks not marked raw are zstd frames */
#define TF_FLAG_LZ4 0x2u	/* chunks not marked raw are LZ4 blocks */
#define TF_FLAG_AES256GCM 0x10u	/* every chunk is encrypted and authenticated */
#define TF_FLAGS_COMPRESS (TF_FLAG_ZSTD | TF_FLAG_LZ4)
#define TF_FLAGS_KNOWN (TF_FLAGS_COMPRESS | TF_FLAG_AES256GCM)

#define TF_MAGIC 0x434e4546u	/* "FENC" */
#define TF_VERSION 1
#define TF_CHUNK_SIZE (1u << 20)	/* plain bytes per chunk written by this ferry */
#define TF_CHUNK_MIN 4096u
#define TF_CHUNK_MAX (16u << 20)	/* a reader refuses larger chunks */
#define TF_TAG_LEN 16
#define TF_KEY_LEN 32
#define TF_SALT_LEN 32
#define TF_ID_LEN 8

/* chunk flags */
#define TF_CHUNK_LAST 0x1u	/* the file ends with this chunk */
#define TF_CHUNK_RAW 0x2u	/* stored uncompressed (compression did not pay off, or none) */

struct tf_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t hdr_size;		/* sizeof(struct tf_hdr) */
	uint32_t chunk_size;		/* plain bytes in every chunk but the last */
	uint32_t flags;			/* the same as the image header's */
	uint8_t salt[TF_SALT_LEN];	/* per-file random salt of the chunk key (encrypted files) */
	uint8_t key_id[TF_ID_LEN];	/* which key: HKDF(key, "ferry key id v1"); 0 when not encrypted */
	uint8_t image_id[TF_ID_LEN];	/* random per dump: files of different dumps cannot be mixed */
} __attribute__((packed));
_Static_assert(sizeof(struct tf_hdr) == 64, "encoding header is 64 bytes");

struct tf_chunk {
	uint32_t index;		/* 0, 1, 2… — also the GCM nonce */
	uint32_t cflags;	/* TF_CHUNK_* */
	uint32_t plain_len;
	uint32_t stored_len;
} __attribute__((packed));
_Static_assert(sizeof(struct tf_chunk) == 16, "chunk header is 16 bytes");

/* "zstd+aes-256-gcm", "lz4", "aes-256-gcm", or "unknown(0x..)" */
static inline const char *tf_flags_name(uint32_t flags, char *buf, size_t len)
{
	if (flags & ~TF_FLAGS_KNOWN || (flags & TF_FLAGS_COMPRESS) == TF_FLAGS_COMPRESS) {
		snprintf(buf, len, "unknown(%#x)", flags);
		return buf;
	}
	const char *c = flags & TF_FLAG_ZSTD ? "zstd" : flags & TF_FLAG_LZ4 ? "lz4" : "";
	const char *e = flags & TF_FLAG_AES256GCM ? "aes-256-gcm" : "";
	snprintf(buf, len, "%s%s%s", c, *c && *e ? "+" : "", e);
	return buf;
}
