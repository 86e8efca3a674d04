/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The remote image sink (transport.h): every file a dump writes is streamed to a page server as
 * BEGIN / DATA… / COMMIT (or ABORT); close sends CLOSE(ok) and waits for the server's OK, which
 * comes once everything is durably written. The first failure sticks: later calls report it again.
 */
#define LOG_PREFIX ""
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/log.h"
#include "transport/handshake.h"
#include "transport/progress.h"


struct remote {
	struct conn *c;			/* own, or a migration's (borrowed: not closed here) */
	struct conn own;
	int borrowed;
	struct sink_counts *counts;	/* NULL, or where to add what is sent */
	uint32_t next_id, files;
	uint64_t bytes;
	int failed;			/* -errno of the first failure, or 0 */
	struct ferry_err first;
	struct progress pg;
};

struct img_out {
	struct remote *r;
	uint32_t id;
	uint64_t sent;
	char name[WIRE_NAME_MAX + 1];
};


/* Records the first failure; after a send error, prefers the reason the server gave, if any. */
static int fail(struct remote *r, int rc, struct ferry_err *err)
{
	if (!r->failed) {
		struct ferry_err why = { 0 };
		if ((rc == -EPIPE || rc == -ECONNRESET) && conn_peer_error(r->c, &why) < 0 &&
		    strstr(why.msg, "closed the connection") == NULL)
			rc = fe_msg(err, why.code, "%s", why.msg);
		r->failed = rc;
		r->first = *err;
		pr_debug("%s\n", fe_str(err, rc));
		return rc;
	}
	return fe_msg(err, -r->failed, "%s", fe_str(&r->first, r->failed));
}

static int check(struct remote *r, struct ferry_err *err)
{
	if (r->failed)
		return fail(r, r->failed, err);
	int rc = conn_peer_error(r->c, err);
	return rc < 0 ? fail(r, rc, err) : 0;
}

static int rs_begin(struct img_sink *s, const char *name, uint64_t size, struct img_out **out, struct ferry_err *err)
{
	struct remote *r = s->priv;
	uint8_t buf[WIRE_MAX_CTRL];
	struct wire_begin m = { .size = size };
	if (!r)
		return fe_msg(err, EPIPE, "page server: the session is closed");
	int rc = check(r, err);
	if (rc < 0)
		return rc;
	if (!wire_name_valid(name))
		return fe_msg(err, EINVAL, "%s: %s is not an image file name", r->c->peer, name);
	struct img_out *o = calloc(1, sizeof(*o));
	if (!o)
		return fe_set(err, ENOMEM, "%s: %s", r->c->peer, name);
	snprintf(m.name, sizeof(m.name), "%s", name);
	memcpy(o->name, m.name, sizeof(o->name));
	o->r = r;
	o->id = ++r->next_id;
	rc = conn_send(r->c, WT_BEGIN, o->id, buf, wire_begin_encode(buf, &m), err);
	if (rc < 0) {
		free(o);
		return fail(r, fe_wrap(err, rc, "begin %s", name), err);
	}
	*out = o;
	return 0;
}

static int rs_write(struct img_out *o, const void *buf, size_t len, struct ferry_err *err)
{
	struct remote *r = o->r;
	int rc = check(r, err);
	while (rc == 0 && len) {
		size_t n = len < WIRE_CHUNK ? len : WIRE_CHUNK;
		rc = conn_send(r->c, WT_DATA, o->id, buf, n, err);
		if (rc < 0)
			return fail(r, fe_wrap(err, rc, "send %s", o->name), err);
		buf = (const char *)buf + n;
		len -= n;
		o->sent += n;
		r->bytes += n;
		if (r->counts) {
			r->counts->bytes += n;
			if (!strncmp(o->name, "pages-", 6))
				r->counts->page_bytes += n;
		}
		progress_add(&r->pg, n);
	}
	return rc;
}

static int rs_commit(struct img_out *o, struct ferry_err *err)
{
	struct remote *r = o->r;
	uint8_t buf[16];
	int rc = check(r, err);
	if (rc == 0 && (rc = conn_send(r->c, WT_COMMIT, o->id, buf, wire_commit_encode(buf, o->sent), err)) < 0)
		rc = fail(r, fe_wrap(err, rc, "commit %s", o->name), err);
	if (rc == 0)
		r->files++;
	free(o);
	return rc;
}

static void rs_abort(struct img_out *o)
{
	if (!o->r->failed)
		conn_send(o->r->c, WT_ABORT, o->id, NULL, 0, NULL);
	free(o);
}

/* CLOSE, then the server's answer: OK once everything is durable (or removed), or ERROR. */
static int finish(struct remote *r, int ok, struct ferry_err *err)
{
	uint8_t buf[16];
	struct wire_close m = { .ok = !!ok, .files = r->files, .bytes = r->bytes };
	struct wire_hdr h;
	const uint8_t *p;
	int rc = conn_send(r->c, WT_CLOSE, 0, buf, wire_close_encode(buf, &m), err);
	if (rc == 0)
		rc = hs_expect(r->c, WT_OK, &h, &p, err);
	if (rc < 0)
		return fail(r, fe_wrap(err, rc, "close the session"), err);
	pr_info("%s: %s: %u files, %llu bytes\n", r->c->peer, ok ? "image stored" : "image dropped", r->files,
		(unsigned long long)r->bytes);
	return 0;
}

static int rs_close(struct img_sink *s, int ok, struct ferry_err *err)
{
	struct remote *r = s->priv;
	if (!r)
		return 0;
	int rc = r->failed ? (ok ? fail(r, r->failed, err) : 0) : finish(r, ok, err);
	progress_end(&r->pg);
	if (!r->borrowed)
		conn_close(r->c);
	free(r);
	s->priv = NULL;
	return ok ? rc : 0;
}

static void rs_remove(struct img_sink *s, const char *name)
{
	struct remote *r = s->priv;
	uint8_t buf[WIRE_MAX_CTRL];
	struct ferry_err err = { 0 };
	if (!r || r->failed || !wire_name_valid(name))
		return;
	int rc = conn_send(r->c, WT_REMOVE, 0, buf, wire_name_encode(buf, name), &err);
	if (rc < 0)
		fail(r, rc, &err);
}

static const struct img_sink_ops remote_ops = {
	.begin = rs_begin, .write = rs_write, .commit = rs_commit, .abort = rs_abort,
	.close = rs_close, .remove = rs_remove,
};

static int connect_session(struct remote *r, const struct remote_opts *o, struct ferry_err *err)
{
	struct token tok;
	int fd, rc = remote_check(o, 0, err);
	if (rc < 0)
		return fe_wrap(err, rc, "page server");
	if (o->token_file && (rc = token_load(o->token_file, &tok, err)) < 0)
		return rc;
	if ((rc = tcp_connect(o, &fd, err)) < 0)
		return rc;
	conn_init(r->c, fd, "page server %s:%d", o->address, o->port);
	r->c->rx_max = WIRE_MAX_CTRL;	/* until the server is authenticated */
	rc = tls_client_start(r->c, o, err);
	if (rc == 0)
		rc = hs_client(r->c, o->token_file ? &tok : NULL, err);
	memset(&tok, 0, sizeof(tok));
	return rc;
}

int transport_sink_open(const struct remote_opts *o, struct img_sink **sink, struct ferry_err *err)
{
	struct remote *r = calloc(1, sizeof(*r));
	/* The dump may call remove() after close(): the sink itself outlives its connection. */
	struct img_sink *s = calloc(1, sizeof(*s));
	if (!r || !s) {
		free(r);
		free(s);
		return fe_set(err, ENOMEM, "page server session");
	}
	r->c = &r->own;
	r->c->fd = -1;
	int rc = connect_session(r, o, err);
	if (rc < 0) {
		conn_close(r->c);
		free(r);
		free(s);
		return rc;
	}
	if (!o->token_file && !r->c->ssl)
		pr_warn("%s: no token and no TLS: the image travels unauthenticated and in clear\n", r->c->peer);
	progress_start(&r->pg, o->progress, "sent");
	pr_info("%s: connected%s%s\n", r->c->peer, r->c->ssl ? ", TLS" : "", o->token_file ? ", authenticated" : "");
	*s = (struct img_sink){ .ops = &remote_ops, .dirfd = -1, .priv = r };
	*sink = s;
	return 0;
}

int transport_sink_attach(struct conn *c, struct sink_counts *counts, struct img_sink **sink, struct ferry_err *err)
{
	struct remote *r = calloc(1, sizeof(*r));
	struct img_sink *s = calloc(1, sizeof(*s));
	if (!r || !s) {
		free(r);
		free(s);
		return fe_set(err, ENOMEM, "%s: image stream", c->peer);
	}
	r->c = c;
	r->borrowed = 1;
	r->counts = counts;
	*s = (struct img_sink){ .ops = &remote_ops, .dirfd = -1, .priv = r };
	*sink = s;
	return 0;
}

void transport_sink_free(struct img_sink *sink)
{
	struct ferry_err ignored = { 0 };
	if (sink) {
		rs_close(sink, 0, &ignored);
		free(sink);
	}
}
