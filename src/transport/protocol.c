/* SPDX-License-Identifier: Apache-2.0 */
/* Frame headers and messages of the image stream (protocol.h, docs/PROTOCOL.md). Pure functions. */
#include <errno.h>
#include <string.h>
#include "common/hash.h"
#include "image/image.h"
#include "transport/protocol.h"

static void put16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v); put16(p + 2, v >> 16); }
static void put64(uint8_t *p, uint64_t v) { put32(p, v); put32(p + 4, v >> 32); }
static uint16_t get16(const uint8_t *p) { return p[0] | (uint16_t)p[1] << 8; }
static uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

static const char *const type_names[WT_TYPE_MAX] = {
	[WT_HELLO] = "HELLO", [WT_AUTH] = "AUTH", [WT_OK] = "OK", [WT_ERROR] = "ERROR", [WT_BEGIN] = "BEGIN",
	[WT_DATA] = "DATA", [WT_COMMIT] = "COMMIT", [WT_ABORT] = "ABORT", [WT_REMOVE] = "REMOVE", [WT_CLOSE] = "CLOSE",
	[WT_CTRL] = "CTRL",
};

const char *wire_type_name(unsigned type)
{
	return type > 0 && type < WT_TYPE_MAX ? type_names[type] : "unknown";
}

/* The checksum: XXH3-64 of the payload, seeded with XXH3-64 of the header's first 24 bytes. */
static uint64_t frame_sum(const uint8_t *hdr, const void *payload, uint32_t len)
{
	return XXH3_64bits_withSeed(payload, len, XXH3_64bits(hdr, 24));
}

void wire_hdr_fill(uint8_t *hdr, unsigned type, unsigned flags, uint32_t seq, uint32_t file, uint32_t len)
{
	memset(hdr, 0, WIRE_HDR_SIZE);
	put32(hdr, WIRE_MAGIC);
	hdr[4] = type;
	hdr[5] = flags;
	put32(hdr + 8, len);
	put32(hdr + 12, seq);
	put32(hdr + 16, file);
}

void wire_hdr_sum(uint8_t *hdr, const void *payload, uint32_t len)
{
	put64(hdr + 24, frame_sum(hdr, payload, len));
}

void wire_hdr_encode(uint8_t *hdr, unsigned type, uint32_t seq, uint32_t file, const void *payload, uint32_t len)
{
	wire_hdr_fill(hdr, type, 0, seq, file, len);
	wire_hdr_sum(hdr, payload, len);
}

int wire_hdr_decode(const uint8_t *hdr, struct wire_hdr *h, struct ferry_err *err)
{
	uint32_t magic = get32(hdr);
	if (magic != WIRE_MAGIC) {
		if (hdr[0] == 0x16 && hdr[1] == 3)
			return fe_msg(err, EPROTO, "bad frame: the peer speaks TLS but TLS is not configured here");
		return fe_msg(err, EBADMSG, "bad frame: magic %#x, not a ferry image stream", magic);
	}
	h->type = hdr[4];
	h->flags = hdr[5];
	h->len = get32(hdr + 8);
	h->seq = get32(hdr + 12);
	h->file = get32(hdr + 16);
	h->sum = get64(hdr + 24);
	if (h->type == 0 || h->type >= WT_TYPE_MAX)
		return fe_msg(err, EBADMSG, "bad frame: unknown type %u", h->type);
	if ((h->flags & ~WF_SEALED) || get16(hdr + 6) || get32(hdr + 20))
		return fe_msg(err, EBADMSG, "bad frame: %s with unknown flags or non-zero reserved bytes",
			      wire_type_name(h->type));
	uint32_t max = h->type == WT_DATA || h->type == WT_CTRL ? WIRE_MAX_DATA : WIRE_MAX_CTRL;
	if (h->len > max)
		return fe_msg(err, EBADMSG, "bad frame: %s of %u bytes (at most %u)", wire_type_name(h->type), h->len, max);
	return 0;
}

int wire_check_sum(const uint8_t *hdr, const struct wire_hdr *h, const void *payload, struct ferry_err *err)
{
	if (frame_sum(hdr, payload, h->len) != h->sum)
		return fe_msg(err, EBADMSG, "bad frame: checksum mismatch in %s #%u (%u bytes): corrupted in transit",
			      wire_type_name(h->type), h->seq, h->len);
	return 0;
}

size_t wire_hello_encode(uint8_t *buf, const struct wire_hello *m)
{
	put16(buf, m->major);
	put16(buf + 2, m->minor);
	put32(buf + 4, m->caps);
	memcpy(buf + 8, m->nonce, WIRE_NONCE);
	return 8 + WIRE_NONCE;
}

size_t wire_begin_encode(uint8_t *buf, const struct wire_begin *m)
{
	size_t n = strnlen(m->name, WIRE_NAME_MAX);
	put64(buf, m->size);
	memcpy(buf + 8, m->name, n);
	return 8 + n;
}

size_t wire_commit_encode(uint8_t *buf, uint64_t size)
{
	put64(buf, size);
	return 8;
}

size_t wire_close_encode(uint8_t *buf, const struct wire_close *m)
{
	buf[0] = m->ok;
	memset(buf + 1, 0, 3);
	put32(buf + 4, m->files);
	put64(buf + 8, m->bytes);
	return 16;
}

size_t wire_error_encode(uint8_t *buf, int code, const char *msg)
{
	size_t n = strnlen(msg, sizeof(((struct wire_error *)0)->msg) - 1);
	put32(buf, (uint32_t)code);
	memcpy(buf + 4, msg, n);
	return 4 + n;
}

size_t wire_ok_encode(uint8_t *buf, const struct wire_ok *m)
{
	memcpy(buf, m->mac, WIRE_MAC);
	return WIRE_MAC;
}

size_t wire_name_encode(uint8_t *buf, const char *name)
{
	size_t n = strnlen(name, WIRE_NAME_MAX);
	memcpy(buf, name, n);
	return n;
}

static int bad_len(const char *what, size_t len, struct ferry_err *err)
{
	return fe_msg(err, EBADMSG, "bad %s message: %zu bytes", what, len);
}

int wire_hello_decode(const uint8_t *p, size_t len, struct wire_hello *m, struct ferry_err *err)
{
	if (len != 8 + WIRE_NONCE)
		return bad_len("HELLO", len, err);
	m->major = get16(p);
	m->minor = get16(p + 2);
	m->caps = get32(p + 4);
	memcpy(m->nonce, p + 8, WIRE_NONCE);
	return 0;
}

int wire_auth_decode(const uint8_t *p, size_t len, uint8_t mac[WIRE_MAC], struct ferry_err *err)
{
	if (len != WIRE_MAC)
		return bad_len("AUTH", len, err);
	memcpy(mac, p, WIRE_MAC);
	return 0;
}

int wire_name_decode(const uint8_t *p, size_t len, char name[WIRE_NAME_MAX + 1], struct ferry_err *err)
{
	if (len == 0 || len > WIRE_NAME_MAX)
		return fe_msg(err, EBADMSG, "bad file name: %zu bytes", len);
	memcpy(name, p, len);
	name[len] = 0;
	if (strlen(name) != len || !wire_name_valid(name))
		return fe_msg(err, EBADMSG, "refused file name '%.*s': not an image file name", (int)strlen(name), name);
	return 0;
}

int wire_begin_decode(const uint8_t *p, size_t len, struct wire_begin *m, struct ferry_err *err)
{
	if (len < 9)
		return bad_len("BEGIN", len, err);
	m->size = get64(p);
	return wire_name_decode(p + 8, len - 8, m->name, err);
}

int wire_commit_decode(const uint8_t *p, size_t len, uint64_t *size, struct ferry_err *err)
{
	if (len != 8)
		return bad_len("COMMIT", len, err);
	*size = get64(p);
	return 0;
}

int wire_close_decode(const uint8_t *p, size_t len, struct wire_close *m, struct ferry_err *err)
{
	if (len != 16)
		return bad_len("CLOSE", len, err);
	if (p[0] > 1 || p[1] || p[2] || p[3])
		return fe_msg(err, EBADMSG, "bad CLOSE message: flags %#x", p[0]);
	m->ok = p[0];
	m->files = get32(p + 4);
	m->bytes = get64(p + 8);
	return 0;
}

int wire_error_decode(const uint8_t *p, size_t len, struct wire_error *m, struct ferry_err *err)
{
	if (len < 4 || len - 4 >= sizeof(m->msg))
		return bad_len("ERROR", len, err);
	m->code = (int32_t)get32(p);
	if (m->code <= 0 || m->code > 4095)
		m->code = EPROTO;
	size_t n = 0;
	for (size_t i = 4; i < len; i++)	/* printable text only: it ends up in a terminal */
		m->msg[n++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	m->msg[n] = 0;
	return 0;
}

int wire_ok_decode(const uint8_t *p, size_t len, struct wire_ok *m, struct ferry_err *err)
{
	if (len != WIRE_MAC)
		return bad_len("OK", len, err);
	memcpy(m->mac, p, WIRE_MAC);
	return 0;
}

int wire_name_valid(const char *name)
{
	size_t n = strnlen(name, WIRE_NAME_MAX + 1);
	if (n == 0 || n > WIRE_NAME_MAX || strchr(name, '/') || strstr(name, ".."))
		return 0;
	const struct img_kind_desc *k = img_kind_by_name(name);
	if (!k)
		return 0;
	const char *rest = name + strlen(k->name);
	if (*rest == '-') {
		const char *d = ++rest;
		while (*rest >= '0' && *rest <= '9')
			rest++;
		if (rest == d || rest - d > 10 || (*d == '0' && rest - d > 1))
			return 0;
	}
	return strcmp(rest, ".img") == 0;
}
