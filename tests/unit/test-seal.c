/* SPDX-License-Identifier: Apache-2.0 */
/*
 * transport: session keys, sealed frames (seal.c), the framed connection over a socket pair
 * (conn.c: seals, sequence numbers, the pre-authentication size cap), the frame header's flags
 * (protocol.c) and --port parsing (net.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "transport/conn.h"
#include "transport/seal.h"

static const uint8_t nc[WIRE_NONCE] = { 1 }, ns[WIRE_NONCE] = { 2 };

static struct token tok(const char *s)
{
	struct token t = { .len = strlen(s) };
	memcpy(t.key, s, t.len);
	return t;
}

static void test_keys(void **state)
{
	struct token t = tok("a token of some length");
	struct session_keys a, b, c;
	assert_int_equal(keys_derive(&t, nc, ns, &a, NULL), 0);
	assert_int_equal(keys_derive(&t, nc, ns, &b, NULL), 0);
	assert_memory_equal(&a, &b, sizeof(a));			/* both sides agree */
	assert_memory_not_equal(a.c2s, a.s2c, KEY_LEN);		/* one key per direction */
	assert_memory_not_equal(a.auth_client, a.auth_server, KEY_LEN);
	assert_int_equal(keys_derive(&t, ns, nc, &c, NULL), 0);
	assert_memory_not_equal(&a, &c, sizeof(a));			/* the nonces matter, in order */
	t = tok("another token");
	assert_int_equal(keys_derive(&t, nc, ns, &c, NULL), 0);
	assert_memory_not_equal(a.c2s, c.c2s, KEY_LEN);
}

static void test_seal_open(void **state)
{
	struct token t = tok("token");
	struct session_keys k;
	struct seal *tx, *rx, *other;
	uint8_t aad[WIRE_AAD] = "header of the frame.....", tag[WIRE_TAG];
	size_t sizes[] = { 0, 1, 4096, 256 << 10 };
	assert_int_equal(keys_derive(&t, nc, ns, &k, NULL), 0);
	assert_int_equal(seal_new(k.c2s, 1, &tx, NULL), 0);
	assert_int_equal(seal_new(k.c2s, 0, &rx, NULL), 0);
	assert_int_equal(seal_new(k.s2c, 0, &other, NULL), 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		uint8_t *plain = malloc(n + 1), *buf = malloc(n + 1);
		for (size_t j = 0; j < n; j++)
			plain[j] = (uint8_t)(j * 7 + 3);
		assert_int_equal(seal_frame(tx, 5, aad, plain, buf, n, tag), 0);
		if (n >= 16)
			assert_memory_not_equal(buf, plain, 16);	/* encrypted */
		/* a failed open leaves buf undefined: seal again before each attempt */
		assert_int_equal(seal_open(other, 5, aad, buf, n, tag), -EBADMSG);	/* the other direction's key */
		assert_int_equal(seal_frame(tx, 5, aad, plain, buf, n, tag), 0);
		assert_int_equal(seal_open(rx, 6, aad, buf, n, tag), -EBADMSG);	/* another position */
		assert_int_equal(seal_frame(tx, 5, aad, plain, buf, n, tag), 0);
		aad[0] ^= 1;
		assert_int_equal(seal_open(rx, 5, aad, buf, n, tag), -EBADMSG);	/* another header */
		aad[0] ^= 1;
		assert_int_equal(seal_frame(tx, 5, aad, plain, buf, n, tag), 0);
		if (n) {
			buf[n / 2] ^= 0x10;
			assert_int_equal(seal_open(rx, 5, aad, buf, n, tag), -EBADMSG);	/* altered */
			assert_int_equal(seal_frame(tx, 5, aad, plain, buf, n, tag), 0);
		}
		tag[3] ^= 1;
		assert_int_equal(seal_open(rx, 5, aad, buf, n, tag), -EBADMSG);	/* forged tag */
		tag[3] ^= 1;
		assert_int_equal(seal_frame(tx, 5, aad, plain, buf, n, tag), 0);
		assert_int_equal(seal_open(rx, 5, aad, buf, n, tag), 0);
		assert_memory_equal(buf, plain, n);
		free(plain);
		free(buf);
	}
	seal_free(tx);
	seal_free(rx);
	seal_free(other);
	seal_free(NULL);
}

/* Two connected conns: a sender (sealed if keys) and a receiver, past their handshake. */
static void pair(struct conn *a, struct conn *b, int sealed)
{
	int sv[2];
	struct token t = tok("token");
	struct session_keys k;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	conn_init(a, sv[0], "peer a");
	conn_init(b, sv[1], "peer b");
	a->rx_max = b->rx_max = 0;
	if (!sealed)
		return;
	assert_int_equal(keys_derive(&t, nc, ns, &k, NULL), 0);
	assert_int_equal(seal_new(k.c2s, 1, &a->tx_seal, NULL), 0);
	assert_int_equal(seal_new(k.c2s, 0, &b->rx_seal, NULL), 0);
}

static void test_conn_sealed(void **state)
{
	struct conn a, b;
	struct wire_hdr h;
	const uint8_t *p;
	struct ferry_err err = { 0 };
	pair(&a, &b, 1);
	assert_int_equal(conn_send(&a, WT_DATA, 3, "hello", 5, NULL), 0);
	assert_int_equal(conn_send(&a, WT_COMMIT, 3, NULL, 0, NULL), 0);
	assert_int_equal(conn_recv(&b, &h, &p, &err), 0);
	assert_int_equal(h.type, WT_DATA);
	assert_int_equal(h.flags, WF_SEALED);
	assert_int_equal(h.file, 3);
	assert_memory_equal(p, "hello", 5);
	assert_int_equal(conn_recv(&b, &h, &p, &err), 0);
	assert_int_equal(h.type, WT_COMMIT);
	/* an unsealed frame in a sealed session is refused */
	uint8_t raw[WIRE_HDR_SIZE];
	wire_hdr_encode(raw, WT_ERROR, 2, 0, NULL, 0);
	assert_int_equal(write(a.fd, raw, sizeof(raw)), sizeof(raw));
	assert_int_equal(conn_recv(&b, &h, &p, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "unsealed ERROR frame #2"));
	conn_close(&a);
	conn_close(&b);
}

static void test_conn_replay(void **state)
{
	struct conn a, b;
	struct wire_hdr h;
	const uint8_t *p;
	struct ferry_err err = { 0 };
	uint8_t frame[WIRE_HDR_SIZE + 5 + WIRE_TAG];
	int sv[2];
	pair(&a, &b, 1);
	/* capture a sealed frame off the wire, then play it twice */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	int fd = a.fd;
	a.fd = sv[0];
	assert_int_equal(conn_send(&a, WT_DATA, 1, "abcde", 5, NULL), 0);
	a.fd = fd;
	assert_int_equal(read(sv[1], frame, sizeof(frame)), sizeof(frame));
	assert_int_equal(write(a.fd, frame, sizeof(frame)), sizeof(frame));
	assert_int_equal(write(a.fd, frame, sizeof(frame)), sizeof(frame));
	assert_int_equal(conn_recv(&b, &h, &p, &err), 0);
	assert_int_equal(conn_recv(&b, &h, &p, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "frame #0 arrived where #1 was expected"));
	/* the same frame renumbered (checksum repaired) fails its seal */
	frame[12] = 1;
	wire_hdr_sum(frame, frame + WIRE_HDR_SIZE, 5);
	b.rx_seq = 1;
	assert_int_equal(write(a.fd, frame, sizeof(frame)), sizeof(frame));
	assert_int_equal(conn_recv(&b, &h, &p, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "fails its seal"));
	close(sv[0]);
	close(sv[1]);
	conn_close(&a);
	conn_close(&b);
}

static void test_conn_preauth_cap(void **state)
{
	struct conn a, b;
	struct wire_hdr h;
	const uint8_t *p;
	struct ferry_err err = { 0 };
	uint8_t raw[WIRE_HDR_SIZE];
	pair(&a, &b, 0);
	b.rx_max = WIRE_MAX_CTRL;	/* as conn_init leaves it until the handshake is done */
	wire_hdr_fill(raw, WT_DATA, 0, 0, 1, 1 << 20);
	wire_hdr_sum(raw, NULL, 0);
	assert_int_equal(write(a.fd, raw, sizeof(raw)), sizeof(raw));	/* a header only: no payload follows */
	assert_int_equal(conn_recv(&b, &h, &p, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "before the session is authenticated"));
	assert_null(b.buf);						/* nothing allocated for it */
	conn_close(&a);
	conn_close(&b);
}

static void test_flags(void **state)
{
	uint8_t hdr[WIRE_HDR_SIZE];
	struct wire_hdr h;
	wire_hdr_fill(hdr, WT_DATA, WF_SEALED, 0, 1, 0);
	assert_int_equal(wire_hdr_decode(hdr, &h, NULL), 0);
	assert_int_equal(h.flags, WF_SEALED);
	wire_hdr_fill(hdr, WT_DATA, 0x2, 0, 1, 0);
	assert_int_equal(wire_hdr_decode(hdr, &h, NULL), -EBADMSG);
}

static void test_port(void **state)
{
	struct ferry_err err = { 0 };
	int port = -1;
	assert_int_equal(remote_port_parse("0", &port, NULL), 0);
	assert_int_equal(port, 0);
	assert_int_equal(remote_port_parse("65535", &port, NULL), 0);
	assert_int_equal(port, 65535);
	assert_int_equal(remote_port_parse("99999", &port, &err), -EINVAL);
	assert_string_equal(err.msg, "port 99999: out of range (a TCP port is 1-65535)");
	assert_int_equal(port, 65535);	/* untouched */
	const char *bad[] = { "abc", "", "-1", "1x", " 1", "0x10" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(remote_port_parse(bad[i], &port, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "not a number"));
	}
	assert_int_equal(remote_port_parse("99999999999999999999", &port, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys), cmocka_unit_test(test_seal_open), cmocka_unit_test(test_conn_sealed),
		cmocka_unit_test(test_conn_replay), cmocka_unit_test(test_conn_preauth_cap),
		cmocka_unit_test(test_flags), cmocka_unit_test(test_port),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
