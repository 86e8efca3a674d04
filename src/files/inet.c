/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IPv4/IPv6 sockets: TCP, UDP, UDP-lite, raw and ping (ICMP datagram) sockets. A socket comes back
 * on its address (bound, connected, listening with its backlog) with every option it reads back
 * (sockopt.c), its multicast memberships and source filters, its shutdown state and, for UDP and
 * UDP-lite, the datagrams waiting in its receive queue, re-sent to it from their own source address
 * (a raw socket writes the headers, so the source needs no bind and no other socket is disturbed).
 * TCP sockets in state CLOSE (never connected, or a connection that ended) are in inet-tcp.c. What
 * cannot come back exactly is refused by name: an established TCP connection (or, with --tcp-close,
 * restored as a reset one), connections a listener has not accepted (dropped with --skip-in-flight),
 * data queued on a raw or ping socket, datagrams corked and not sent yet.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <unistd.h>
#define LOG_PREFIX "inet: "
#include "common/log.h"
#include "common/cleanup.h"
#include "files/inet-internal.h"
#include "files/sktree.h"
#include "files/sockopt.h"

#define QUEUE_MAX_BYTES (16U << 20)	/* UDP receive queue carried in the image, at most */
#define DGRAM_MAX 65536
#define IPPROTO_UDPLITE_ 136
#define IN_KEY(ino) ((0x49ULL << 56) | ((ino) & ((1ULL << 56) - 1)))	/* stash keys of inet sockets */

/* ------------------------------------------------------------------ addresses */

static void fmt_addr(int v6, const void *addr, unsigned port, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN] = "?";
	if (addr)
		inet_ntop(v6 ? AF_INET6 : AF_INET, addr, a, sizeof(a));
	snprintf(buf, size, v6 ? "[%s]:%u" : "%s:%u", a, port);
}

void inet_fmt(const Sk *sk, int peer, char *buf, size_t size)
{
	const ProtobufCBinaryData *b = peer ? &sk->dst_addr : &sk->src_addr;
	fmt_addr(sk->family == FERRY__INET_FAMILY__INET_V6, b->len ? b->data : NULL,
		 peer ? sk->dst_port : sk->src_port, buf, size);
}

unsigned sa_split(struct arena *a, const union sa *s, ProtobufCBinaryData *addr, uint32_t *scope)
{
	int v6 = s->sa.sa_family == AF_INET6;
	addr->len = v6 ? 16 : 4;
	addr->data = arena_memdup(a, v6 ? (const void *)&s->v6.sin6_addr : (const void *)&s->v4.sin_addr, addr->len);
	if (scope)
		*scope = v6 ? s->v6.sin6_scope_id : 0;
	return ntohs(v6 ? s->v6.sin6_port : s->v4.sin_port);
}

int sa_join(int v6, const ProtobufCBinaryData *addr, unsigned port, uint32_t scope, union sa *s, socklen_t *len)
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

static int is_v6(const Sk *sk)
{
	return sk->family == FERRY__INET_FAMILY__INET_V6;
}

/* socket(2) type and protocol of an entry. */
static void sk_socket_args(const Sk *sk, int *type, int *proto)
{
	switch (sk->proto) {
	case FERRY__INET_PROTO__INET_TCP:
		*type = SOCK_STREAM, *proto = IPPROTO_TCP;
		break;
	case FERRY__INET_PROTO__INET_UDPLITE:
		*type = SOCK_DGRAM, *proto = IPPROTO_UDPLITE_;
		break;
	case FERRY__INET_PROTO__INET_RAW:
		*type = SOCK_RAW, *proto = (int)sk->protocol;
		break;
	case FERRY__INET_PROTO__INET_PING:
		*type = SOCK_DGRAM, *proto = is_v6(sk) ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
		break;
	default:
		*type = SOCK_DGRAM, *proto = IPPROTO_UDP;
	}
}

/* ------------------------------------------------------------------ dump */

static int kind_of(int fd, int *dom, int *type, int *proto)
{
	if (sockopt_get_int(fd, SOL_SOCKET, SO_DOMAIN, dom) < 0 || sockopt_get_int(fd, SOL_SOCKET, SO_TYPE, type) < 0 ||
	    sockopt_get_int(fd, SOL_SOCKET, SO_PROTOCOL, proto) < 0)
		return -errno;
	return 0;
}

static int proto_of(int type, int proto, Ferry__InetProto *p)
{
	if (type == SOCK_RAW)
		*p = FERRY__INET_PROTO__INET_RAW;
	else if (type == SOCK_STREAM && proto == IPPROTO_TCP)
		*p = FERRY__INET_PROTO__INET_TCP;
	else if (type == SOCK_DGRAM && proto == IPPROTO_UDP)
		*p = FERRY__INET_PROTO__INET_UDP;
	else if (type == SOCK_DGRAM && proto == IPPROTO_UDPLITE_)
		*p = FERRY__INET_PROTO__INET_UDPLITE;
	else if (type == SOCK_DGRAM && (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6))
		*p = FERRY__INET_PROTO__INET_PING;
	else
		return 0;
	return 1;
}

static int inet_match(const struct fd_info *fi, const struct dump_opts *o)
{
	int dom, type, proto;
	Ferry__InetProto p;
	(void)o;
	if (!S_ISSOCK(fi->st.st_mode) || fi->stolen < 0 || kind_of(fi->stolen, &dom, &type, &proto) < 0)
		return 0;
	return (dom == AF_INET || dom == AF_INET6) && proto_of(type, proto, &p);
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
	if (sockopt_get_int(fd, SOL_SOCKET, SO_PEEK_OFF, &old) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) < 0)
		return fe_set(ctx->err, errno, "peek offset");
	_cleanup_free_ char *buf = malloc(DGRAM_MAX);
	size_t total = 0, cap = 0;
	while (buf && r == 0) {
		union sa from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, DGRAM_MAX, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC, &from.sa, &fl);
		if (n < 0)
			r = errno == EAGAIN ? 1 : -errno;
		else if ((total += n) > QUEUE_MAX_BYTES || n > DGRAM_MAX)
			r = -EFBIG;
		else
			r = queue_add(&ctx->arena, sk, &cap, buf, n, &from, fl);
	}
	setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &old, sizeof(old));
	if (r == -EFBIG)
		return fe_msg(ctx->err, EOPNOTSUPP, "more than %u MiB of datagrams wait in its receive queue; not supported",
			      QUEUE_MAX_BYTES >> 20);
	if (!buf || r < 0)
		return fe_set(ctx->err, buf ? -r : ENOMEM, "peek the receive queue");
	return 0;
}

/* Data the socket has not sent yet (UDP_CORK, MSG_MORE) cannot be read back: refused. */
static int check_unsent(struct dump_ctx *ctx, int fd)
{
	int n = 0;
	for (int i = 0; i < 20; i++) {
		if (ioctl(fd, SIOCOUTQ, &n) < 0 || n == 0)
			return 0;
		usleep(5000);	/* a datagram on its way out leaves the send queue by itself */
	}
	return fe_msg(ctx->err, EOPNOTSUPP, "data is corked (UDP_CORK or MSG_MORE) and not sent yet (%d bytes of "
		      "send buffer); it cannot be read back", n);
}

/* Raw and ping sockets: their queued packets cannot be sent to them again; refused. */
static int check_empty(struct dump_ctx *ctx, int fd)
{
	int n = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 0) == 1 && (p.revents & POLLIN) && ioctl(fd, SIOCINQ, &n) == 0 && n > 0)
		return fe_msg(ctx->err, EOPNOTSUPP, "packets wait in its receive queue (%d bytes next); not supported", n);
	return 0;
}

static int dump_listener(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi,
			 const struct tcp_info *ti, Sk *sk)
{
	char local[64];
	sk->state = FERRY__INET_STATE__INET_LISTEN;
	sk->has_backlog = 1;
	sk->backlog = ti->tcpi_sacked;	/* for a listener: sk_max_ack_backlog */
	if (!ti->tcpi_unacked)		/* and sk_ack_backlog */
		return 0;
	inet_fmt(sk, 0, local, sizeof(local));
	if (!ctx->opts->skip_in_flight)
		return fe_msg(ctx->err, EOPNOTSUPP, "TCP listener %s (pid %d, fd %d) holds %u connection(s) not "
			      "accepted yet, which cannot be checkpointed; dump with --skip-in-flight to drop them",
			      local, t->pid, fi->fd, ti->tcpi_unacked);
	pr_warn("--skip-in-flight: %u connection(s) not accepted yet on TCP listener %s (pid %d, fd %d) are dropped\n",
		ti->tcpi_unacked, local, t->pid, fi->fd);
	return 0;
}

static int dump_tcp_state(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Sk *sk)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	char local[64], peer[64];
	if (getsockopt(fi->stolen, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return fe_set(ctx->err, errno, "TCP_INFO");
	if (ti.tcpi_state == TCP_LISTEN)
		return dump_listener(ctx, t, fi, &ti, sk);
	if (ti.tcpi_state == TCP_CLOSE) {
		struct inet_diag_info di = { 0 };
		int found = inet_diag_find(is_v6(sk) ? AF_INET6 : AF_INET, IPPROTO_TCP, sk->ino, &di);
		if (found < 0)
			return fe_set(ctx->err, -found, "sock_diag");
		return inet_tcp_dump_closed(ctx, fi->stolen, &di, found, sk);
	}
	inet_fmt(sk, 0, local, sizeof(local));
	inet_fmt(sk, 1, peer, sizeof(peer));
	if (ctx->opts->tcp_established && ti.tcpi_state == TCP_ESTABLISHED && !ctx->opts->tcp_close) {
		sk->has_peer_ino = 1;
		sk->peer_ino = inet_diag_peer(sk);
		if (!sk_tree_holds(ctx, sk->peer_ino))
			return fe_msg(ctx->err, EOPNOTSUPP, "TCP connection %s -> %s (pid %d, fd %d): its other end is outside "
				      "the tree; --tcp-established takes connections whose both ends are dumped (an outside "
				      "peer needs the network locked, which is not supported yet)", local, peer, t->pid, fi->fd);
		return inet_repair_dump(ctx, fi->stolen, sk);
	}
	if (!ctx->opts->tcp_close)
		return fe_msg(ctx->err, EOPNOTSUPP,
			      "TCP connection %s -> %s (pid %d, fd %d, state %u) cannot be checkpointed%s; "
			      "dump with --tcp-close to restore it as a reset connection", local, peer, t->pid, fi->fd,
			      ti.tcpi_state, ctx->opts->tcp_established ?
			      " (--tcp-established: only established connections; this state is not supported yet)" :
			      " (or --tcp-established when both ends are in the tree)");
	pr_warn("--tcp-close: TCP connection %s -> %s (pid %d, fd %d) will be restored reset\n", local, peer,
		t->pid, fi->fd);
	sk->state = FERRY__INET_STATE__INET_CLOSED;
	sk->has_closed_err = 1;
	sk->closed_err = ECONNRESET;
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

/* Raw and ping sockets connected with port 0 hide their peer from getpeername(): /proc/net tells. */
static int raw_peer(struct dump_ctx *ctx, Sk *sk)
{
	unsigned state = 0, port = 0;
	uint8_t peer[16];
	int r = inet_procnet_peer(sk->proto == FERRY__INET_PROTO__INET_RAW ? "raw" : "icmp", is_v6(sk), sk->ino,
				  &state, peer, &port);
	if (r < 0)
		return fe_set(ctx->err, -r, "/proc/net: raw and ping sockets");
	if (r == 0 || state != TCP_ESTABLISHED || sk->has_dst_addr)
		return 0;
	sk->has_dst_addr = sk->has_dst_port = 1;
	sk->dst_port = port;
	sk->dst_addr.len = is_v6(sk) ? 16 : 4;
	sk->dst_addr.data = arena_memdup(&ctx->arena, peer, sk->dst_addr.len);
	return sk->dst_addr.data ? 0 : fe_set(ctx->err, ENOMEM, "peer");
}

/*
 * An error pending on a UDP socket (an ICMP port unreachable: ECONNREFUSED) comes with the next read,
 * peek or not, before any datagram, and is cleared by it. It is taken when the tree dies after the
 * dump (and made again at restore); an error queue (IP_RECVERR) cannot be read back at all.
 */
static int pending_error(struct dump_ctx *ctx, int fd, Sk *sk)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int recverr = sockopt_int(sk->opts, sk->n_opts, IPPROTO_IP, IP_RECVERR, 0) ||
		      sockopt_int(sk->opts, sk->n_opts, IPPROTO_IPV6, IPV6_RECVERR, 0);
	char b;
	if (poll(&p, 1, 0) != 1 || !(p.revents & POLLERR))
		return 0;
	if (recverr)
		return fe_msg(ctx->err, EOPNOTSUPP, "errors wait in its error queue (IP_RECVERR), which cannot be read back");
	if (ctx->opts->leave_running)
		return fe_msg(ctx->err, EOPNOTSUPP, "an error is pending (from an ICMP message), which reading it would clear: "
			      "not with -R");
	if (recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) >= 0 || errno == EAGAIN)
		return 0;
	if (errno != ECONNREFUSED || !sk->has_dst_addr)
		return fe_set(ctx->err, errno, "a pending error that cannot be made again");
	sk->has_closed_err = 1;
	sk->closed_err = ECONNREFUSED;
	return 0;
}

/* UDP, UDP-lite, raw, ping: bound/connected, shutdown, queue. */
static int dump_dgram(struct dump_ctx *ctx, int fd, int protocol, Sk *sk)
{
	int raw = sk->proto == FERRY__INET_PROTO__INET_RAW, ping = sk->proto == FERRY__INET_PROTO__INET_PING;
	int bound = sk->src_port || sk->has_dst_port || raw, r;
	sk->state = bound ? FERRY__INET_STATE__INET_BOUND : FERRY__INET_STATE__INET_UNBOUND;
	if (raw || ping)
		return (r = raw_peer(ctx, sk)) < 0 ? r : check_empty(ctx, fd);
	struct inet_diag_info di;
	int found = inet_diag_find(is_v6(sk) ? AF_INET6 : AF_INET, protocol, sk->ino, &di);
	if (found < 0)
		return fe_set(ctx->err, -found, "sock_diag");
	if (found && di.shutdown) {
		sk->has_shutdown = 1;
		sk->shutdown = di.shutdown;
	}
	if ((r = check_unsent(ctx, fd)) < 0 || (r = pending_error(ctx, fd, sk)) < 0)
		return r;
	return dump_queue(ctx, fd, sk);
}

static int inet_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	Sk *sk = ARENA_NEW(&ctx->arena, Sk);
	int dom, type, proto, r;
	if (!sk)
		return fe_set(ctx->err, ENOMEM, "socket entry");
	ferry__inet_sk_entry__init(sk);
	if (kind_of(fi->stolen, &dom, &type, &proto) < 0 || !proto_of(type, proto, &sk->proto))
		return fe_set(ctx->err, errno ? errno : EINVAL, "socket domain");
	sk->has_ino = sk->has_family = sk->has_proto = sk->has_state = 1;
	sk->ino = fi->st.st_ino;
	sk->family = dom == AF_INET6 ? FERRY__INET_FAMILY__INET_V6 : FERRY__INET_FAMILY__INET_V4;
	if (sk->proto == FERRY__INET_PROTO__INET_RAW) {
		sk->has_protocol = 1;
		sk->protocol = (uint32_t)proto;
	}
	if ((r = dump_addrs(ctx, fi->stolen, sk)) < 0)
		return r;
	if (sk->proto == FERRY__INET_PROTO__INET_TCP)
		r = dump_tcp_state(ctx, t, fi, sk);
	int conn = sk->state == FERRY__INET_STATE__INET_CLOSED || sk->state == FERRY__INET_STATE__INET_CONNECTED;
	if (r == 0)
		r = sockopt_dump(&ctx->arena, fi->stolen, conn ? SKOPT_NO_CONN : 0, &sk->opts, &sk->n_opts, ctx->err);
	if (r == 0 && sk->proto != FERRY__INET_PROTO__INET_TCP)
		r = dump_dgram(ctx, fi->stolen, proto, sk);
	if (r == 0 && sk->proto != FERRY__INET_PROTO__INET_TCP && (r = inet_mcast_dump(&ctx->arena, fi->stolen, dom, sk)) < 0)
		r = fe_set(ctx->err, -r, "multicast memberships");
	if (r < 0) {
		static const char *const kinds[] = { "TCP", "UDP", "UDP-lite", "raw", "ping" };
		char name[64];
		inet_fmt(sk, 0, name, sizeof(name));
		return fe_wrap(ctx->err, r, "%s socket %s", kinds[sk->proto % 5], name);
	}
	fe->inet_sk = sk;
	return 0;
}

/* ------------------------------------------------------------------ restore */

/* Binds fd; a TCP port another socket holds is taken in repair mode (force), as the kernel allows. */
int inet_bind(int fd, const Sk *sk, int force, struct ferry_err *err)
{
	int one = 1, zero = 0, tcp = sk->proto == FERRY__INET_PROTO__INET_TCP;
	char name[64];
	union sa s;
	socklen_t len;
	if (sa_join(is_v6(sk), &sk->src_addr, sk->proto == FERRY__INET_PROTO__INET_RAW ? 0 : sk->src_port,
		    sk->scope_id, &s, &len) < 0)
		return fe_msg(err, EBADMSG, "files.img: bad socket address");
	/* an IPv6 end connect() bound is not v6only, as bind() to its address would make it: any, then */
	if (is_v6(sk) && sk->has_dst_addr && !sockopt_int(sk->opts, sk->n_opts, IPPROTO_IPV6, IPV6_V6ONLY, 1))
		memset(&s.v6.sin6_addr, 0, sizeof(s.v6.sin6_addr));
	inet_fmt(sk, 0, name, sizeof(name));
	/* old connections may linger in TIME_WAIT on a listener's port: the original had none */
	if (tcp && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return fe_set(err, errno, "SO_REUSEADDR");
	int r = bind(fd, &s.sa, len) < 0 ? -errno : 0;
	if (r == -EADDRNOTAVAIL) {	/* bound with IP_FREEBIND or IP_TRANSPARENT, since turned off */
		setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
		r = bind(fd, &s.sa, len) < 0 ? -errno : 0;
	}
	if (r == -EADDRINUSE && tcp && force && setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &one, sizeof(one)) == 0) {
		r = bind(fd, &s.sa, len) < 0 ? -errno : 0;
		setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &zero, sizeof(zero));
	}
	return r < 0 ? fe_set(err, -r, "bind %s", name) : 0;
}

/* Legacy images: the named option fields, as socket options. */
static int legacy_opts(const Sk *sk, Ferry__SockOpt **list, Ferry__SockOpt *buf, size_t *n)
{
	static const struct { int level, name; size_t has, val; } map[] = {
#define L(lvl, nm, f) { lvl, nm, offsetof(Sk, has_##f), offsetof(Sk, f) }
		L(SOL_SOCKET, SO_REUSEADDR, reuseaddr), L(SOL_SOCKET, SO_REUSEPORT, reuseport),
		L(SOL_SOCKET, SO_RCVBUF, rcvbuf), L(SOL_SOCKET, SO_SNDBUF, sndbuf),
		L(SOL_SOCKET, SO_KEEPALIVE, keepalive), L(SOL_SOCKET, SO_BROADCAST, broadcast),
		L(IPPROTO_TCP, TCP_NODELAY, nodelay), L(IPPROTO_IPV6, IPV6_V6ONLY, v6only),
		L(IPPROTO_TCP, TCP_KEEPIDLE, keepidle), L(IPPROTO_TCP, TCP_KEEPINTVL, keepintvl),
		L(IPPROTO_TCP, TCP_KEEPCNT, keepcnt), L(IPPROTO_IP, IP_TOS, ip_tos), L(IPPROTO_IP, IP_TTL, ip_ttl),
#undef L
	};
	*n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
		if (!*(const protobuf_c_boolean *)((const char *)sk + map[i].has))
			continue;
		Ferry__SockOpt *o = &buf[*n];
		ferry__sock_opt__init(o);
		o->level = (uint32_t)map[i].level;
		o->name = (uint32_t)map[i].name;
		o->val.len = sizeof(int32_t);
		o->val.data = (uint8_t *)sk + map[i].val;
		list[(*n)++] = o;
	}
	return 0;
}

static int restore_opts(int fd, const Sk *sk, enum sockopt_phase phase, struct ferry_err *err)
{
	Ferry__SockOpt buf[16], *list[16];
	size_t n;
	if (sk->n_opts)
		return sockopt_restore(fd, sk->opts, sk->n_opts, phase, err);
	legacy_opts(sk, list, buf, &n);
	return sockopt_restore(fd, list, n, phase, err);
}

/* Internet checksum over a pseudo-header and the datagram. */
static uint16_t csum(const void *pseudo, size_t plen, const uint8_t *p, size_t len)
{
	uint32_t s = 0;
	const uint8_t *q = pseudo;
	for (size_t i = 0; i + 1 < plen; i += 2)
		s += (uint32_t)(q[i] << 8 | q[i + 1]);
	for (size_t i = 0; i < len; i += 2)
		s += (uint32_t)(p[i] << 8 | (i + 1 < len ? p[i + 1] : 0));
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	uint16_t c = (uint16_t)~s;
	return htons(c ? c : 0xffff);
}

struct udp_hdr {
	uint16_t sport, dport, len, check;
};

/* Builds the UDP (or UDP-lite: coverage instead of length) header of d sent to port dport. */
static void build_udp(uint8_t *pkt, const Ferry__InetDgram *d, unsigned dport, int lite)
{
	struct udp_hdr *u = (struct udp_hdr *)pkt;
	size_t len = sizeof(*u) + d->data.len;
	u->sport = htons((uint16_t)d->src_port);
	u->dport = htons((uint16_t)dport);
	u->len = htons((uint16_t)(lite ? 0 : len));	/* UDP-lite: coverage 0, the whole datagram */
	u->check = 0;
	memcpy(pkt + sizeof(*u), d->data.data, d->data.len);
}

/*
 * Sends one datagram to (to, port) from d's source address through a raw socket that writes the
 * IP header itself: the source needs no bind, so a port other sockets hold is no obstacle.
 */
static int requeue_raw(const Ferry__InetDgram *d, int v6, const void *to, unsigned port, int lite)
{
	size_t ulen = sizeof(struct udp_hdr) + d->data.len, hlen = v6 ? sizeof(struct ip6_hdr) : sizeof(struct ip);
	int proto = lite ? IPPROTO_UDPLITE_ : IPPROTO_UDP, one = 1;
	_cleanup_free_ uint8_t *pkt = calloc(1, hlen + ulen);
	_cleanup_close_ int raw = socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (!pkt || raw < 0)
		return pkt ? -errno : -ENOMEM;
	if (v6 && setsockopt(raw, IPPROTO_IPV6, 36 /* IPV6_HDRINCL */, &one, sizeof(one)) < 0)
		return -errno;
	uint8_t *u = pkt + hlen;
	build_udp(u, d, port, lite);
	union sa dst = { 0 };
	if (v6) {
		struct ip6_hdr *h = (struct ip6_hdr *)pkt;
		h->ip6_flow = htonl(6u << 28);
		h->ip6_plen = htons((uint16_t)ulen);
		h->ip6_nxt = (uint8_t)proto;
		h->ip6_hlim = 64;
		memcpy(&h->ip6_src, d->src_addr.data, 16);
		memcpy(&h->ip6_dst, to, 16);
		struct { uint8_t src[16], dst[16]; uint32_t len; uint8_t zero[3], nxt; } ph = { .nxt = (uint8_t)proto };
		memcpy(ph.src, &h->ip6_src, 16);
		memcpy(ph.dst, &h->ip6_dst, 16);
		ph.len = htonl((uint32_t)ulen);
		((struct udp_hdr *)u)->check = csum(&ph, sizeof(ph), u, ulen);
		dst.v6.sin6_family = AF_INET6;
		memcpy(&dst.v6.sin6_addr, to, 16);
	} else {
		struct ip *h = (struct ip *)pkt;
		h->ip_v = 4;
		h->ip_hl = 5;
		h->ip_len = htons((uint16_t)(hlen + ulen));
		h->ip_ttl = 64;
		h->ip_p = (uint8_t)proto;
		memcpy(&h->ip_src, d->src_addr.data, 4);
		memcpy(&h->ip_dst, to, 4);
		struct { uint8_t src[4], dst[4], zero, proto; uint16_t len; } ph = { .proto = (uint8_t)proto };
		memcpy(ph.src, &h->ip_src, 4);
		memcpy(ph.dst, &h->ip_dst, 4);
		ph.len = htons((uint16_t)ulen);
		((struct udp_hdr *)u)->check = csum(&ph, sizeof(ph), u, ulen);
		dst.v4.sin_family = AF_INET;
		memcpy(&dst.v4.sin_addr, to, 4);
	}
	ssize_t n = sendto(raw, pkt, hlen + ulen, 0, &dst.sa, v6 ? sizeof(dst.v6) : sizeof(dst.v4));
	return n < 0 ? -errno : 0;
}

/* Where a datagram from a source of this family reaches the socket: its address, loopback if wildcard. */
static void requeue_target(int fd, int src_v6, uint8_t *to, unsigned *port)
{
	union sa self;
	socklen_t sl = sizeof(self);
	static const uint8_t mapped_lo[16] = { [10] = 0xff, [11] = 0xff, [12] = 127, [15] = 1 };
	getsockname(fd, &self.sa, &sl);
	if (self.sa.sa_family == AF_INET) {
		*port = ntohs(self.v4.sin_port);
		memcpy(to, self.v4.sin_addr.s_addr ? (const void *)&self.v4.sin_addr : (const void *)&mapped_lo[12], 4);
		return;
	}
	*port = ntohs(self.v6.sin6_port);
	const uint8_t *a = self.v6.sin6_addr.s6_addr;
	if (!src_v6)	/* a v4 source reaches a dual-stack socket as v4 */
		memcpy(to, IN6_IS_ADDR_V4MAPPED(&self.v6.sin6_addr) ? a + 12 : &mapped_lo[12], 4);
	else
		memcpy(to, IN6_IS_ADDR_UNSPECIFIED(&self.v6.sin6_addr) ? in6addr_loopback.s6_addr : a, 16);
}

/* Refills the receive queue; each datagram arrives from its own source address and port. */
static int requeue(int fd, const Sk *sk, struct ferry_err *err)
{
	int lite = sk->proto == FERRY__INET_PROTO__INET_UDPLITE;
	char name[64], src[64];
	inet_fmt(sk, 0, name, sizeof(name));
	for (size_t i = 0; i < sk->n_queue; i++) {
		const Ferry__InetDgram *d = sk->queue[i];
		if (!d->has_src_addr || (d->src_addr.len != 4 && d->src_addr.len != 16) || d->data.len > DGRAM_MAX ||
		    d->src_port > 65535)
			return fe_msg(err, EBADMSG, "files.img: bad queued datagram");
		int v6 = d->src_addr.len == 16 && !IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)d->src_addr.data);
		Ferry__InetDgram v4d = *d;
		if (d->src_addr.len == 16 && !v6) {	/* a v4 sender seen by a dual-stack socket */
			v4d.src_addr.len = 4;
			v4d.src_addr.data = d->src_addr.data + 12;
		}
		uint8_t to[16];
		unsigned port;
		requeue_target(fd, v6, to, &port);
		int r = requeue_raw(&v4d, v6, to, port, lite);
		if (r < 0) {
			fmt_addr(v6, v4d.src_addr.data, d->src_port, src, sizeof(src));
			return fe_set(err, -r, "UDP %s: requeue datagram %zu (from %s)", name, i, src);
		}
	}
	/* the raw path is asynchronous only in name: loopback delivers before sendto returns */
	if (sk->n_queue)
		pr_info("UDP %s: %zu queued datagrams restored\n", name, sk->n_queue);
	return 0;
}

/* An ICMP port unreachable from a loopback port nobody holds sets the socket's pending error. */
static int make_refused(int fd, const Sk *sk)
{
	int v6 = is_v6(sk);
	union sa to = { 0 };
	socklen_t len = v6 ? sizeof(to.v6) : sizeof(to.v4);
	_cleanup_close_ int tmp = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	to.sa.sa_family = v6 ? AF_INET6 : AF_INET;
	if (v6)
		to.v6.sin6_addr = in6addr_loopback;
	else
		to.v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (tmp < 0 || bind(tmp, &to.sa, len) < 0 || getsockname(tmp, &to.sa, &len) < 0)
		return -errno;
	close(TAKE_FD(tmp));	/* its port is closed now */
	if (connect(fd, &to.sa, len) < 0 || send(fd, "", 0, 0) < 0)
		return -errno;
	for (int i = 0; i < 300; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 10) == 1 && (p.revents & POLLERR))
			return 0;
	}
	return -ETIMEDOUT;
}

static int do_shutdown(int fd, const Sk *sk)
{
	int how = (sk->shutdown & 3) == 3 ? SHUT_RDWR : (sk->shutdown & 1) ? SHUT_RD : SHUT_WR;
	if (!sk->shutdown)
		return 0;
	/* an unconnected datagram socket answers ENOTCONN but is shut down all the same */
	return shutdown(fd, how) < 0 && errno != ENOTCONN ? -errno : 0;
}

/* ping sockets need the creator's group in net.ipv4.ping_group_range: take its first group. */
static int ping_socket(int family, int type)
{
	int fd = socket(family, type, family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
	if (fd >= 0 || errno != EACCES)
		return fd < 0 ? -errno : fd;
	unsigned lo = 1, hi = 0;
	FILE *f = fopen("/proc/sys/net/ipv4/ping_group_range", "re");
	if (f && fscanf(f, "%u %u", &lo, &hi) != 2)
		lo = 1, hi = 0;
	if (f)
		fclose(f);
	if (lo > hi)
		return -EACCES;
	gid_t old = getegid();
	if (setresgid(-1, lo, -1) < 0)
		return -EACCES;
	fd = socket(family, type, family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
	int e = errno;
	if (setresgid(-1, old, -1) < 0)
		pr_warn("could not return to group %u\n", old);
	return fd < 0 ? -e : fd;
}

static int new_socket(const Sk *sk, int sflags, struct ferry_err *err)
{
	int type, proto, family = is_v6(sk) ? AF_INET6 : AF_INET;
	sk_socket_args(sk, &type, &proto);
	int fd = sk->proto == FERRY__INET_PROTO__INET_PING ? ping_socket(family, type | sflags)
							   : socket(family, type | sflags, proto);
	if (fd < 0)
		fd = -errno;
	if (fd == -EACCES && sk->proto == FERRY__INET_PROTO__INET_PING)
		return fe_msg(err, EACCES, "ping socket: no group of net.ipv4.ping_group_range may create one");
	return fd < 0 ? fe_set(err, -fd, "socket") : fd;
}

static int connect_dgram(int fd, const Sk *sk, struct ferry_err *err)
{
	union sa s;
	socklen_t len;
	char peer[64];
	if (sa_join(is_v6(sk), &sk->dst_addr, sk->dst_port, 0, &s, &len) < 0)
		return fe_msg(err, EBADMSG, "files.img: bad peer address");
	inet_fmt(sk, 1, peer, sizeof(peer));
	return connect(fd, &s.sa, len) < 0 ? fe_set(err, errno, "connect to %s", peer) : 0;
}

static int open_socket(const Sk *sk, int sflags, struct ferry_err *err)
{
	int tcp = sk->proto == FERRY__INET_PROTO__INET_TCP, r;
	_cleanup_close_ int fd = new_socket(sk, sflags, err);
	if (fd < 0)
		return fd;
	if ((r = restore_opts(fd, sk, SKOPT_EARLY, err)) < 0)
		return r;
	if (sk->state != FERRY__INET_STATE__INET_UNBOUND && (r = inet_bind(fd, sk, tcp, err)) < 0)
		return r;
	if (sk->state == FERRY__INET_STATE__INET_LISTEN &&
	    listen(fd, sk->has_backlog ? (int)sk->backlog : 128) < 0)
		return fe_set(err, errno, "listen");
	/* queued first: a connected socket takes datagrams from its peer only, these came before */
	if (!tcp && sk->n_queue && (r = requeue(fd, sk, err)) < 0)
		return r;
	if (!tcp && sk->closed_err == ECONNREFUSED && (r = make_refused(fd, sk)) < 0)
		return fe_set(err, -r, "make its pending ECONNREFUSED again");
	if (!tcp && sk->has_dst_addr && (r = connect_dgram(fd, sk, err)) < 0)
		return r;
	if ((r = inet_mcast_restore(fd, is_v6(sk) ? AF_INET6 : AF_INET, sk, err)) < 0)
		return r;
	if ((r = do_shutdown(fd, sk)) < 0)
		return fe_set(err, -r, "shutdown");
	if ((r = restore_opts(fd, sk, SKOPT_ALL, err)) < 0)
		return r;
	return TAKE_FD(fd);
}

/* --tcp-established: made by TCP repair, then its options. */
static int open_connected(const Sk *sk, int sflags, struct ferry_err *err)
{
	_cleanup_close_ int fd = new_socket(sk, sflags, err);
	int r = fd < 0 ? fd : restore_opts(fd, sk, SKOPT_EARLY, err);
	if (r == 0)
		r = inet_repair_open(fd, sk, err);
	if (r == 0)
		r = restore_opts(fd, sk, SKOPT_ALL, err);
	return r < 0 ? r : TAKE_FD(fd);
}

static int sk_flags(const Ferry__FileEntry *fe)
{
	return SOCK_CLOEXEC | ((fe->flags & O_NONBLOCK) ? SOCK_NONBLOCK : 0);
}

/*
 * A closed TCP socket takes its port back in repair mode, which a listener or bound socket
 * restored after it could not do: those on its port are opened first, kept in the stash.
 */
static int open_port_holders(struct restore_ctx *ctx, const Ferry__FileEntry *self, struct ferry_err *err)
{
	for (size_t i = 0; i < ctx->files->n_files; i++) {
		const Ferry__FileEntry *fe = ctx->files->files[i];
		const Sk *o = fe->inet_sk, *sk = self->inet_sk;
		if (fe == self || fe->kind != FERRY__FILE_KIND__FILE_INET_SK || !o || o->proto != sk->proto ||
		    o->state == FERRY__INET_STATE__INET_CONNECTED ||
		    o->src_port != sk->src_port || (o->state != FERRY__INET_STATE__INET_LISTEN &&
						     o->state != FERRY__INET_STATE__INET_BOUND) ||
		    files_master_fd(ctx, fe->id) >= 0)
			continue;
		int fd = files_stash_take(ctx, IN_KEY(o->ino));
		if (fd < 0 && (fd = open_socket(o, sk_flags(fe), err)) < 0)
			return fd;
		int r = files_stash_put(ctx, IN_KEY(o->ino), fd);
		if (r < 0) {
			close(fd);
			return fe_set(err, -r, "stash");
		}
	}
	return 0;
}

static int inet_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	const Sk *sk = fe->inet_sk;
	char name[64];
	if (!sk || !sk->has_family || !sk->has_proto || !sk->has_state)
		return fe_msg(err, EBADMSG, "files.img: inet socket %u without its socket part", fe->id);
	int sflags = sk_flags(fe), fd = files_stash_take(ctx, IN_KEY(sk->ino));
	if (fd >= 0)
		return fd;
	int takes_port = sk->state == FERRY__INET_STATE__INET_CLOSED || sk->state == FERRY__INET_STATE__INET_CONNECTED;
	if (takes_port && (fd = open_port_holders(ctx, fe, err)) < 0) {
		inet_fmt(sk, 0, name, sizeof(name));
		return fe_wrap(err, fd, "inet socket %s", name);
	}
	if (sk->state == FERRY__INET_STATE__INET_CONNECTED) {
		fd = open_connected(sk, sflags, err);
	} else if (sk->state == FERRY__INET_STATE__INET_CLOSED) {
		fd = inet_tcp_open_closed(sk, sflags, err);
		if (fd >= 0) {
			int r = restore_opts(fd, sk, SKOPT_ALL, err);
			if (r < 0) {
				close(fd);
				fd = r;
			}
		}
	} else {
		fd = open_socket(sk, sflags, err);
	}
	if (fd < 0) {
		inet_fmt(sk, 0, name, sizeof(name));
		return fe_wrap(err, fd, "inet socket %s", name);
	}
	return fd;
}

const struct file_ops inet_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_INET_SK, .name = "inet socket",
	.match = inet_match, .dump = inet_dump, .open = inet_open,
};
