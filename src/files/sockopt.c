/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Socket options for every socket module. One table lists each option a program can read back, the
 * kinds of socket it exists on (by its level) and when it must go in: before bind (reuse, device,
 * freebind, v6only, buffers, mss) or once the socket is connected and its queue refilled (the rest;
 * the locks — SO_BUF_LOCK, SO_LOCK_FILTER — and the peek offset last). A restore sets an option only
 * where the new socket reads back differently, so defaults stay defaults; it repeats the pass, since
 * some options move others (IP_TOS sets the priority, SO_RCVLOWAT the receive buffer).
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#define LOG_PREFIX "sockopt: "
#include "common/log.h"
#include "common/cleanup.h"
#include "files/files.h"
#include "files/sockopt.h"

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#define SOL_UDPLITE_ 136
#define SOL_RAW_ 255
#define SOL_ICMPV6_ 58
#define SOL_NETLINK_ 270
#define SOL_PACKET_ 263
#define IPPROTO_UDPLITE_ 136
#define SO_PASSPIDFD_ 76
#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif
#ifndef IPV6_FLOWINFO
#define IPV6_FLOWINFO 11
#endif
#ifndef IPV6_FLOWINFO_SEND
#define IPV6_FLOWINFO_SEND 33
#endif

enum { K_RAW, K_BUF, K_FILTER, K_STR };
#define EARLY 1		/* must be set before bind/connect */
#define LAST 2		/* after every other option */
#define RAWONLY 4	/* SOCK_RAW only */
#define CONN 8		/* reads back the state of a connection, not what the program set */
#define NOSTREAM 16	/* not on SOCK_STREAM (TCP accepts its multicast options nowhere) */

struct opt {
	int level, name;
	unsigned char kind, flags;
	const char *label;
};

#define S(n, k, f) { SOL_SOCKET, n, k, f, #n }
#define IP4(n, f) { IPPROTO_IP, n, K_RAW, f, #n }
#define IP6(n, f) { IPPROTO_IPV6, n, K_RAW, f, #n }
#define T(n, k, f) { IPPROTO_TCP, n, k, f, #n }
#define U(n) { SOL_UDP, n, K_RAW, 0, #n }
#define PK(n, v, f) { SOL_PACKET_, v, K_RAW, f, n }
#define NL(n, v) { SOL_NETLINK_, v, K_RAW, 0, n }

static const struct opt opts[] = {
	S(SO_REUSEADDR, K_RAW, EARLY), S(SO_REUSEPORT, K_RAW, EARLY), S(SO_BINDTODEVICE, K_STR, EARLY),
	S(SO_MARK, K_RAW, EARLY), S(SO_RCVLOWAT, K_RAW, 0),
	S(SO_RCVBUF, K_BUF, EARLY), S(SO_SNDBUF, K_BUF, EARLY),
	S(SO_KEEPALIVE, K_RAW, 0), S(SO_DONTROUTE, K_RAW, 0), S(SO_BROADCAST, K_RAW, 0),
	S(SO_OOBINLINE, K_RAW, 0), S(SO_NO_CHECK, K_RAW, 0), S(SO_PRIORITY, K_RAW, 0), S(SO_LINGER, K_RAW, 0),
	S(SO_RCVTIMEO_OLD, K_RAW, 0), S(SO_SNDTIMEO_OLD, K_RAW, 0), S(SO_PASSCRED, K_RAW, 0),
	S(SO_PASSSEC, K_RAW, 0), { SOL_SOCKET, SO_PASSPIDFD_, K_RAW, 0, "SO_PASSPIDFD" },
	S(SO_TIMESTAMP_OLD, K_RAW, 0), S(SO_TIMESTAMPNS_OLD, K_RAW, 0), S(SO_TIMESTAMP_NEW, K_RAW, 0),
	S(SO_TIMESTAMPNS_NEW, K_RAW, 0), S(SO_TIMESTAMPING_OLD, K_RAW, 0), S(SO_RXQ_OVFL, K_RAW, 0),
	S(SO_WIFI_STATUS, K_RAW, 0), S(SO_NOFCS, K_RAW, 0), S(SO_SELECT_ERR_QUEUE, K_RAW, 0),
	S(SO_BUSY_POLL, K_RAW, 0), S(SO_PREFER_BUSY_POLL, K_RAW, 0), S(SO_BUSY_POLL_BUDGET, K_RAW, 0),
	S(SO_MAX_PACING_RATE, K_RAW, 0), S(SO_INCOMING_CPU, K_RAW, CONN), S(SO_ZEROCOPY, K_RAW, 0),
	S(SO_TXTIME, K_RAW, 0), S(SO_TXREHASH, K_RAW, 0), S(SO_RCVMARK, K_RAW, 0), S(SO_DEBUG, K_RAW, 0),
	S(SO_ATTACH_FILTER, K_FILTER, 0),

	IP4(IP_FREEBIND, EARLY), IP4(IP_TRANSPARENT, EARLY), IP4(IP_BIND_ADDRESS_NO_PORT, EARLY),
	IP4(IP_LOCAL_PORT_RANGE, EARLY), IP4(IP_TOS, 0), IP4(IP_TTL, 0), IP4(IP_OPTIONS, 0),
	IP4(IP_RECVOPTS, 0), IP4(IP_RETOPTS, 0), IP4(IP_PKTINFO, 0), IP4(IP_RECVTTL, 0),
	IP4(IP_RECVTOS, 0), IP4(IP_MTU_DISCOVER, 0), IP4(IP_RECVERR, 0), IP4(IP_RECVERR_RFC4884, 0),
	IP4(IP_MULTICAST_IF, NOSTREAM), IP4(IP_MULTICAST_TTL, NOSTREAM), IP4(IP_MULTICAST_LOOP, NOSTREAM), IP4(IP_MULTICAST_ALL, 0),
	IP4(IP_UNICAST_IF, 0), IP4(IP_MINTTL, 0), IP4(IP_CHECKSUM, 0), IP4(IP_RECVORIGDSTADDR, 0),
	IP4(IP_PASSSEC, 0), IP4(IP_RECVFRAGSIZE, 0), IP4(IP_HDRINCL, RAWONLY), IP4(IP_NODEFRAG, RAWONLY),

	IP6(IPV6_V6ONLY, EARLY), IP6(IPV6_FREEBIND, EARLY), IP6(IPV6_TRANSPARENT, EARLY),
	IP6(IPV6_UNICAST_HOPS, 0), IP6(IPV6_MULTICAST_IF, NOSTREAM), IP6(IPV6_MULTICAST_HOPS, NOSTREAM),
	IP6(IPV6_MULTICAST_LOOP, NOSTREAM), IP6(IPV6_MULTICAST_ALL, 0), IP6(IPV6_UNICAST_IF, 0),
	IP6(IPV6_RECVPKTINFO, 0), IP6(IPV6_2292PKTINFO, 0), IP6(IPV6_RECVHOPLIMIT, 0),
	IP6(IPV6_2292HOPLIMIT, 0), IP6(IPV6_RECVRTHDR, 0), IP6(IPV6_2292RTHDR, 0), IP6(IPV6_RECVHOPOPTS, 0),
	IP6(IPV6_2292HOPOPTS, 0), IP6(IPV6_RECVDSTOPTS, 0), IP6(IPV6_2292DSTOPTS, 0), IP6(IPV6_TCLASS, 0),
	IP6(IPV6_RECVTCLASS, 0), IP6(IPV6_FLOWINFO, 0), IP6(IPV6_FLOWINFO_SEND, 0), IP6(IPV6_RECVPATHMTU, 0),
	IP6(IPV6_MTU_DISCOVER, 0), IP6(IPV6_RECVERR, 0), IP6(IPV6_RECVERR_RFC4884, 0),
	IP6(IPV6_RECVORIGDSTADDR, 0), IP6(IPV6_MINHOPCOUNT, 0), IP6(IPV6_DONTFRAG, 0),
	IP6(IPV6_AUTOFLOWLABEL, 0), IP6(IPV6_ADDR_PREFERENCES, 0), IP6(IPV6_ROUTER_ALERT, 0),
	IP6(IPV6_ROUTER_ALERT_ISOLATE, 0), IP6(IPV6_RECVFRAGSIZE, 0), IP6(IPV6_CHECKSUM, RAWONLY),

	T(TCP_MAXSEG, K_RAW, EARLY | CONN), T(TCP_FASTOPEN_CONNECT, K_RAW, EARLY), T(TCP_CONGESTION, K_STR, EARLY),
	T(TCP_NODELAY, K_RAW, 0), T(TCP_CORK, K_RAW, 0), T(TCP_KEEPIDLE, K_RAW, 0), T(TCP_KEEPINTVL, K_RAW, 0),
	T(TCP_KEEPCNT, K_RAW, 0), T(TCP_SYNCNT, K_RAW, 0), T(TCP_LINGER2, K_RAW, 0),
	T(TCP_DEFER_ACCEPT, K_RAW, 0), T(TCP_WINDOW_CLAMP, K_RAW, CONN), T(TCP_QUICKACK, K_RAW, CONN),
	T(TCP_USER_TIMEOUT, K_RAW, 0), T(TCP_NOTSENT_LOWAT, K_RAW, 0), T(TCP_FASTOPEN, K_RAW, 0),
	T(TCP_FASTOPEN_NO_COOKIE, K_RAW, 0), T(TCP_FASTOPEN_KEY, K_RAW, 0), T(TCP_THIN_LINEAR_TIMEOUTS, K_RAW, 0),
	T(TCP_SAVE_SYN, K_RAW, 0), T(TCP_INQ, K_RAW, 0), T(TCP_TX_DELAY, K_RAW, 0), T(TCP_ULP, K_STR, 0),

	U(UDP_CORK), U(UDP_SEGMENT), U(UDP_GRO), U(UDP_NO_CHECK6_TX), U(UDP_NO_CHECK6_RX),
	{ SOL_UDPLITE_, 10, K_RAW, 0, "UDPLITE_SEND_CSCOV" }, { SOL_UDPLITE_, 11, K_RAW, 0, "UDPLITE_RECV_CSCOV" },
	{ SOL_RAW_, 1, K_RAW, RAWONLY, "ICMP_FILTER" }, { SOL_ICMPV6_, 1, K_RAW, RAWONLY, "ICMPV6_FILTER" },

	NL("NETLINK_PKTINFO", 3), NL("NETLINK_BROADCAST_ERROR", 4), NL("NETLINK_NO_ENOBUFS", 5),
	NL("NETLINK_LISTEN_ALL_NSID", 8), NL("NETLINK_CAP_ACK", 10), NL("NETLINK_EXT_ACK", 11),
	NL("NETLINK_GET_STRICT_CHK", 12),

	PK("PACKET_VERSION", 10, EARLY), PK("PACKET_RESERVE", 12, EARLY), PK("PACKET_VNET_HDR", 15, EARLY),
	PK("PACKET_VNET_HDR_SZ", 24, EARLY), PK("PACKET_LOSS", 14, EARLY), PK("PACKET_TX_HAS_OFF", 19, EARLY),
	PK("PACKET_AUXDATA", 8, 0), PK("PACKET_ORIGDEV", 9, 0), PK("PACKET_TIMESTAMP", 17, 0),
	PK("PACKET_QDISC_BYPASS", 20, 0), PK("PACKET_IGNORE_OUTGOING", 23, 0), PK("PACKET_TX_TIMESTAMP", 16, 0),

	S(SO_BUF_LOCK, K_RAW, LAST), S(SO_LOCK_FILTER, K_RAW, LAST), S(SO_PEEK_OFF, K_RAW, LAST),
};

struct sk_kind {
	int family, type, proto;
};

static int get_kind(int fd, struct sk_kind *k)
{
	socklen_t l = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &k->family, &l) < 0)
		return -errno;
	l = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &k->type, &l) < 0)
		return -errno;
	l = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &k->proto, &l) < 0)
		return -errno;
	return 0;
}

static int applies(const struct opt *o, const struct sk_kind *k)
{
	int inet = k->family == AF_INET || k->family == AF_INET6;
	if (((o->flags & RAWONLY) && k->type != SOCK_RAW) || ((o->flags & NOSTREAM) && k->type == SOCK_STREAM))
		return 0;
	switch (o->level) {
	case SOL_SOCKET:
		return 1;
	case IPPROTO_IP:
		return inet;
	case IPPROTO_IPV6:
		return k->family == AF_INET6;
	case IPPROTO_TCP:
		return inet && k->type == SOCK_STREAM && k->proto == IPPROTO_TCP;
	case SOL_UDP:
		return inet && k->type == SOCK_DGRAM && k->proto == IPPROTO_UDP;
	case SOL_UDPLITE_:
		return inet && k->proto == IPPROTO_UDPLITE_;
	case SOL_RAW_:
		return k->family == AF_INET && k->proto == IPPROTO_ICMP;
	case SOL_ICMPV6_:
		return k->family == AF_INET6 && k->proto == IPPROTO_ICMPV6;
	case SOL_NETLINK_:
		return k->family == AF_NETLINK;
	case SOL_PACKET_:
		return k->family == AF_PACKET;
	}
	return 0;
}

static const struct opt *find_opt(int level, int name)
{
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
		if (opts[i].level == level && opts[i].name == name)
			return &opts[i];
	return NULL;
}

/* The classic BPF program attached to fd (*len bytes, 0: none); -EACCES for an eBPF one. */
static int get_filter(int fd, uint8_t *buf, size_t size, size_t *len)
{
	socklen_t n = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, NULL, &n) < 0)
		return -errno;
	if (n * sizeof(struct sock_filter) > size)
		return -E2BIG;
	if (n && getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, buf, &n) < 0)
		return -errno;
	*len = n * sizeof(struct sock_filter);
	return 0;
}

/* What fd reads back for o, into buf (*len bytes); -errno when the option does not apply. */
static int get_value(int fd, const struct opt *o, uint8_t *buf, size_t size, size_t *len)
{
	if (o->kind == K_FILTER)
		return get_filter(fd, buf, size, len);
	socklen_t l = (socklen_t)size;
	memset(buf, 0, size);
	if (getsockopt(fd, o->level, o->name, buf, &l) < 0)
		return -errno;
	*len = l;
	return 0;
}

#define VAL_MAX (BPF_MAXINSNS * sizeof(struct sock_filter))

static int add_opt(struct arena *a, Ferry__SockOpt **list, size_t *n, const struct opt *o, const uint8_t *v,
		   size_t len)
{
	Ferry__SockOpt *so = ARENA_NEW(a, Ferry__SockOpt);
	if (!so)
		return -ENOMEM;
	ferry__sock_opt__init(so);
	so->level = (uint32_t)o->level;
	so->name = (uint32_t)o->name;
	so->val.len = len;
	so->val.data = arena_memdup(a, v, len ? len : 1);
	if (!so->val.data)
		return -ENOMEM;
	list[(*n)++] = so;
	return 0;
}

int sockopt_dump(struct arena *a, int fd, int flags, Ferry__SockOpt ***out, size_t *nout, struct ferry_err *err)
{
	struct sk_kind k;
	int r = get_kind(fd, &k);
	if (r < 0)
		return fe_set(err, -r, "socket kind");
	_cleanup_free_ uint8_t *buf = malloc(VAL_MAX);
	Ferry__SockOpt **list = ARENA_ARRAY(a, Ferry__SockOpt *, ARRAY_SIZE(opts));
	if (!buf || !list)
		return fe_set(err, ENOMEM, "socket options");
	size_t n = 0, len = 0;
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
		const struct opt *o = &opts[i];
		if (!applies(o, &k) || ((flags & SKOPT_NO_CONN) && (o->flags & CONN)))
			continue;
		r = get_value(fd, o, buf, VAL_MAX, &len);
		if (r == -EACCES && o->kind == K_FILTER)
			return fe_msg(err, EOPNOTSUPP, "an eBPF socket filter (SO_ATTACH_BPF) is attached, "
				      "which cannot be read back; not supported");
		if (r < 0)
			continue;	/* not an option of this kind of socket (or this kernel) */
		if (add_opt(a, list, &n, o, buf, len) < 0)
			return fe_set(err, ENOMEM, "socket options");
	}
	*out = list;
	*nout = n;
	return 0;
}

void sockopt_set_buf(int fd, int name, int reported)
{
	int v = reported / 2;	/* the kernel doubles what it is given */
	if (setsockopt(fd, SOL_SOCKET, name == SO_RCVBUF ? SO_RCVBUFFORCE : SO_SNDBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, name, &v, sizeof(v));
}

static int same(const struct opt *o, const uint8_t *now, size_t nlen, const ProtobufCBinaryData *want)
{
	if (o->kind == K_STR)
		return strnlen((const char *)now, nlen) == strnlen((const char *)want->data, want->len) &&
		       strncmp((const char *)now, (const char *)want->data, nlen) == 0;
	return nlen == want->len && memcmp(now, want->data, nlen) == 0;
}

static int set_value(int fd, const struct opt *o, const ProtobufCBinaryData *v)
{
	int iv = 0;
	switch (o->kind) {
	case K_BUF:
		if (v->len != sizeof(int))
			return -EBADMSG;
		memcpy(&iv, v->data, sizeof(iv));
		sockopt_set_buf(fd, o->name, iv);
		return 0;
	case K_FILTER: {
		struct sock_fprog prog = { (unsigned short)(v->len / sizeof(struct sock_filter)),
					   (struct sock_filter *)v->data };
		if (v->len % sizeof(struct sock_filter) || v->len / sizeof(struct sock_filter) > BPF_MAXINSNS)
			return -EBADMSG;
		return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ? -errno : 0;
	}
	case K_STR:
		return setsockopt(fd, o->level, o->name, v->data, strnlen((const char *)v->data, v->len)) < 0 ? -errno : 0;
	}
	return setsockopt(fd, o->level, o->name, v->data, v->len) < 0 ? -errno : 0;
}

/* One pass: sets the options (of this phase, LAST ones or not) that differ; *changed counts them. */
static int restore_pass(int fd, Ferry__SockOpt *const *list, size_t n, int early, int last, uint8_t *buf,
			int *changed, struct ferry_err *err)
{
	for (size_t i = 0; i < n; i++) {
		const Ferry__SockOpt *so = list[i];
		const struct opt *o = find_opt((int)so->level, (int)so->name);
		size_t len = 0;
		if (!o)
			return fe_msg(err, EBADMSG, "files.img: unknown socket option %u/%u", so->level, so->name);
		if ((early && !(o->flags & EARLY)) || !!(o->flags & LAST) != last)
			continue;
		if (get_value(fd, o, buf, VAL_MAX, &len) == 0 && same(o, buf, len, &so->val))
			continue;
		int r = set_value(fd, o, &so->val);
		if (r < 0)
			return fe_set(err, -r, "set socket option %s", o->label);
		(*changed)++;
	}
	return 0;
}

int sockopt_restore(int fd, Ferry__SockOpt *const *list, size_t n, enum sockopt_phase phase,
		    struct ferry_err *err)
{
	_cleanup_free_ uint8_t *buf = malloc(VAL_MAX);
	if (!buf)
		return fe_set(err, ENOMEM, "socket options");
	int changed = 1, r = 0;
	if (phase == SKOPT_EARLY)
		return restore_pass(fd, list, n, 1, 0, buf, &changed, err);
	for (int pass = 0; pass < 3 && changed && r == 0; pass++) {
		changed = 0;
		r = restore_pass(fd, list, n, 0, 0, buf, &changed, err);
	}
	if (r == 0)
		r = restore_pass(fd, list, n, 0, 1, buf, &changed, err);
	return r;
}

int sockopt_int(Ferry__SockOpt *const *list, size_t n, int level, int name, int def)
{
	for (size_t i = 0; i < n; i++)
		if ((int)list[i]->level == level && (int)list[i]->name == name && list[i]->val.len >= sizeof(int)) {
			int v;
			memcpy(&v, list[i]->val.data, sizeof(v));
			return v;
		}
	return def;
}

int sockopt_get_int(int fd, int level, int name, int *val)
{
	socklen_t len = sizeof(*val);
	return getsockopt(fd, level, name, val, &len) < 0 ? -errno : 0;
}

int sockopt_is_family(const struct fd_info *fi, int family)
{
	int dom;
	return S_ISSOCK(fi->st.st_mode) && fi->stolen >= 0 && sockopt_get_int(fi->stolen, SOL_SOCKET, SO_DOMAIN, &dom) == 0 &&
	       dom == family;
}
