/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unix sockets, restore side: every unix socket of the image is made at once, in ferry, the first
 * time one is asked for, and handed out from the stash. In order:
 *   1. listeners (bound, listen() by whoever listened), their accepted connections (connect +
 *      accept, so the server end carries the listener's name) and the ones not accepted yet (connect
 *      only, then what the client sent); connected pairs: socketpair(), or — when an end has a name —
 *      connect + accept through a throwaway listener bound to that name where no path leads; a socket
 *      whose peer closed gets a peer that sends its queue and closes (first making the reset, if it
 *      must read ECONNRESET); everything else is socket() + bind();
 *   2. datagram queues, each message from its own sender's address;
 *   3. datagram connect()s, a socket only after the ones connected to it (the kernel lets nobody
 *      connect to a socket already connected elsewhere), and to itself;
 *   4. shutdown state and every option (buffers, filters, peek offsets…).
 * Connections, listens and pairs are made in a helper with the original pid and credentials, so
 * SO_PEERCRED reads back the same (unix-helper.c); names whose file was removed are bound hidden.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#define LOG_PREFIX "unix: "
#include "common/log.h"
#include "common/cleanup.h"
#include "files/sockopt.h"
#include "files/sktree.h"
#include "files/unix-internal.h"

#define UX_KEY(ino) ((0x55ULL << 56) | ((ino) & ((1ULL << 56) - 1)))
#define REFILL_BUF (64 << 20)

struct ux_sock {
	const Usk *u;
	int fd;			/* ferry's socket, -1 until made */
	int ns;			/* bound hidden: the mount namespace where its name leads (-1: none) */
	int peer;		/* the peer's index, -1 */
	int connected;		/* connected (by connect(), or born so) */
	int paired;		/* made with its peer (a pair, or accepted): its queue comes from it */
	int other;		/* its peer is gone: the stand-in that sends its queue, then closes */
	int filled;		/* its queue is in */
};

/* What a client sent to a connection not accepted yet, sent again once every socket exists. */
struct ux_pend {
	int fd;			/* the client end */
	int own;		/* a stand-in for a client that is gone: closed once it has sent */
	Ferry__UnixMsg *const *msgs;	/* what the client sent (unix-pending.img) */
	size_t n_msgs;
	int type;
};

struct ux_world {
	struct restore_ctx *ctx;
	struct ux_sock *s;
	size_t n;
	struct ux_pend *pend;
	size_t npend;
	struct ferry_err *err;
};

struct restore_ctx *ux_world_ctx(struct ux_world *w)
{
	return w->ctx;
}

static int find(struct ux_world *w, uint64_t ino)
{
	for (size_t i = 0; ino && i < w->n; i++)
		if (w->s[i].u->ino == ino)
			return (int)i;
	return -1;
}

int ux_world_fd(struct ux_world *w, uint64_t ino)
{
	int i = find(w, ino);
	return i < 0 ? -1 : w->s[i].fd;
}

static const char *str(const struct ux_sock *s, char *buf, size_t size)
{
	return ux_str(s->u, buf, size);
}

/* ------------------------------------------------------------------ names */

/* The address of a name; abs: a relative path is prefixed with the directory it was bound from. */
static int make_addr(const Usk *u, const ProtobufCBinaryData *name, int abs, struct sockaddr_un *sa, socklen_t *len)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (abs && name->len && name->data[0] && name->data[0] != '/' && u->bind_cwd) {
		int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%.*s", u->bind_cwd, (int)name->len,
				 (const char *)name->data);
		if (n < 0 || (size_t)n >= sizeof(sa->sun_path))
			return -ENAMETOOLONG;
		*len = offsetof(struct sockaddr_un, sun_path) + n + 1;
		return 0;
	}
	if (name->len > sizeof(sa->sun_path))
		return -EBADMSG;
	memcpy(sa->sun_path, name->data, name->len);
	*len = offsetof(struct sockaddr_un, sun_path) + name->len;
	return 0;
}

static int is_hidden(const Usk *u)
{
	return u->hidden || u->file_gone;
}

/* A socket file nothing is bound to any more (it died with the original): connect() is refused. */
static int stale(const struct sockaddr_un *sa, socklen_t len)
{
	struct stat st;
	_cleanup_close_ int probe = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	return lstat(sa->sun_path, &st) == 0 && S_ISSOCK(st.st_mode) && probe >= 0 &&
	       connect(probe, (const struct sockaddr *)sa, len) < 0 && errno == ECONNREFUSED;
}

/* A stale socket file at the path goes; a live socket's or any other file stays (EADDRINUSE). */
static int bind_visible(const Usk *u, int sk, const struct sockaddr_un *sa, socklen_t len)
{
	_cleanup_close_ int here = -1;
	if (u->bind_cwd && sa->sun_path[0] != '/' && ((here = open(".", O_PATH | O_CLOEXEC)) < 0 || chdir(u->bind_cwd) < 0))
		return -errno;
	int r = bind(sk, (const struct sockaddr *)sa, len) < 0 ? -errno : 0;
	if (r == -EADDRINUSE && stale(sa, len) && unlink(sa->sun_path) == 0)
		r = bind(sk, (const struct sockaddr *)sa, len) < 0 ? -errno : 0;
	if (r == 0 && u->has_file_mode && (chmod(sa->sun_path, u->file_mode) < 0 ||
					   lchown(sa->sun_path, u->file_uid, u->file_gid) < 0))
		r = -errno;
	if (here >= 0 && fchdir(here) < 0 && r == 0)
		r = -errno;
	return r;
}

/* Binds s's socket fd to u's name (abstract, visible path, or hidden path). */
static int bind_name(struct ux_world *w, struct ux_sock *s, int fd, const Usk *u)
{
	char what[300];
	struct sockaddr_un sa;
	socklen_t len;
	if (!u->has_name || !u->name.len)
		return 0;
	int r = make_addr(u, &u->name, 0, &sa, &len);
	if (r == 0 && !sa.sun_path[0])
		r = bind(fd, (struct sockaddr *)&sa, len) < 0 ? -errno : 0;
	else if (r == 0 && is_hidden(u)) {
		r = uxh_bind_hidden(fd, &sa, len, u->bind_cwd);
		if (r >= 0 && s)
			s->ns = r;
		else if (r >= 0)
			close(r);
		r = r < 0 ? r : 0;
	} else if (r == 0) {
		r = bind_visible(u, fd, &sa, len);
	}
	return r < 0 ? fe_set(w->err, -r, "bind %s", ux_str(u, what, sizeof(what))) : 0;
}

static int new_socket(struct ux_world *w, const Usk *u)
{
	char what[300];
	int sk = socket(AF_UNIX, (int)u->type | SOCK_CLOEXEC, 0);
	return sk < 0 ? fe_set(w->err, errno, "create %s", ux_str(u, what, sizeof(what))) : sk;
}

/* connect(fd) to target's name, as cred, where the name leads (ns). */
static int connect_to(struct ux_world *w, int fd, const Usk *target, const ProtobufCBinaryData *name, int ns,
		      const Ferry__UnixCred *cred)
{
	char n[256];
	struct ux_op op = { .kind = UXOP_CONNECT, .fd = fd };
	int r = make_addr(target, name, 1, &op.addr, &op.alen);
	if (r == 0)
		r = uxh_run(cred, ns, &op);
	return r < 0 ? fe_set(w->err, -r, "connect to %s", ux_name_str(name->data, name->len, n, sizeof(n))) : 0;
}

/* ------------------------------------------------------------------ queues */

/* Sends s's queue from writer, connected to it. */
static int fill_from(struct ux_world *w, struct ux_sock *s, int writer)
{
	char what[300];
	const Usk *u = s->u;
	if (s->filled || !u->n_msgs)
		return 0;
	sockopt_set_buf(writer, SO_SNDBUF, REFILL_BUF);
	int r = uq_send(w, u->msgs, u->n_msgs, writer, (int)u->type, NULL, 0, -1, w->err);
	s->filled = 1;
	return r < 0 ? fe_wrap(w->err, r, "refill %s", str(s, what, sizeof(what))) : 0;
}

/* The image socket bound to name (a datagram's sender), or -1. */
static int by_name(struct ux_world *w, const ProtobufCBinaryData *name)
{
	for (size_t i = 0; i < w->n; i++) {
		const Usk *u = w->s[i].u;
		if (w->s[i].fd >= 0 && u->has_name && u->name.len == name->len && !memcmp(u->name.data, name->data, name->len) &&
		    (u->state != UX_ESTABLISHED || u->type == SOCK_DGRAM))
			return (int)i;
	}
	return -1;
}

/* A throwaway sender bound to name (hidden when it is a path), or unbound. */
static int temp_sender(struct ux_world *w, const Usk *rx, const Ferry__UnixMsg *m)
{
	int fd = socket(AF_UNIX, (int)rx->type | SOCK_CLOEXEC, 0);
	if (fd < 0 || !m->has_sender || !m->sender.len)
		return fd < 0 ? fe_set(w->err, errno, "a sender") : fd;
	Usk as = FERRY__UNIX_SK_ENTRY__INIT;
	as.has_name = as.hidden = 1;
	as.name = m->sender;
	as.bind_cwd = rx->bind_cwd;
	if (bind_name(w, NULL, fd, &as) < 0) {
		char n[256];
		pr_warn("a message from %s is sent again from an unnamed socket: that name is taken\n",
			ux_name_str(m->sender.data, m->sender.len, n, sizeof(n)));
		close(fd);
		fd = socket(AF_UNIX, (int)rx->type | SOCK_CLOEXEC, 0);
	}
	return fd;
}

/* A datagram queue: each message from its sender's address, to this socket's name. */
static int fill_dgram(struct ux_world *w, struct ux_sock *s)
{
	char what[300];
	const Usk *u = s->u;
	struct sockaddr_un to;
	socklen_t tolen;
	if (s->filled || !u->n_msgs)
		return 0;
	if (!u->has_name || !u->name.len)
		return fe_msg(w->err, EBADMSG, "%s: messages queued on an unnamed socket not in a pair", str(s, what, sizeof(what)));
	if (make_addr(u, &u->name, 1, &to, &tolen) < 0)
		return fe_msg(w->err, EBADMSG, "%s: bad name", str(s, what, sizeof(what)));
	for (size_t i = 0; i < u->n_msgs; i++) {
		const Ferry__UnixMsg *m = u->msgs[i];
		int si = m->has_sender && m->sender.len ? by_name(w, &m->sender) : -1, r;
		_cleanup_close_ int tmp = si >= 0 ? -1 : temp_sender(w, u, m);
		int writer = si >= 0 ? w->s[si].fd : tmp;
		if (writer < 0)
			return writer;
		sockopt_set_buf(writer, SO_SNDBUF, REFILL_BUF);
		r = uq_send(w, &u->msgs[i], 1, writer, (int)u->type, &to, tolen, s->ns, w->err);
		if (r < 0)
			return fe_wrap(w->err, r, "refill %s", str(s, what, sizeof(what)));
	}
	s->filled = 1;
	return 0;
}

/* ------------------------------------------------------------------ connections */

/* A stream or datagram pair made by socketpair(), as whoever made it. */
static int pair_plain(struct ux_world *w, struct ux_sock *a, int *bfd)
{
	struct ux_op op = { .kind = UXOP_SOCKETPAIR, .type = (int)a->u->type };
	int r = uxh_run(a->u->peer_cred, -1, &op);
	if (r < 0)
		return fe_set(w->err, -r, "socketpair");
	a->fd = op.out[0];
	*bfd = op.out[1];
	return 0;
}

/*
 * Both ends of a stream pair through a throwaway listener bound to a's name where no path leads:
 * a is the accepted end, so it carries the name. bu: the other end's entry (its own name), NULL
 * for a stand-in. The listen() is bcred's, the connect() a's peer's (SO_PEERCRED of each end).
 */
static int pair_by_name(struct ux_world *w, struct ux_sock *a, const Usk *bu, int *bfd)
{
	const Usk *au = a->u;
	Usk lu = *au;
	lu.hidden = 1;
	_cleanup_close_ int lsn = new_socket(w, au), ns = -1;
	struct ux_sock tmp = { .u = &lu, .fd = -1, .ns = -1 };
	if (lsn < 0)
		return lsn;
	int r = bind_name(w, &tmp, lsn, &lu);
	ns = tmp.ns;
	if (r < 0 && !au->name.data[0]) {
		char n[256];
		pr_warn("abstract name %s is taken: a connection on it comes back unnamed\n",
			ux_name_str(au->name.data, au->name.len, n, sizeof(n)));
		return pair_plain(w, a, bfd);
	}
	struct ux_op op = { .kind = UXOP_LISTEN, .fd = lsn, .backlog = 1 };
	if (r == 0 && (r = uxh_run(bu ? bu->peer_cred : NULL, -1, &op)) < 0)
		r = fe_set(w->err, -r, "listen");
	_cleanup_close_ int b = r < 0 ? -1 : new_socket(w, au);
	if (r == 0 && b < 0)
		r = b;
	if (r == 0 && bu)
		r = bind_name(w, NULL, b, bu);
	if (r == 0)
		r = connect_to(w, b, &lu, &lu.name, ns, au->peer_cred);
	if (r == 0 && (a->fd = accept4(lsn, NULL, NULL, SOCK_CLOEXEC)) < 0)
		r = fe_set(w->err, errno, "accept");
	if (r == 0)
		*bfd = TAKE_FD(b);
	return r;
}

static int named(const Usk *u)
{
	return u && u->has_name && u->name.len;
}

/* A pair for a (b: its peer's entry, or NULL): by name when a stream end has one. */
static int make_pair(struct ux_world *w, struct ux_sock *a, const Usk *bu, int *bfd)
{
	if (a->u->type != SOCK_DGRAM && named(a->u))
		return pair_by_name(w, a, bu, bfd);
	return pair_plain(w, a, bfd);
}

/*
 * Two image sockets connected to each other; the named one (if any) is the accepted end. A
 * datagram pair made by socketpair() (it has credentials) gets its names afterwards.
 */
static int open_pair(struct ux_world *w, struct ux_sock *a, struct ux_sock *b)
{
	struct ux_sock *srv = a, *cli = b;
	if (!named(a->u) && named(b->u))
		srv = b, cli = a;
	int r = make_pair(w, srv, cli->u, &cli->fd);
	a->connected = b->connected = a->paired = b->paired = 1;
	if (r == 0 && a->u->type == SOCK_DGRAM && (r = bind_name(w, a, a->fd, a->u)) == 0)
		r = bind_name(w, b, b->fd, b->u);
	return r;
}

/* A socket whose peer is gone: made with a stand-in peer that sends its queue and closes later. */
static int open_widowed(struct ux_world *w, struct ux_sock *s)
{
	int r = make_pair(w, s, NULL, &s->other);
	s->connected = 1;
	return r;
}

static int add_pend(struct ux_world *w, int fd, int own, const Ferry__UnixPendingConn *pc, int type)
{
	struct ux_pend *n = realloc(w->pend, (w->npend + 1) * sizeof(*n));
	if (!n)
		return fe_set(w->err, ENOMEM, "pending connections");
	w->pend = n;
	w->pend[w->npend++] = (struct ux_pend){ fd, own, pc ? pc->msgs : NULL, pc ? pc->n_msgs : 0, type };
	return 0;
}

/*
 * A connection to listener l from client c (NULL: a client that is gone); pc: what it held and who
 * made it, read at dump (NULL: not read, the credentials are a guess in ic).
 */
static int pending_one(struct ux_world *w, struct ux_sock *l, struct ux_sock *c, const Ferry__UnixIcon *ic,
		       const Ferry__UnixPendingConn *pc)
{
	const Usk *lu = l->u;
	const Ferry__UnixCred *cred = pc && pc->cred ? pc->cred : ic ? ic->cred : NULL;
	int fd = c ? c->fd : new_socket(w, lu), r = 0;
	if (c && fd < 0 && (fd = c->fd = new_socket(w, c->u)) >= 0)
		r = bind_name(w, c, fd, c->u);
	if (fd < 0)
		return fd;
	if (r == 0)
		r = connect_to(w, fd, lu, &lu->name, l->ns, cred);
	if (c)
		c->connected = 1;
	if (r == 0 && (!c || (pc && pc->n_msgs)))
		return add_pend(w, fd, !c, pc, (int)lu->type);
	if (!c)
		close(fd);
	return r;
}

/* A connection l accepted before the dump: connect + accept, so the server end has l's name. */
static int accepted_one(struct ux_world *w, struct ux_sock *l, struct ux_sock *x)
{
	struct ux_sock *c = x->peer >= 0 ? &w->s[x->peer] : NULL;
	int r = 0;
	if (c && c->fd < 0 && (c->fd = new_socket(w, c->u)) >= 0)
		r = bind_name(w, c, c->fd, c->u);
	else if (!c)
		x->other = new_socket(w, x->u);
	int cfd = c ? c->fd : x->other;
	if (r == 0 && cfd < 0)
		r = cfd;
	if (r == 0)
		r = connect_to(w, cfd, l->u, &l->u->name, l->ns, x->u->peer_cred);
	if (r == 0 && (x->fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
		r = fe_set(w->err, errno, "accept a connection again");
	x->connected = x->paired = 1;
	if (c)
		c->connected = c->paired = 1;
	return r;
}

/* Connections l accepted before the dump, then the ones it had not. */
static int listener_conns(struct ux_world *w, struct ux_sock *l)
{
	const Usk *lu = l->u;
	int r = 0;
	for (size_t i = 0; i < w->n && r == 0; i++) {
		struct ux_sock *x = &w->s[i];
		if (x->u->accepted_from == lu->ino && x->u->state == UX_ESTABLISHED && x->fd < 0)
			r = accepted_one(w, l, x);
	}
	for (size_t i = 0; i < lu->n_icons && r == 0; i++) {
		int ci = find(w, lu->icons[i]->client);
		const Ferry__UnixPendingConn *pc = sk_pending_conn(w->ctx, lu->ino, i);
		if (!pc && lu->icons_read)
			return fe_msg(w->err, EBADMSG, "unix-pending.img lacks pending connection %zu of unix socket %llu",
				      i, (unsigned long long)lu->ino);
		r = pending_one(w, l, ci >= 0 ? &w->s[ci] : NULL, lu->icons[i], pc);
	}
	for (size_t i = 0; !lu->n_icons && i < lu->n_pending && r == 0; i++) {	/* older images */
		int ci = find(w, lu->pending[i]);
		r = ci >= 0 ? pending_one(w, l, &w->s[ci], NULL, NULL) : 0;
	}
	return r;
}

static int open_listener(struct ux_world *w, struct ux_sock *l)
{
	char what[300];
	int r;
	if ((l->fd = new_socket(w, l->u)) < 0)
		return l->fd;
	if ((r = sockopt_restore(l->fd, l->u->opts, l->u->n_opts, SKOPT_EARLY, w->err)) < 0 ||
	    (r = bind_name(w, l, l->fd, l->u)) < 0)
		return r;
	struct ux_op op = { .kind = UXOP_LISTEN, .fd = l->fd, .backlog = (int)l->u->backlog };
	if ((r = uxh_run(l->u->peer_cred, -1, &op)) < 0)
		return fe_set(w->err, -r, "listen on %s", str(l, what, sizeof(what)));
	return listener_conns(w, l);
}

/* Made with its listener: accepted from one in the image, or waiting to be. */
static int by_listener(struct ux_world *w, const Usk *u)
{
	return u->state == UX_ESTABLISHED && (u->has_pending_on || (u->accepted_from && find(w, u->accepted_from) >= 0));
}

/* Step 1 for one socket. */
static int open_one(struct ux_world *w, struct ux_sock *s)
{
	const Usk *u = s->u;
	struct ux_sock *p = s->peer >= 0 && !u->self_conn ? &w->s[s->peer] : NULL;
	if (s->fd >= 0 || by_listener(w, u) || (p && by_listener(w, p->u)))
		return 0;
	if (u->state == UX_LISTEN)
		return open_listener(w, s);
	if (p && p->u->peer_ino == u->ino && p->u->state == UX_ESTABLISHED &&
	    (u->type != SOCK_DGRAM || (!named(u) && !named(p->u)) || u->peer_cred))
		return open_pair(w, s, p);
	if (u->state == UX_ESTABLISHED && !p && !u->self_conn &&
	    (u->type != SOCK_DGRAM || (!named(u) && !u->has_peer_name)))
		return open_widowed(w, s);
	if ((s->fd = new_socket(w, u)) < 0)
		return s->fd;
	int r = sockopt_restore(s->fd, u->opts, u->n_opts, SKOPT_EARLY, w->err);
	return r < 0 ? r : bind_name(w, s, s->fd, u);
}

/* Step 2: what clients sent to connections not accepted yet. */
static int fill_pending(struct ux_world *w)
{
	int r = 0;
	for (size_t i = 0; i < w->npend; i++) {
		struct ux_pend *p = &w->pend[i];
		if (r == 0 && p->n_msgs) {
			sockopt_set_buf(p->fd, SO_SNDBUF, REFILL_BUF);
			r = uq_send(w, p->msgs, p->n_msgs, p->fd, p->type, NULL, 0, -1, w->err);
		}
		if (p->own)
			close(p->fd);
	}
	w->npend = 0;
	return r;
}

/* A queue sent by the peer the socket was made with; a gone peer then resets it, and closes. */
static int fill_paired(struct ux_world *w, struct ux_sock *s)
{
	char what[300];
	int r = 0;
	if (s->paired && s->peer >= 0)
		r = fill_from(w, s, w->s[s->peer].fd);
	if (s->other < 0)
		return r;
	if (r == 0)
		r = fill_from(w, s, s->other);
	if (r == 0 && s->u->reset && s->u->type != SOCK_DGRAM &&
	    send(s->fd, "r", 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1)	/* unread when the peer closes: a reset */
		r = fe_set(w->err, errno, "%s: make its reset", str(s, what, sizeof(what)));
	close(s->other);
	s->other = -1;
	return r;
}

/* ------------------------------------------------------------------ datagram connects */

/* May s connect now? Not while a socket still to connect to s waits (it could not, after). */
static int may_connect(struct ux_world *w, size_t i)
{
	for (size_t k = 0; k < w->n; k++)
		if (k != i && w->s[k].peer == (int)i && !w->s[k].connected && w->s[k].u->type == SOCK_DGRAM)
			return 0;
	return 1;
}

static int dgram_connect(struct ux_world *w, struct ux_sock *s)
{
	const Usk *u = s->u;
	s->connected = 1;
	if (s->peer >= 0) {
		struct ux_sock *p = &w->s[s->peer];
		return connect_to(w, s->fd, p->u, &p->u->name, p->ns, NULL);
	}
	if (u->has_peer_name)	/* outside the tree: by name (--ext-unix-sk) */
		return connect_to(w, s->fd, u, &u->peer_name, -1, NULL);
	return 0;
}

static int dgram_connects(struct ux_world *w)
{
	for (int progress = 1; progress;) {
		progress = 0;
		for (size_t i = 0; i < w->n; i++) {
			struct ux_sock *s = &w->s[i];
			if (s->connected || s->u->type != SOCK_DGRAM || s->u->state != UX_ESTABLISHED || !may_connect(w, i))
				continue;
			int r = dgram_connect(w, s);
			if (r < 0)
				return r;
			progress = 1;
		}
	}
	for (size_t i = 0; i < w->n; i++)	/* what is left waits on a cycle: the kernel decides */
		if (!w->s[i].connected && w->s[i].u->type == SOCK_DGRAM && w->s[i].u->state == UX_ESTABLISHED) {
			int r = dgram_connect(w, &w->s[i]);
			if (r < 0)
				return r;
		}
	return 0;
}

/* ------------------------------------------------------------------ the world */

static void do_shutdown(const Usk *u, int sk)
{
	if (u->shutdown & UX_SHUT_SEND)
		shutdown(sk, SHUT_WR);
	if (u->shutdown & UX_SHUT_RCV)
		shutdown(sk, SHUT_RD);
}

/* Options of older images, which had a few named fields. */
static int legacy_opts(const Usk *u, int sk, struct ferry_err *err)
{
	int pc = u->passcred, po = u->has_peek_off ? u->peek_off : -1;
	if (u->has_sndbuf)
		sockopt_set_buf(sk, SO_SNDBUF, (int)u->sndbuf);
	if (u->has_rcvbuf)
		sockopt_set_buf(sk, SO_RCVBUF, (int)u->rcvbuf);
	if ((u->passcred && setsockopt(sk, SOL_SOCKET, SO_PASSCRED, &pc, sizeof(pc)) < 0) ||
	    (po >= 0 && setsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &po, sizeof(po)) < 0))
		return fe_set(err, errno, "options");
	return 0;
}

/* A socket file renamed since the bind goes where it was, once every connect by its name is made. */
static int rename_file(const Usk *u)
{
	struct sockaddr_un sa;
	socklen_t len;
	if (!u->file_now || is_hidden(u) || !u->has_name || !u->name.len || !u->name.data[0])
		return 0;
	int r = make_addr(u, &u->name, 1, &sa, &len);
	return r < 0 ? r : rename(sa.sun_path, u->file_now) < 0 ? -errno : 0;
}

static int finish(struct ux_world *w, struct ux_sock *s)
{
	char what[300];
	const Usk *u = s->u;
	do_shutdown(u, s->fd);
	int r = u->n_opts ? sockopt_restore(s->fd, u->opts, u->n_opts, SKOPT_ALL, w->err) : legacy_opts(u, s->fd, w->err);
	if (r == 0 && (r = rename_file(u)) < 0)
		r = fe_set(w->err, -r, "rename its file to %s", u->file_now);
	return r < 0 ? fe_wrap(w->err, r, "%s", str(s, what, sizeof(what))) : 0;
}

static int build(struct ux_world *w)
{
	int r = 0;
	for (size_t i = 0; i < w->n && r == 0; i++)
		r = open_one(w, &w->s[i]);
	for (size_t i = 0; i < w->n && r == 0; i++)
		if (w->s[i].fd < 0)
			r = fe_msg(w->err, EBADMSG, "unix socket %llu: nothing in the image makes it (its listener?)",
				   (unsigned long long)w->s[i].u->ino);
	if (r == 0)
		r = fill_pending(w);
	for (size_t i = 0; i < w->n && r == 0; i++)
		r = w->s[i].u->type == SOCK_DGRAM && !w->s[i].paired && w->s[i].other < 0 ? fill_dgram(w, &w->s[i])
											    : fill_paired(w, &w->s[i]);
	if (r == 0)
		r = dgram_connects(w);
	for (size_t i = 0; i < w->n && r == 0; i++)
		r = finish(w, &w->s[i]);
	return r;
}

static int collect(struct ux_world *w)
{
	const Ferry__Files *files = w->ctx->files;
	w->s = calloc(files->n_files + 1, sizeof(*w->s));
	if (!w->s)
		return fe_set(w->err, ENOMEM, "unix sockets");
	for (size_t i = 0; i < files->n_files; i++) {
		const Ferry__FileEntry *fe = files->files[i];
		if (fe->kind != FERRY__FILE_KIND__FILE_UNIX_SK)
			continue;
		const Usk *u = fe->unix_sk;
		if (!u || !u->has_ino || !u->has_type)
			return fe_msg(w->err, EBADMSG, "files.img: unix socket %u has no socket part", fe->id);
		if (u->type != SOCK_STREAM && u->type != SOCK_DGRAM && u->type != SOCK_SEQPACKET)
			return fe_msg(w->err, EBADMSG, "files.img: unix socket %u: bad type %u", fe->id, u->type);
		w->s[w->n++] = (struct ux_sock){ .u = u, .fd = -1, .ns = -1, .peer = -1, .other = -1 };
	}
	for (size_t i = 0; i < w->n; i++)
		w->s[i].peer = w->s[i].u->self_conn ? (int)i : find(w, w->s[i].u->peer_ino);
	return 0;
}

static void release(struct ux_world *w, int keep)
{
	uxh_release_pids();
	for (size_t i = 0; i < w->npend; i++)
		if (w->pend[i].own)
			close(w->pend[i].fd);
	free(w->pend);
	for (size_t i = 0; i < w->n; i++) {
		if (w->s[i].ns >= 0)
			close(w->s[i].ns);
		if (w->s[i].other >= 0)
			close(w->s[i].other);
		if (!keep && w->s[i].fd >= 0)
			close(w->s[i].fd);
	}
	free(w->s);
}

static int build_world(struct restore_ctx *ctx, struct ferry_err *err)
{
	struct ux_world w = { .ctx = ctx, .err = err };
	int r = collect(&w);
	if (r == 0)
		r = build(&w);
	for (size_t i = 0; i < w.n && r == 0; i++) {
		if ((r = files_stash_put(ctx, UX_KEY(w.s[i].u->ino), w.s[i].fd)) < 0)
			r = fe_set(err, -r, "stash");
		else
			w.s[i].fd = -1;
	}
	release(&w, 0);
	ctx->unix_built = 1;
	return r;
}

int unix_sk_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	if (!fe->unix_sk || !fe->unix_sk->has_ino)
		return fe_msg(err, EBADMSG, "files.img: unix socket %u has no socket part", fe->id);
	int r = ctx->unix_built ? 0 : build_world(ctx, err);
	if (r < 0)
		return r;
	int fd = files_stash_take(ctx, UX_KEY(fe->unix_sk->ino));
	if (fd < 0)
		return fe_msg(err, EBADMSG, "unix socket %llu: made twice, or never", (unsigned long long)fe->unix_sk->ino);
	return fd;	/* status flags (O_NONBLOCK...) are set by files.c, owner and O_ASYNC by fown.c */
}
