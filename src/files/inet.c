/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IPv4/IPv6 TCP and UDP sockets. A listening TCP socket or a bound (or connected) UDP socket comes
 * back on its address with the options that matter and its listen backlog (TCP_INFO reports
 * sk_max_ack_backlog as tcpi_sacked on a listener). Connections queued on a listener and not yet
 * accepted are lost (logged). Datagrams queued on a UDP socket are peeked and re-sent to it from
 * their source address; one whose source cannot be bound at restore is dropped with a warning (so is
 * an empty datagram an earlier dump already peeked: the kernel hides it from later peeks). An
 * established TCP connection is refused, or with --tcp-close restored as a connection reset by its
 * peer (see restore_reset()).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#define LOG_PREFIX "inet: "
#include "common/log.h"
#include "common/cleanup.h"
#include "files/files.h"

#define QUEUE_MAX_BYTES (4U << 20)	/* UDP receive queue carried in the image, at most */
#define DGRAM_MAX 65536

typedef Ferry__InetSkEntry Sk;

union sa {
	struct sockaddr sa;
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
};

/* ------------------------------------------------------------------ options */

enum { ANY = 0, V4 = 1, V6 = 2, TCP = 4 };

struct sk_opt {
	int level, name;
	size_t has_off, val_off;
	unsigned only;		/* V4, V6, TCP: where the option exists */
	int before_bind;
};

#define OPT(lvl, nm, field, only, bb) \
	{ lvl, nm, offsetof(Sk, has_##field), offsetof(Sk, field), only, bb }

/* SO_REUSEADDR is not here: bind() needs it on for a moment (listeners, see bind_listen()). */
static const struct sk_opt sk_opts[] = {
	OPT(SOL_SOCKET, SO_REUSEPORT, reuseport, ANY, 1),
	OPT(SOL_SOCKET, SO_RCVBUF, rcvbuf, ANY, 1),
	OPT(SOL_SOCKET, SO_SNDBUF, sndbuf, ANY, 1),
	OPT(SOL_SOCKET, SO_KEEPALIVE, keepalive, ANY, 0),
	OPT(SOL_SOCKET, SO_BROADCAST, broadcast, ANY, 0),
	OPT(IPPROTO_IPV6, IPV6_V6ONLY, v6only, V6, 1),
	OPT(IPPROTO_IP, IP_TOS, ip_tos, V4, 0),
	OPT(IPPROTO_IP, IP_TTL, ip_ttl, V4, 0),
	OPT(IPPROTO_IPV6, IPV6_TCLASS, ip_tos, V6, 0),
	OPT(IPPROTO_IPV6, IPV6_UNICAST_HOPS, ip_ttl, V6, 0),
	OPT(IPPROTO_TCP, TCP_NODELAY, nodelay, TCP, 0),
	OPT(IPPROTO_TCP, TCP_KEEPIDLE, keepidle, TCP, 0),
	OPT(IPPROTO_TCP, TCP_KEEPINTVL, keepintvl, TCP, 0),
	OPT(IPPROTO_TCP, TCP_KEEPCNT, keepcnt, TCP, 0),
};

static unsigned sk_kind(const Sk *sk)
{
	return (sk->family == FERRY__INET_FAMILY__INET_V6 ? V6 : V4) |
	       (sk->proto == FERRY__INET_PROTO__INET_TCP ? TCP : 0);
}

static int opt_applies(const struct sk_opt *o, unsigned kind)
{
	if ((o->only & (V4 | V6)) && !(o->only & kind & (V4 | V6)))
		return 0;
	return !(o->only & TCP) || (kind & TCP);
}

static int getopt_int(int fd, int level, int name, int *val)
{
	socklen_t len = sizeof(*val);
	return getsockopt(fd, level, name, val, &len) < 0 ? -errno : 0;
}

static int dump_opts(int fd, Sk *sk)
{
	unsigned kind = sk_kind(sk);
	for (size_t i = 0; i < ARRAY_SIZE(sk_opts); i++) {
		const struct sk_opt *o = &sk_opts[i];
		if (!opt_applies(o, kind))
			continue;
		if (getopt_int(fd, o->level, o->name, (int32_t *)((char *)sk + o->val_off)) == 0)
			*(protobuf_c_boolean *)((char *)sk + o->has_off) = 1;
	}
	sk->has_reuseaddr = getopt_int(fd, SOL_SOCKET, SO_REUSEADDR, &sk->reuseaddr) == 0;
	return 0;
}

/* Sets each saved option that differs from what the fresh socket fd has (buffers: forced, as root). */
static int restore_opts(int fd, const Sk *sk, int before_bind, struct ferry_err *err)
{
	unsigned kind = sk_kind(sk);
	for (size_t i = 0; i < ARRAY_SIZE(sk_opts); i++) {
		const struct sk_opt *o = &sk_opts[i];
		int want = *(const int32_t *)((const char *)sk + o->val_off), now;
		if (!opt_applies(o, kind) || o->before_bind != before_bind ||
		    !*(const protobuf_c_boolean *)((const char *)sk + o->has_off))
			continue;
		if (getopt_int(fd, o->level, o->name, &now) == 0 && now == want)
			continue;
		int r = -1, name = o->name, val = want;
		if (o->level == SOL_SOCKET && (name == SO_RCVBUF || name == SO_SNDBUF)) {
			val = want / 2;	/* the kernel doubles what it is given */
			r = setsockopt(fd, SOL_SOCKET, name == SO_RCVBUF ? SO_RCVBUFFORCE : SO_SNDBUFFORCE,
				       &val, sizeof(val));
		}
		if (r < 0 && setsockopt(fd, o->level, name, &val, sizeof(val)) < 0)
			return fe_set(err, errno, "setsockopt(%d, %d) = %d", o->level, name, val);
	}
	return 0;
}

/* ------------------------------------------------------------------ addresses */

static void fmt_addr(int v6, const void *addr, unsigned port, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN] = "?";
	if (addr)
		inet_ntop(v6 ? AF_INET6 : AF_INET, addr, a, sizeof(a));
	snprintf(buf, size, v6 ? "[%s]:%u" : "%s:%u", a, port);
}

static void fmt_sk(const Sk *sk, int peer, char *buf, size_t size)
{
	const ProtobufCBinaryData *b = peer ? &sk->dst_addr : &sk->src_addr;
	fmt_addr(sk->family == FERRY__INET_FAMILY__INET_V6, b->len ? b->data : NULL,
		 peer ? sk->dst_port : sk->src_port, buf, size);
}

/* Splits a sockaddr into image fields; returns the port. */
static unsigned sa_split(struct arena *a, const union sa *s, ProtobufCBinaryData *addr, uint32_t *scope)
{
	int v6 = s->sa.sa_family == AF_INET6;
	addr->len = v6 ? 16 : 4;
	addr->data = arena_memdup(a, v6 ? (const void *)&s->v6.sin6_addr : (const void *)&s->v4.sin_addr, addr->len);
	if (scope)
		*scope = v6 ? s->v6.sin6_scope_id : 0;
	return ntohs(v6 ? s->v6.sin6_port : s->v4.sin_port);
}

/* Builds a sockaddr from image fields; -EBADMSG if the address does not fit the family. */
static int sa_join(int v6, const ProtobufCBinaryData *addr, unsigned port, uint32_t scope, union sa *s,
		   socklen_t *len)
{
	memset(s, 0, sizeof(*s));
	if (addr->len != (v6 ? 16U : 4U) || port > 65535)
		return -EBADMSG;
	if (v6) {
		s->v6.sin6_family = AF_INET6;
		memcpy(&s->v6.sin6_addr, addr->data, 16);
		s->v6.sin6_port = htons(port);
		s->v6.sin6_scope_id = scope;
	} else {
		s->v4.sin_family = AF_INET;
		memcpy(&s->v4.sin_addr, addr->data, 4);
		s->v4.sin_port = htons(port);
	}
	*len = v6 ? sizeof(s->v6) : sizeof(s->v4);
	return 0;
}

/* ------------------------------------------------------------------ dump */

static int inet_match(const struct fd_info *fi, const struct dump_opts *o)
{
	int dom, proto;
	if (!S_ISSOCK(fi->st.st_mode) || fi->stolen < 0 ||
	    getopt_int(fi->stolen, SOL_SOCKET, SO_DOMAIN, &dom) < 0 ||
	    getopt_int(fi->stolen, SOL_SOCKET, SO_PROTOCOL, &proto) < 0)
		return 0;
	return (dom == AF_INET || dom == AF_INET6) && (proto == IPPROTO_TCP || proto == IPPROTO_UDP);
}

/* Appends one peeked datagram to sk->queue (*cap: its allocated length). */
static int queue_add(struct arena *a, Sk *sk, size_t *cap, const char *buf, size_t n, const union sa *from,
		     socklen_t fl)
{
	if (sk->n_queue == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		Ferry__InetDgram **q = ARENA_ARRAY(a, Ferry__InetDgram *, *cap);
		if (!q)
			return -ENOMEM;
		if (sk->n_queue)
			memcpy(q, sk->queue, sk->n_queue * sizeof(*q));
		sk->queue = q;
	}
	Ferry__InetDgram *d = ARENA_NEW(a, Ferry__InetDgram);
	if (!d)
		return -ENOMEM;
	ferry__inet_dgram__init(d);
	d->data.len = n;
	d->data.data = arena_memdup(a, buf, n ? n : 1);
	if (fl >= sizeof(struct sockaddr_in)) {
		d->has_src_addr = d->has_src_port = 1;
		d->src_port = sa_split(a, from, &d->src_addr, NULL);
	}
	sk->queue[sk->n_queue++] = d;
	return d->data.data ? 0 : -ENOMEM;
}

/* Peeks the whole UDP receive queue (SO_PEEK_OFF walks it; the task's peek offset is put back). */
static int dump_queue(struct dump_ctx *ctx, int fd, Sk *sk)
{
	int old = -1, zero = 0, r = 0;
	if (getopt_int(fd, SOL_SOCKET, SO_PEEK_OFF, &old) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) < 0)
		return fe_set(ctx->err, errno, "peek offset");
	_cleanup_free_ char *buf = malloc(DGRAM_MAX);
	size_t total = 0, cap = 0;
	while (buf && r == 0) {
		union sa from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, DGRAM_MAX, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC, &from.sa, &fl);
		if (n < 0) {
			r = errno == EAGAIN ? 1 : -errno;
		} else if (total + n > QUEUE_MAX_BYTES || n > DGRAM_MAX) {
			sk->has_lost_dgrams = 1;
			sk->lost_dgrams++;
		} else {
			r = queue_add(&ctx->arena, sk, &cap, buf, n, &from, fl);
			total += n;
		}
	}
	setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &old, sizeof(old));
	if (!buf || r < 0)
		return fe_set(ctx->err, buf ? -r : ENOMEM, "peek the receive queue");
	if (sk->lost_dgrams)
		pr_warn("%llu datagrams beyond %u bytes of receive queue are not carried\n",
			(unsigned long long)sk->lost_dgrams, QUEUE_MAX_BYTES);
	return 0;
}

static int dump_tcp_state(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Sk *sk)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	char local[64], peer[64];
	if (getsockopt(fi->stolen, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return fe_set(ctx->err, errno, "TCP_INFO");
	if (ti.tcpi_state == TCP_LISTEN) {
		sk->state = FERRY__INET_STATE__INET_LISTEN;
		sk->has_backlog = 1;
		sk->backlog = ti.tcpi_sacked;	/* for a listener: sk_max_ack_backlog */
		if (ti.tcpi_unacked)		/* and sk_ack_backlog */
			pr_warn("pid %d fd %d: %u connections queued on the listener are lost\n", t->pid, fi->fd,
				ti.tcpi_unacked);
		return 0;
	}
	if (ti.tcpi_state == TCP_CLOSE) {
		sk->state = sk->src_port ? FERRY__INET_STATE__INET_BOUND : FERRY__INET_STATE__INET_UNBOUND;
		return 0;
	}
	fmt_sk(sk, 0, local, sizeof(local));
	fmt_sk(sk, 1, peer, sizeof(peer));
	if (!ctx->opts->tcp_close)
		return fe_msg(ctx->err, EOPNOTSUPP,
			      "TCP connection %s -> %s (pid %d, fd %d, state %u) cannot be checkpointed; "
			      "dump with --tcp-close to restore it as a reset connection",
			      local, peer, t->pid, fi->fd, ti.tcpi_state);
	pr_warn("--tcp-close: TCP connection %s -> %s (pid %d, fd %d) will be restored reset\n", local, peer,
		t->pid, fi->fd);
	sk->state = FERRY__INET_STATE__INET_CLOSED;
	return 0;
}

static int dump_addrs(struct dump_ctx *ctx, int fd, Sk *sk)
{
	union sa s;
	socklen_t len = sizeof(s);
	if (getsockname(fd, &s.sa, &len) < 0)
		return fe_set(ctx->err, errno, "getsockname");
	sk->has_src_addr = sk->has_src_port = sk->has_scope_id = 1;
	sk->src_port = sa_split(&ctx->arena, &s, &sk->src_addr, &sk->scope_id);
	len = sizeof(s);
	if (getpeername(fd, &s.sa, &len) == 0) {
		sk->has_dst_addr = sk->has_dst_port = 1;
		sk->dst_port = sa_split(&ctx->arena, &s, &sk->dst_addr, NULL);
	} else if (errno != ENOTCONN) {
		return fe_set(ctx->err, errno, "getpeername");
	}
	return 0;
}

static int inet_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	Sk *sk = ARENA_NEW(&ctx->arena, Sk);
	int dom, proto, r;
	if (!sk)
		return fe_set(ctx->err, ENOMEM, "socket entry");
	ferry__inet_sk_entry__init(sk);
	if (getopt_int(fi->stolen, SOL_SOCKET, SO_DOMAIN, &dom) < 0 ||
	    getopt_int(fi->stolen, SOL_SOCKET, SO_PROTOCOL, &proto) < 0)
		return fe_set(ctx->err, errno, "socket domain");
	sk->has_ino = sk->has_family = sk->has_proto = sk->has_state = 1;
	sk->ino = fi->st.st_ino;
	sk->family = dom == AF_INET6 ? FERRY__INET_FAMILY__INET_V6 : FERRY__INET_FAMILY__INET_V4;
	sk->proto = proto == IPPROTO_TCP ? FERRY__INET_PROTO__INET_TCP : FERRY__INET_PROTO__INET_UDP;
	if ((r = dump_addrs(ctx, fi->stolen, sk)) < 0)
		return r;
	if (sk->proto == FERRY__INET_PROTO__INET_TCP) {
		r = dump_tcp_state(ctx, t, fi, sk);
	} else {
		int bound = sk->src_port || sk->has_dst_port;
		sk->state = bound ? FERRY__INET_STATE__INET_BOUND : FERRY__INET_STATE__INET_UNBOUND;
		r = dump_queue(ctx, fi->stolen, sk);
	}
	if (r < 0)
		return r;
	dump_opts(fi->stolen, sk);
	fe->inet_sk = sk;
	return 0;
}

/* ------------------------------------------------------------------ restore */

/*
 * --tcp-close: a TCP socket whose connection its peer reset. It is made on loopback (a throwaway
 * listener accepts it and closes with SO_LINGER 0), so the task's next read fails with ECONNRESET,
 * poll reports POLLERR|POLLHUP and writes fail with EPIPE, as after a real reset. Without a usable
 * loopback it falls back to a never-connected socket (reads: ENOTCONN, poll: POLLHUP).
 */
static int restore_reset(int v6, int sflags)
{
	union sa s = { 0 };
	socklen_t len = v6 ? sizeof(s.v6) : sizeof(s.v4);
	struct linger lg = { 1, 0 };
	int fam = v6 ? AF_INET6 : AF_INET;
	_cleanup_close_ int lsn = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int cli = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cli < 0)
		return -errno;
	s.sa.sa_family = fam;
	if (v6)
		s.v6.sin6_addr = in6addr_loopback;
	else
		s.v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lsn >= 0 && bind(lsn, &s.sa, len) == 0 && listen(lsn, 1) == 0 && getsockname(lsn, &s.sa, &len) == 0 &&
	    connect(cli, &s.sa, len) == 0) {
		_cleanup_close_ int acc = accept4(lsn, NULL, NULL, SOCK_CLOEXEC);
		if (acc >= 0 && setsockopt(acc, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0) {
			close(TAKE_FD(acc));
			struct pollfd p = { .fd = cli, .events = POLLIN };
			poll(&p, 1, 1000);
		}
	} else {
		pr_warn("--tcp-close: no loopback to reset a connection on; the socket is left unconnected\n");
		close(cli);
		cli = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (cli < 0)
			return -errno;
	}
	if ((sflags & SOCK_NONBLOCK) && fcntl(cli, F_SETFL, O_RDWR | O_NONBLOCK) < 0) {
		close(cli);
		return -errno;
	}
	return cli;
}

/* Binds (a listener with SO_REUSEADDR on for the moment: old connections may linger in TIME_WAIT). */
static int bind_sk(int fd, const Sk *sk, struct ferry_err *err)
{
	int v6 = sk->family == FERRY__INET_FAMILY__INET_V6, one = 1, want = sk->reuseaddr;
	int tcp = sk->proto == FERRY__INET_PROTO__INET_TCP;
	char name[64];
	union sa s;
	socklen_t len;
	if (sa_join(v6, &sk->src_addr, sk->src_port, sk->scope_id, &s, &len) < 0)
		return fe_msg(err, EBADMSG, "files.img: bad socket address");
	fmt_sk(sk, 0, name, sizeof(name));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, tcp ? &one : &want, sizeof(int)) < 0)
		return fe_set(err, errno, "SO_REUSEADDR");
	if (bind(fd, &s.sa, len) < 0)
		return fe_set(err, errno, "bind %s %s", tcp ? "TCP" : "UDP", name);
	if (sk->state == FERRY__INET_STATE__INET_LISTEN && listen(fd, sk->has_backlog ? (int)sk->backlog : 128) < 0)
		return fe_set(err, errno, "listen on %s", name);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &want, sizeof(want)) < 0)
		return fe_set(err, errno, "SO_REUSEADDR");
	return 0;
}

/* Where to send a requeued datagram: the socket's own address (loopback if it is a wildcard). */
static void queue_target(int fd, int v6, union sa *to, socklen_t *len)
{
	*len = sizeof(*to);
	getsockname(fd, &to->sa, len);
	if (v6 && IN6_IS_ADDR_UNSPECIFIED(&to->v6.sin6_addr))
		to->v6.sin6_addr = in6addr_loopback;
	else if (!v6 && to->v4.sin_addr.s_addr == htonl(INADDR_ANY))
		to->v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* Sends one datagram to `to` from d's source address; -errno if that address cannot be taken. */
static int requeue_one(int fd, int v6, const Ferry__InetDgram *d, const union sa *to, socklen_t tolen)
{
	union sa from, self;
	socklen_t fl, sl = sizeof(self);
	int one = 1;
	if (!d->has_src_addr || sa_join(v6, &d->src_addr, d->src_port, 0, &from, &fl) < 0)
		return -EBADMSG;
	if (getsockname(fd, &self.sa, &sl) == 0 && sl == fl && memcmp(&self, &from, fl) == 0)
		return sendto(fd, d->data.data, d->data.len, 0, &to->sa, tolen) < 0 ? -errno : 0;
	_cleanup_close_ int tmp = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (tmp < 0)
		return -errno;
	if (bind(tmp, &from.sa, fl) < 0) {
		if (errno != EADDRNOTAVAIL ||
		    setsockopt(tmp, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_TRANSPARENT : IP_TRANSPARENT,
			       &one, sizeof(one)) < 0 || bind(tmp, &from.sa, fl) < 0)
			return -errno;
	}
	return sendto(tmp, d->data.data, d->data.len, 0, &to->sa, tolen) < 0 ? -errno : 0;
}

static void requeue(int fd, const Sk *sk)
{
	int v6 = sk->family == FERRY__INET_FAMILY__INET_V6;
	size_t lost = 0;
	union sa to;
	socklen_t tolen;
	char src[64], name[64];
	queue_target(fd, v6, &to, &tolen);
	fmt_sk(sk, 0, name, sizeof(name));
	for (size_t i = 0; i < sk->n_queue; i++) {
		const Ferry__InetDgram *d = sk->queue[i];
		int r = requeue_one(fd, v6, d, &to, tolen);
		if (r < 0) {
			lost++;
			fmt_addr(v6, d->src_addr.len == (v6 ? 16U : 4U) ? d->src_addr.data : NULL, d->src_port, src,
				 sizeof(src));
			pr_warn("UDP %s: queued datagram %zu from %s dropped (%s)\n", name, i, src, strerror(-r));
		}
	}
	if (sk->n_queue)
		pr_info("UDP %s: %zu of %zu queued datagrams restored\n", name, sk->n_queue - lost, sk->n_queue);
}

static int inet_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	const Sk *sk = fe->inet_sk;
	if (!sk || !sk->has_family || !sk->has_proto || !sk->has_state)
		return fe_msg(err, EBADMSG, "files.img: inet socket %u without its socket part", fe->id);
	int v6 = sk->family == FERRY__INET_FAMILY__INET_V6, tcp = sk->proto == FERRY__INET_PROTO__INET_TCP;
	int sflags = SOCK_CLOEXEC | ((fe->flags & O_NONBLOCK) ? SOCK_NONBLOCK : 0);
	if (sk->state == FERRY__INET_STATE__INET_CLOSED) {
		int fd = restore_reset(v6, sflags);
		return fd < 0 ? fe_set(err, -fd, "reset TCP socket") : fd;
	}
	_cleanup_close_ int fd = socket(v6 ? AF_INET6 : AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | sflags, 0);
	if (fd < 0)
		return fe_set(err, errno, "socket");
	int r = restore_opts(fd, sk, 1, err);
	if (r == 0 && sk->state != FERRY__INET_STATE__INET_UNBOUND)
		r = bind_sk(fd, sk, err);
	else if (r == 0 && sk->reuseaddr && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &sk->reuseaddr, sizeof(int)) < 0)
		r = fe_set(err, errno, "SO_REUSEADDR");
	if (r == 0 && !tcp && sk->has_dst_port) {
		union sa s;
		socklen_t len;
		if (sa_join(v6, &sk->dst_addr, sk->dst_port, 0, &s, &len) < 0)
			return fe_msg(err, EBADMSG, "files.img: bad peer address");
		if (connect(fd, &s.sa, len) < 0)
			r = fe_set(err, errno, "connect UDP socket");
	}
	if (r == 0)
		r = restore_opts(fd, sk, 0, err);
	if (r < 0)
		return r;
	if (!tcp)
		requeue(fd, sk);
	return TAKE_FD(fd);
}

const struct file_ops inet_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_INET_SK, .name = "inet socket",
	.match = inet_match, .dump = inet_dump, .open = inet_open,
};
