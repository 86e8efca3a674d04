/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The start of a session (docs/PROTOCOL.md): HELLO both ways (version, capabilities, nonce), then,
 * when a token is configured, AUTH from the client and OK from the server, each an HMAC of both
 * nonces under the token: each side proves it knows the token without sending it.
 */
#include <errno.h>
#include <string.h>
#include "common/log.h"
#include "transport/handshake.h"

#define LABEL_CLIENT "ferry-auth-client-v1"
#define LABEL_SERVER "ferry-auth-server-v1"

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
	if (r == 0 && peer->major != WIRE_MAJOR)
		return fe_msg(err, EPROTONOSUPPORT, "%s speaks protocol %u.%u, this ferry %u.%u", c->peer, peer->major,
			      peer->minor, WIRE_MAJOR, WIRE_MINOR);
	return r;
}

static int client_auth(struct conn *c, const struct token *tok, const struct wire_hello *me,
		       const struct wire_hello *srv, struct ferry_err *err)
{
	uint8_t mac[WIRE_MAC];
	struct wire_hdr h;
	const uint8_t *p;
	struct wire_ok ok;
	token_mac(tok, LABEL_CLIENT, srv->nonce, me->nonce, mac);
	int r = conn_send(c, WT_AUTH, 0, mac, sizeof(mac), err);
	if (r == 0)
		r = hs_expect(c, WT_OK, &h, &p, err);
	if (r == 0 && (r = wire_ok_decode(p, h.len, &ok, err)) < 0)
		return fe_wrap(err, r, "%s", c->peer);
	if (r < 0)
		return r;
	token_mac(tok, LABEL_SERVER, me->nonce, srv->nonce, mac);
	if (!mac_equal(mac, ok.mac))
		return fe_msg(err, EACCES, "%s: the server does not know the token (impostor?)", c->peer);
	return 0;
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
	return tok ? client_auth(c, tok, &me, &srv, err) : 0;
}

static int server_auth(struct conn *c, const struct token *tok, const struct wire_hello *me,
		       const struct wire_hello *cl, struct ferry_err *err)
{
	uint8_t mac[WIRE_MAC], want[WIRE_MAC];
	struct wire_hdr h;
	const uint8_t *p;
	int r = hs_expect(c, WT_AUTH, &h, &p, err);
	if (r == 0 && (r = wire_auth_decode(p, h.len, mac, err)) < 0)
		return fe_wrap(err, r, "%s", c->peer);
	if (r < 0)
		return r;
	token_mac(tok, LABEL_CLIENT, me->nonce, cl->nonce, want);
	if (!mac_equal(mac, want)) {
		fe_msg(err, EACCES, "authentication failed: wrong token");
		conn_send_error(c, EACCES, err);
		return fe_msg(err, EACCES, "%s: authentication failed: wrong token", c->peer);
	}
	struct wire_ok ok;
	uint8_t buf[WIRE_MAX_CTRL];
	token_mac(tok, LABEL_SERVER, cl->nonce, me->nonce, ok.mac);
	return conn_send(c, WT_OK, 0, buf, wire_ok_encode(buf, &ok), err);
}

int hs_server(struct conn *c, const struct token *tok, struct ferry_err *err)
{
	struct wire_hello me, cl;
	int r = hs_recv_hello(c, &cl, err);
	if (r == -EPROTONOSUPPORT) {
		struct ferry_err e2 = { 0 };
		hs_send_hello(c, tok ? WCAP_AUTH : 0, &me, &e2);
		conn_send_error(c, -r, err);
	}
	if (r == 0)
		r = hs_send_hello(c, tok ? WCAP_AUTH : 0, &me, err);
	if (r < 0)
		return r;
	pr_debug("%s: protocol %u.%u%s\n", c->peer, cl.major, cl.minor, tok ? ", token required" : "");
	return tok ? server_auth(c, tok, &me, &cl, err) : 0;
}
