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
#include "unixpending.pb-c.h"
#include "common/error.h"
#include "image/sink.h"

#define FERRY_IMG_MAGIC 0x59525246u	/* "FRRY" */
#define FERRY_FORMAT_MAJOR 2
#define FERRY_FORMAT_MINOR 0
#define IMG_MAX_META (256u << 20)	/* a metadata payload larger than this is refused (at dump too) */
#define IMG_ID_LEN 16
/* The largest tree an image holds: checked at dump (before anything is killed) and at restore. */
#define IMG_MAX_TASKS 4096
#define IMG_MAX_THREADS 65536	/* of the whole tree */

/* The identity of one dump: random, in the inventory and in the header of every file of it. */
struct img_ident {
	uint8_t id[IMG_ID_LEN];
};

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
	IMG_UNIX_PENDING = 14,	/* unix-pending.img: connections not accepted yet (files/sktree.c) */
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
	uint8_t image_id[IMG_ID_LEN];	/* the dump's identity (struct img_ident) */
	int32_t owner;			/* the pid of a per-task file, the id of a blob, else 0 */
	uint32_t reserved;		/* 0 */
	uint64_t hdr_xxh3;		/* XXH3-64 of the 56 bytes before */
} __attribute__((packed));
_Static_assert(sizeof(struct img_hdr) == 64, "image header is 64 bytes");

struct img_kind_desc {
	enum img_kind kind;
	const char *name;			/* "core" */
	const char *file_fmt;			/* core-PID.img or inventory.img */
	const ProtobufCMessageDescriptor *desc;	/* NULL for raw payloads */
};

const struct img_kind_desc *img_kind_get(enum img_kind kind);
/* Which kind a file name belongs to (by its prefix), or NULL. */
const struct img_kind_desc *img_kind_by_name(const char *fname);
/* The kind and id (pid, blob id, or 0) a file name stands for; -1 if it names no image file. */
int img_parse_name(const char *fname, enum img_kind *kind, int *id);
/* The file name for kind (and id, for per-task kinds) into buf. */
const char *img_name(char *buf, size_t len, enum img_kind kind, int id);

/*
 * Packs msg and writes it through the sink as the file of kind and id (a pid, a blob id, or 0),
 * stamped with the sink's identity (sink->ident). A message too large to be read back is refused.
 */
int img_write_msg_to(struct img_sink *sink, enum img_kind kind, int id, const ProtobufCMessage *msg, struct ferry_err *err);
/* The same into dirfd (a durable one-shot local sink), stamped with ident (NULL: none). */
int img_write_msg(int dirfd, const struct img_ident *ident, enum img_kind kind, int id, const ProtobufCMessage *msg,
		  struct ferry_err *err);
/*
 * Reads, validates and unpacks a plain file of dirfd; its owner must be id. *out is freed with
 * img_free(). -ENOENT if the file is absent. Identity is checked by image/source.h readers.
 */
int img_read_msg(int dirfd, enum img_kind kind, int id, ProtobufCMessage **out, struct ferry_err *err);
void img_free(ProtobufCMessage *msg);

/*
 * Validates a whole file held in memory: header (its checksum first), kind (expected, or any
 * when 0), version, length and checksum. On success payload and plen point into buf and
 * *kind_out holds the kind. This is the parser the fuzzer drives.
 */
int img_check_buf(const void *buf, size_t len, enum img_kind expected, const char *fname,
		  const void **payload, size_t *plen, enum img_kind *kind_out, struct ferry_err *err);
/* img_check_buf + unpack for message kinds. */
int img_decode_buf(const void *buf, size_t len, enum img_kind expected, const char *fname,
		   ProtobufCMessage **out, struct ferry_err *err);
/* The header alone (the first 64 bytes of a file of flen bytes): what img_check_buf checks of it. */
int img_check_hdr(const struct img_hdr *h, uint64_t flen, enum img_kind expected, const char *fname,
		  struct ferry_err *err);
/*
 * Whether the file belongs where it was found: owner must be h->owner, and ident (when not NULL)
 * the image id of the header. Names the file and both sides.
 */
int img_check_owner(const struct img_hdr *h, int owner, const struct img_ident *ident, const char *fname,
		    struct ferry_err *err);
/* Fills a header for a payload (a checksum of it with with_sum), then seals it. */
void img_hdr_init(struct img_hdr *h, enum img_kind kind, int owner, const struct img_ident *ident,
		  const void *payload, size_t len, int with_sum);
/* Recomputes hdr_xxh3 after a field changed. */
void img_hdr_seal(struct img_hdr *h);
/* A new random identity; 0 or -errno. */
int img_ident_new(struct img_ident *id);
int img_ident_is_set(const struct img_ident *id);
/* The identity as 32 hex digits (buf of 33 bytes). */
const char *img_ident_str(const struct img_ident *id, char *buf);
