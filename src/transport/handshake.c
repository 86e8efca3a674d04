/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The start of a session (docs/PROTOCOL.md): HELLO both ways (version, capabilities, nonce), then,
 * when a token is configured, AUTH from the client and OK from the server: each an HMAC of both
 * HELLOs under a key derived from the token and both nonces (seal.h), so each side proves it knows
 * the token without sending it, and the versions and capabilities each saw are bound in. From then
 * on every frame is sealed: the client's after its AUTH, the server's after its OK.
 */
#include <errno.h>
#include <string.h>
#include "common/log.h"
#include "transport/handshake.h"
#include "transport/seal.h"

#define HELLO_LEN (8 + WIRE_NONCE)

int hs_send_hello(struct conn *c, uint32_t caps, struct wire_hello *me, struct ferry_err *err)
{
	uint8_t buf[WIRE_MAX_CTRL];
	memset(me, 0, sizeof(*me));
	me->major = WIRE_MAJOR;
	me->minor = WIRE_MINOR;
	me->caps = caps;
	int r = c->is_file ? 0 : random_bytes(me->nonce, WIRE_NONCE, err);
	return r < 0 ? r : conn_send(c, WT_HELLO, 0, buf, wire_hello_encode(buf, me), err);
}

/* Receives a frame that must be of type want (an ERROR frame becomes the error). */
int hs_expect(struct conn *c, unsigned want, struct wire_hdr *h, const uint8_t **p, struct ferry_err *err)
{
	int r = conn_recv_msg(c, h, p, err);
	if (r < 0)
		return r;
	if (h->type != want)
		return fe_msg(err, EPROTO, "%s: protocol error: %s frame where %s was expected", c->peer,
			      wire_type_name(h->type), wire_type_name(want));
	return 0;
}

int hs_recv_hello(struct conn *c, struct wire_hello *peer, struct ferry_err *err)
{
	struct wire_hdr h;
	const uint8_t *p;
	int r = hs_expect(c, WT_HELLO, &h, &p, err);
	if (r == 0 && (r = wire_hello_decode(p, h.len, peer, err)) < 0)
		return fe_wrap(err, r, "%s", c->peer);
	/* an export file of protocol 1 is framed as today's unsealed streams: import takes it */
	if (r == 0 && peer->major != WIRE_MAJOR && !(c->is_file && peer->major == 1))
		return fe_class(err, FE_IMAGE_FOREIGN,
				fe_msg(err, EPROTONOSUPPORT, "%s speaks protocol %u.%u and this ferry %u.%u: run the same "
				       "major version on both sides", c->peer, peer->major, peer->minor, WIRE_MAJOR, WIRE_MINOR));
	return r;
}

/* What AUTH and OK prove: both HELLOs, as sent. */
static void transcript(uint8_t tr[2 * HELLO_LEN], const struct wire_hello *cl, const struct wire_hello *srv)
{
	uint8_t buf[WIRE_MAX_CTRL];
	memcpy(tr, buf, wire_hello_encode(buf, cl));
	memcpy(tr + HELLO_LEN, buf, wire_hello_encode(buf, srv));
}

static int server_auth(struct conn *c, const struct session_keys *k, const uint8_t *tr, struct ferry_err *err)
{
	uint8_t mac[WIRE_MAC], want[WIRE_MAC], buf[WIRE_MAX_CTRL];
	struct wire_hdr h;
	const uint8_t *p;
	struct wire_ok ok;
	int r = hs_expect(c, WT_AUTH, &h, &p, err);
	if (r == 0 && (r = wire_auth_decode(p, h.len, mac, err)) < 0)
		return fe_wrap(err, r, "%s", c->peer);
	if (r < 0)
		return r;
	hmac256(k->auth_client, tr, 2 * HELLO_LEN, want);
	if (!mac_equal(mac, want)) {
		fe_msg(err, EACCES, "authentication failed: wrong token");
		conn_send_error(c, EACCES, err);
		return fe_msg(err, EACCES, "%s: authentication failed: wrong token (or a handshake altered on the path)",
			      c->peer);
	}
	if ((r = seal_new(k->c2s, 0, &c->rx_seal, err)) < 0)
		return r;
	hmac256(k->auth_server, tr, 2 * HELLO_LEN, ok.mac);
	r = conn_send(c, WT_OK, 0, buf, wire_ok_encode(buf, &ok), err);
	return r < 0 ? r : seal_new(k->s2c, 1, &c->tx_seal, err);
}

static int client_auth(struct conn *c, const struct session_keys *k, const uint8_t *tr, struct ferry_err *err)
{
	uint8_t mac[WIRE_MAC];
	struct wire_hdr h;
	const uint8_t *p;
	struct wire_ok ok;
	hmac256(k->auth_client, tr, 2 * HELLO_LEN, mac);
	int r = conn_send(c, WT_AUTH, 0, mac, sizeof(mac), err);
	if (r == 0)
		r = seal_new(k->c2s, 1, &c->tx_seal, err);
	if (r == 0)
		r = hs_expect(c, WT_OK, &h, &p, err);
	if (r == 0 && (r = wire_ok_decode(p, h.len, &ok, err)) < 0)
		return fe_wrap(err, r, "%s", c->peer);
	if (r < 0)
		return r;
	hmac256(k->auth_server, tr, 2 * HELLO_LEN, mac);
	if (!mac_equal(mac, ok.mac))
		return fe_msg(err, EACCES, "%s: the server does not know the token (impostor?)", c->peer);
	return seal_new(k->s2c, 0, &c->rx_seal, err);
}

/* The token half of a handshake: derives the session's keys, then the proofs (client_auth or server_auth). */
static int with_keys(struct conn *c, const struct token *tok, const struct wire_hello *cl, const struct wire_hello *srv,
		     int server, struct ferry_err *err)
{
	struct session_keys k;
	uint8_t tr[2 * HELLO_LEN];
	transcript(tr, cl, srv);
	int r = keys_derive(tok, cl->nonce, srv->nonce, &k, err);
	if (r == 0)
		r = server ? server_auth(c, &k, tr, err) : client_auth(c, &k, tr, err);
	keys_wipe(&k);
	return r;
}

int hs_client(struct conn *c, const struct token *tok, struct ferry_err *err)
{
	struct wire_hello me, srv;
	int r = hs_send_hello(c, tok ? WCAP_AUTH : 0, &me, err);
	if (r == 0)
		r = hs_recv_hello(c, &srv, err);
	if (r < 0)
		return r;
	if ((srv.caps & WCAP_AUTH) && !tok)
		return fe_msg(err, EACCES, "%s requires a token (--token-file)", c->peer);
	if (!(srv.caps & WCAP_AUTH) && tok)
		return fe_msg(err, EACCES, "%s does not ask for a token, so it cannot prove it knows ours: refusing to send the image",
			      c->peer);
	if (tok && (r = with_keys(c, tok, &me, &srv, 0, err)) < 0)
		return r;
	c->rx_max = 0;
	return 0;
}

int hs_server(struct conn *c, const struct token *tok, struct ferry_err *err)
{
	struct wire_hello me, cl;
	int r = hs_recv_hello(c, &cl, err);
	if (r == -EPROTONOSUPPORT) {
		struct ferry_err e2 = { 0 };
		hs_send_hello(c, tok ? WCAP_AUTH : 0, &me, &e2);
		fe_msg(&e2, EPROTONOSUPPORT, "this page server speaks protocol %u.%u and the client %u.%u: run the same "
		       "major version on both sides", WIRE_MAJOR, WIRE_MINOR, cl.major, cl.minor);
		conn_send_error(c, EPROTONOSUPPORT, &e2);
	}
	if (r == 0)
		r = hs_send_hello(c, tok ? WCAP_AUTH : 0, &me, err);
	if (r < 0)
		return r;
	pr_debug("%s: protocol %u.%u%s\n", c->peer, cl.major, cl.minor, tok ? ", token required" : "");
	if (tok && (r = with_keys(c, tok, &cl, &me, 1, err)) < 0)
		return r;
	c->rx_max = 0;
	return 0;
}
