/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The image stream's wire format (docs/PROTOCOL.md): 32-byte frame headers with an XXH3-64 over
 * header and payload, and the messages they carry. A sealed frame (after a token handshake) is
 * followed by a 16-byte AES-GCM tag (seal.c). Pure functions: encode into caller buffers, decode
 * with every field bounds-checked. This is what tests/fuzz/fuzz_wire.c drives.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "common/error.h"

#define WIRE_MAGIC 0x57595246u		/* "FRYW" little-endian */
#define WIRE_MAJOR 2		/* 2: sealed frames after a token handshake (1 had none) */
#define WIRE_MINOR 0
#define WIRE_HDR_SIZE 32
#define WIRE_MAX_DATA (8u << 20)	/* largest DATA payload */
#define WIRE_MAX_CTRL 4096u		/* largest payload of any other frame */
#define WIRE_CHUNK (256u << 10)		/* what a sender puts in one DATA frame */
#define WIRE_NAME_MAX 128
#define WIRE_NONCE 32
#define WIRE_MAC 32
#define WIRE_TAG 16			/* AES-GCM tag after a sealed frame's payload */
#define WIRE_AAD 24			/* header bytes a seal authenticates: all but the checksum */

/* Header flags. */
#define WF_SEALED 0x1u			/* payload encrypted, a tag follows (seal.c) */

enum wire_type {
	WT_HELLO = 1,	/* both ways, first frame */
	WT_AUTH = 2,	/* client: HMAC of the server's nonce */
	WT_OK = 3,	/* server: auth accepted / CLOSE done (durable) */
	WT_ERROR = 4,	/* either side, then it closes */
	WT_BEGIN = 5,
	WT_DATA = 6,
	WT_COMMIT = 7,
	WT_ABORT = 8,
	WT_REMOVE = 9,
	WT_CLOSE = 10,
	WT_CTRL = 11,	/* a migration's control message (docs/MIGRATION.md), up to WIRE_MAX_DATA */
	WT_TYPE_MAX
};

/* Capabilities in HELLO. */
#define WCAP_AUTH 0x1u		/* server: a token is required; client: has a token */

struct wire_hdr {
	uint8_t type;
	uint8_t flags;		/* WF_* */
	uint32_t len;		/* payload bytes */
	uint32_t seq;		/* frames sent by this side before this one */
	uint32_t file;		/* file id (BEGIN, DATA, COMMIT, ABORT), else 0 */
	uint64_t sum;
};

struct wire_hello {
	uint16_t major, minor;
	uint32_t caps;
	uint8_t nonce[WIRE_NONCE];
};

struct wire_begin {
	uint64_t size;		/* 0: unknown */
	char name[WIRE_NAME_MAX + 1];
};

struct wire_close {
	uint8_t ok;
	uint32_t files;		/* files committed */
	uint64_t bytes;		/* DATA bytes sent */
};

struct wire_error {
	int32_t code;		/* positive errno */
	char msg[512];
};

struct wire_ok {
	uint8_t mac[WIRE_MAC];	/* answer to AUTH: the server's proof; else zero */
};

const char *wire_type_name(unsigned type);

/* Fills hdr (WIRE_HDR_SIZE bytes) for an unsealed frame with this payload. */
void wire_hdr_encode(uint8_t *hdr, unsigned type, uint32_t seq, uint32_t file, const void *payload, uint32_t len);
/* The two halves of it: every field but the checksum, then the checksum over hdr + payload (as sent). */
void wire_hdr_fill(uint8_t *hdr, unsigned type, unsigned flags, uint32_t seq, uint32_t file, uint32_t len);
void wire_hdr_sum(uint8_t *hdr, const void *payload, uint32_t len);
/* Checks magic, type, flags, reserved bytes, length limit. 0 or -EBADMSG with err saying why. */
int wire_hdr_decode(const uint8_t *hdr, struct wire_hdr *h, struct ferry_err *err);
/* Verifies the checksum over hdr + payload. */
int wire_check_sum(const uint8_t *hdr, const struct wire_hdr *h, const void *payload, struct ferry_err *err);

/* Encoders return the payload length written into buf (at least WIRE_MAX_CTRL bytes). */
size_t wire_hello_encode(uint8_t *buf, const struct wire_hello *m);
size_t wire_begin_encode(uint8_t *buf, const struct wire_begin *m);
size_t wire_commit_encode(uint8_t *buf, uint64_t size);
size_t wire_close_encode(uint8_t *buf, const struct wire_close *m);
size_t wire_error_encode(uint8_t *buf, int code, const char *msg);
size_t wire_ok_encode(uint8_t *buf, const struct wire_ok *m);
size_t wire_name_encode(uint8_t *buf, const char *name);	/* REMOVE */

/* Decoders: 0 or -EBADMSG (err names the message and the fault). */
int wire_hello_decode(const uint8_t *p, size_t len, struct wire_hello *m, struct ferry_err *err);
int wire_auth_decode(const uint8_t *p, size_t len, uint8_t mac[WIRE_MAC], struct ferry_err *err);
int wire_begin_decode(const uint8_t *p, size_t len, struct wire_begin *m, struct ferry_err *err);
int wire_commit_decode(const uint8_t *p, size_t len, uint64_t *size, struct ferry_err *err);
int wire_close_decode(const uint8_t *p, size_t len, struct wire_close *m, struct ferry_err *err);
int wire_error_decode(const uint8_t *p, size_t len, struct wire_error *m, struct ferry_err *err);
int wire_ok_decode(const uint8_t *p, size_t len, struct wire_ok *m, struct ferry_err *err);
int wire_name_decode(const uint8_t *p, size_t len, char name[WIRE_NAME_MAX + 1], struct ferry_err *err);

/*
 * Whether name is an image file name: "<kind>.img" or "<kind>-<decimal id>.img" for a kind of
 * the image format, no '/', no "..", at most WIRE_NAME_MAX bytes.
 */
int wire_name_valid(const char *name);
