/* SPDX-License-Identifier: Apache-2.0 */
/* The control channel of a migration (channel.h): the page server's transport plus CTRL frames. */
#define LOG_PREFIX "migrate: "
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/log.h"
#include "migrate/channel.h"
#include "migrate/migrate.h"
#include "transport/handshake.h"

const char *chan_kind_name(int kind)
{
	static const char *const names[] = { "?", "PREFLIGHT", "VERDICT", "ROUND", "READY", "GO",
					     "RUNNING", "ABORT", "FAILED", "RESOLVE" };
	return kind > 0 && kind < (int)(sizeof(names) / sizeof(names[0])) ? names[kind] : "unknown";
}

int migrate_parse_endpoint(const char *s, char *host, size_t len, int *port, struct ferry_err *err)
{
	const char *colon = s ? strrchr(s, ':') : NULL;
	const char *h = s;
	size_t n = colon ? (size_t)(colon - s) : 0;
	if (!colon || !n)
		return fe_msg(err, EINVAL, "'%s': not ADDR:PORT", s ? s : "");
	if (h[0] == '[' && n >= 2 && h[n - 1] == ']') {
		h++;
		n -= 2;
	}
	if (n >= len)
		return fe_msg(err, EINVAL, "'%s': address too long", s);
	memcpy(host, h, n);
	host[n] = 0;
	int r = remote_port_parse(colon + 1, port, err);
	return r < 0 ? fe_wrap(err, r, "'%s'", s) : 0;
}

int chan_connect(struct chan *ch, const struct remote_opts *o, struct ferry_err *err)
{
	struct token tok;
	int fd, r;
	memset(ch, 0, sizeof(*ch));
	ch->c.fd = -1;
	if ((r = remote_check(o, 0, err)) < 0)
		return fe_wrap(err, r, "migration destination");
	if (o->token_file && (r = token_load(o->token_file, &tok, err)) < 0)
		return r;
	if ((r = tcp_connect(o, &fd, err)) < 0) {
		memset(&tok, 0, sizeof(tok));
		return fe_wrap(err, r, "migration destination");
	}
	conn_init(&ch->c, fd, "destination %s:%d", o->address, o->port);
	ch->c.rx_max = WIRE_MAX_CTRL;
	ch->open = 1;
	r = tls_client_start(&ch->c, o, err);
	if (r == 0)
		r = hs_client(&ch->c, o->token_file ? &tok : NULL, err);
	memset(&tok, 0, sizeof(tok));
	if (r == 0 && !o->token_file && !ch->c.ssl)
		pr_warn("%s: no token and no TLS: the migration travels unauthenticated and in clear\n", ch->c.peer);
	return r;
}

int chan_accept(struct chan *ch, int fd, const char *who, const struct token *tok, void *tls, struct ferry_err *err)
{
	memset(ch, 0, sizeof(*ch));
	conn_init(&ch->c, fd, "source %s", who);
	ch->c.rx_max = WIRE_MAX_CTRL;
	ch->open = 1;
	tcp_set_timeouts(fd);
	int r = tls_server_accept(&ch->c, tls, err);
	return r < 0 ? r : hs_server(&ch->c, tok, err);
}

void chan_close(struct chan *ch)
{
	if (ch->open)
		conn_close(&ch->c);
	ch->open = 0;
}

int chan_send(struct chan *ch, Ferry__MigrateMsg *m, struct ferry_err *err)
{
	m->has_id = 1;
	m->id.data = ch->id;
	m->id.len = MIG_ID_LEN;
	size_t n = ferry__migrate_msg__get_packed_size(m);
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		return fe_set(err, ENOMEM, "%s: %s", ch->c.peer, chan_kind_name(m->kind));
	ferry__migrate_msg__pack(m, buf);
	int r = conn_send(&ch->c, WT_CTRL, 0, buf, n, err);
	free(buf);
	if (r == 0)
		ch->bytes_ctrl += n;
	pr_debug("%s: sent %s%s\n", ch->c.peer, chan_kind_name(m->kind), r ? " (failed)" : "");
	return r < 0 ? fe_wrap(err, r, "send %s", chan_kind_name(m->kind)) : 0;
}

int chan_send_kind(struct chan *ch, Ferry__MigrateMsg__Kind kind, const char *message, struct ferry_err *err)
{
	Ferry__MigrateMsg m = FERRY__MIGRATE_MSG__INIT;
	m.kind = kind;
	m.message = (char *)message;
	return chan_send(ch, &m, err);
}

void chan_msg_free(Ferry__MigrateMsg *m)
{
	if (m)
		ferry__migrate_msg__free_unpacked(m, NULL);
}

int chan_recv(struct chan *ch, Ferry__MigrateMsg **out, int want_id, struct ferry_err *err)
{
	struct wire_hdr h;
	const uint8_t *p;
	*out = NULL;
	int r = conn_recv_msg(&ch->c, &h, &p, err);
	if (r < 0)
		return r;
	if (h.type != WT_CTRL)
		return fe_msg(err, EPROTO, "%s: %s frame where a control message was expected", ch->c.peer,
			      wire_type_name(h.type));
	Ferry__MigrateMsg *m = ferry__migrate_msg__unpack(NULL, h.len, p);
	if (!m)
		return fe_msg(err, EBADMSG, "%s: malformed control message", ch->c.peer);
	if (!m->has_id || m->id.len != MIG_ID_LEN) {
		chan_msg_free(m);
		return fe_msg(err, EBADMSG, "%s: control message without a migration id", ch->c.peer);
	}
	if (want_id && memcmp(m->id.data, ch->id, MIG_ID_LEN)) {
		chan_msg_free(m);
		return fe_msg(err, EPROTO, "%s: a control message of another migration", ch->c.peer);
	}
	if (!want_id)
		memcpy(ch->id, m->id.data, MIG_ID_LEN);
	pr_debug("%s: received %s\n", ch->c.peer, chan_kind_name(m->kind));
	*out = m;
	return 0;
}

int chan_expect(struct chan *ch, Ferry__MigrateMsg__Kind want, Ferry__MigrateMsg **out, struct ferry_err *err)
{
	Ferry__MigrateMsg *m;
	int r = chan_recv(ch, &m, 1, err);
	if (r < 0)
		return r;
	if (m->kind == want) {
		*out = m;
		return 0;
	}
	if (m->kind == FERRY__MIGRATE_MSG__KIND__FAILED || m->kind == FERRY__MIGRATE_MSG__KIND__ABORT)
		r = fe_msg(err, ECANCELED, "%s: %s: %s", ch->c.peer,
			   m->kind == FERRY__MIGRATE_MSG__KIND__FAILED ? "failed" : "gave up",
			   m->message ? m->message : "(no reason given)");
	else
		r = fe_msg(err, EPROTO, "%s: %s where %s was expected", ch->c.peer, chan_kind_name(m->kind),
			   chan_kind_name(want));
	chan_msg_free(m);
	return r;
}
