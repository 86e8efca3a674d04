/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image files: a 32-byte header (magic, kind, format version, payload length, XXH3-64 of the
 * payload) followed by the payload — one protobuf-c message, raw bytes (ghost files), or the
 * page-aligned page store. Every reader validates all of it before anything is used.
 */
#pragma once
#include <stdint.h>
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>
#include "ferry.pb-c.h"
#include "common/error.h"
#include "image/sink.h"

#define FERRY_IMG_MAGIC 0x59525246u	/* "FRRY" */
#define FERRY_FORMAT_MAJOR 1
#define FERRY_FORMAT_MINOR 0
#define IMG_MAX_META (256u << 20)	/* a metadata payload larger than this is refused */

enum img_kind {
	IMG_INVENTORY = 1,
	IMG_PSTREE = 2,
	IMG_CORE = 3,
	IMG_MM = 4,
	IMG_FDS = 5,
	IMG_FILES = 6,
	IMG_PAGEMAP = 7,
	IMG_PAGES = 8,
	IMG_GHOST = 9,
	IMG_STATS_DUMP = 10,
	IMG_STATS_RESTORE = 11,
	IMG_SHM = 12,
	IMG_TRACK = 13,
	IMG_KIND_MAX
};

struct img_hdr {
	uint32_t magic;
	uint32_t kind;
	uint16_t major;
	uint16_t minor;
	uint32_t flags;
	uint64_t payload_len;
	uint64_t payload_xxh3;
} __attribute__((packed));
_Static_assert(sizeof(struct img_hdr) == 32, "image header is 32 bytes");

struct img_kind_desc {
	enum img_kind kind;
	const char *name;			/* "core" */
	const char *file_fmt;			/* core-PID.img or inventory.img */
	const ProtobufCMessageDescriptor *desc;	/* NULL for raw payloads */
};

const struct img_kind_desc *img_kind_get(enum img_kind kind);
/* Which kind a file name belongs to (by its prefix), or NULL. */
const struct img_kind_desc *img_kind_by_name(const char *fname);
/* The file name for kind (and id, for per-task kinds) into buf. */
const char *img_name(char *buf, size_t len, enum img_kind kind, int id);

/* Packs msg and writes it atomically (tmp + rename) as dirfd/name. */
int img_write_msg(int dirfd, enum img_kind kind, int id, const ProtobufCMessage *msg, struct ferry_err *err);
/* Reads, validates and unpacks; *out is freed with img_free(). -ENOENT if the file is absent. */
int img_read_msg(int dirfd, enum img_kind kind, int id, ProtobufCMessage **out, struct ferry_err *err);
void img_free(ProtobufCMessage *msg);
/* The same, through a sink (a dump writes every file this way). */
int img_write_msg_to(struct img_sink *sink, enum img_kind kind, int id, const ProtobufCMessage *msg, struct ferry_err *err);
int img_write_blob_to(struct img_sink *sink, enum img_kind kind, int id, const void *data, size_t len, struct ferry_err *err);
/* Raw payload files (ghost files). *out is malloc'd. */
int img_write_blob(int dirfd, enum img_kind kind, int id, const void *data, size_t len, struct ferry_err *err);
int img_read_blob(int dirfd, enum img_kind kind, int id, void **out, size_t *len, struct ferry_err *err);

/*
 * Validates a whole file held in memory: header, kind (expected, or any when 0), version, length
 * and checksum. On success payload and plen point into buf and *kind_out holds the kind.
 * This is the parser the fuzzer drives.
 */
int img_check_buf(const void *buf, size_t len, enum img_kind expected, const char *fname,
		  const void **payload, size_t *plen, enum img_kind *kind_out, struct ferry_err *err);
/* img_check_buf + unpack for message kinds. */
int img_decode_buf(const void *buf, size_t len, enum img_kind expected, const char *fname,
		   ProtobufCMessage **out, struct ferry_err *err);
/* Fills a header for a payload. */
void img_hdr_init(struct img_hdr *h, enum img_kind kind, const void *payload, size_t len, int with_sum);
