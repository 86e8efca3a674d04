/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the image stream's frame and message decoders (src/transport/protocol.c).
 * The input is a byte stream cut into frames; each frame is decoded as is, then again with its
 * checksum repaired so that mutated payloads reach the message decoders. Decoded messages are
 * re-encoded and must decode to the same values; every accepted file name must be a safe one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "transport/protocol.h"

static void check_name(const char *name)
{
	if (strchr(name, '/') || strstr(name, "..") || strlen(name) > WIRE_NAME_MAX || !strlen(name))
		abort();
}

static void roundtrip_begin(const struct wire_begin *m)
{
	uint8_t buf[WIRE_MAX_CTRL];
	struct wire_begin b;
	size_t n = wire_begin_encode(buf, m);
	if (wire_begin_decode(buf, n, &b, NULL) < 0 || b.size != m->size || strcmp(b.name, m->name))
		abort();
	check_name(b.name);
}

static void decode_msg(const struct wire_hdr *h, const uint8_t *p)
{
	struct wire_hello he;
	struct wire_begin b;
	struct wire_close c;
	struct wire_error e;
	struct wire_ok ok;
	struct ferry_err err = { 0 };
	uint8_t mac[WIRE_MAC], buf[WIRE_MAX_CTRL];
	char name[WIRE_NAME_MAX + 1];
	uint64_t size;
	switch (h->type) {
	case WT_HELLO:
		if (wire_hello_decode(p, h->len, &he, &err) == 0 && wire_hello_encode(buf, &he) != h->len)
			abort();
		break;
	case WT_AUTH: wire_auth_decode(p, h->len, mac, &err); break;
	case WT_OK: wire_ok_decode(p, h->len, &ok, &err); break;
	case WT_ERROR:
		if (wire_error_decode(p, h->len, &e, &err) == 0 && (e.code <= 0 || strlen(e.msg) >= sizeof(e.msg)))
			abort();
		break;
	case WT_BEGIN:
		if (wire_begin_decode(p, h->len, &b, &err) == 0)
			roundtrip_begin(&b);
		break;
	case WT_COMMIT: wire_commit_decode(p, h->len, &size, &err); break;
	case WT_REMOVE:
		if (wire_name_decode(p, h->len, name, &err) == 0)
			check_name(name);
		break;
	case WT_CLOSE:
		if (wire_close_decode(p, h->len, &c, &err) == 0 && (wire_close_encode(buf, &c) != 16 || c.ok > 1))
			abort();
		break;
	default: break;
	}
}

/* One frame at d: returns the bytes it takes, or 0 to stop. */
static size_t one_frame(const uint8_t *d, size_t n)
{
	struct wire_hdr h;
	struct ferry_err err = { 0 };
	uint8_t hdr[WIRE_HDR_SIZE];
	if (n < WIRE_HDR_SIZE)
		return 0;
	memcpy(hdr, d, sizeof(hdr));
	hdr[0] = 'F', hdr[1] = 'R', hdr[2] = 'Y', hdr[3] = 'W';	/* get past the magic more often */
	if (wire_hdr_decode(hdr, &h, &err) < 0)
		return 0;
	if (h.len > n - WIRE_HDR_SIZE)
		h.len = (uint32_t)(n - WIRE_HDR_SIZE);
	const uint8_t *p = d + WIRE_HDR_SIZE;
	if (wire_check_sum(hdr, &h, p, &err) == 0)
		decode_msg(&h, p);
	wire_hdr_encode(hdr, h.type, h.seq, h.file, p, h.len);	/* repaired checksum */
	struct wire_hdr h2;
	if (wire_hdr_decode(hdr, &h2, &err) < 0 || wire_check_sum(hdr, &h2, p, &err) < 0 || h2.len != h.len)
		abort();
	decode_msg(&h2, p);
	return WIRE_HDR_SIZE + h.len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[WIRE_NAME_MAX + 2];
	size_t l = size < sizeof(name) - 1 ? size : sizeof(name) - 1;
	memcpy(name, data, l);
	name[l] = 0;
	if (wire_name_valid(name))
		check_name(name);
	while (size) {
		size_t used = one_frame(data, size);
		if (!used)
			break;
		data += used;
		size -= used;
	}
	return 0;
}
