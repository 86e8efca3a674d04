// SPDX-License-Identifier: Apache-2.0
// UDP receive queues, shutdown and multicast. A dual-stack [::] socket holds datagrams from a v4 sender, a
// v6 sender, a v4-mapped v6 sender, an empty one, and one from a sender whose port a socket of this test
// still holds (no SO_REUSEADDR: requeued from that exact port anyway). A v4 socket received a datagram
// from a stranger, then connected to another peer: the stranger's datagram stays queued, only the peer
// gets through after restore. UDP-lite with a queued datagram and its checksum coverage. Shutdown: SHUT_RD
// on an unconnected socket (recv returns 0 at once), SHUT_WR on a connected one (send fails EPIPE).
// Multicast: an any-source group on lo, a source-specific one, an IPv6 group; after restore the kernel
// reports the same memberships and filters, and a datagram sent to the group arrives. A connected socket
// with an ECONNREFUSED pending (ICMP port unreachable) gets it at its first read after restore.
#include "zdtm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/time.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct dg {
	char data[32];
	ssize_t len;
	struct sockaddr_in6 from;
	socklen_t flen;
};

static int rx, held, conn, peer, lite, shut_rd, shut_wr, mc, mc6, refused;
static struct sockaddr_in refused_peer;
static struct dg want_rx[5], want_conn[1], want_lite[1];
static struct sockaddr_in6 rx_addr;

static int bound(int family, int type, int proto, const char *addr)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t l;
	int fd = socket(family, type, proto);
	if (family == AF_INET) {
		struct sockaddr_in *a = (void *)&ss;
		a->sin_family = AF_INET;
		inet_pton(AF_INET, addr, &a->sin_addr);
		l = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (void *)&ss;
		a->sin6_family = AF_INET6;
		inet_pton(AF_INET6, addr, &a->sin6_addr);
		l = sizeof(*a);
	}
	if (fd < 0 || bind(fd, (void *)&ss, l) < 0)
		zdtm_skip("bind %s: %m", addr);
	return fd;
}

static void send_to(int from, int to, const char *msg)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	getsockname(to, (void *)&ss, &l);
	if (ss.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr))
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
	if (sendto(from, msg, strlen(msg), 0, (void *)&ss, l) < 0)
		zdtm_skip("sendto: %m");
}

/* Sends from a v4 sender to a dual-stack [::] socket. */
static void send_v4(int from, int to, const char *msg)
{
	struct sockaddr_in6 a;
	socklen_t l = sizeof(a);
	getsockname(to, (void *)&a, &l);
	struct sockaddr_in d = { .sin_family = AF_INET, .sin_port = a.sin6_port,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (sendto(from, msg, strlen(msg), 0, (void *)&d, sizeof(d)) < 0)
		zdtm_skip("sendto v4: %m");
}

/* What fd receives from sender: msg, from the sender's address as a socket of to's family sees it. */
static void expect(struct dg *w, int sender, int to, const char *msg)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss), tl = sizeof(ss);
	struct sockaddr_storage tss;
	getsockname(sender, (void *)&ss, &l);
	getsockname(to, (void *)&tss, &tl);
	memset(w, 0, sizeof(*w));
	w->len = (ssize_t)strlen(msg);
	memcpy(w->data, msg, w->len);
	if (ss.ss_family == AF_INET && tss.ss_family == AF_INET6) {
		struct sockaddr_in *a = (void *)&ss;
		w->from.sin6_family = AF_INET6;
		w->from.sin6_port = a->sin_port;
		w->from.sin6_addr.s6_addr[10] = w->from.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&w->from.sin6_addr.s6_addr[12], &a->sin_addr, 4);
		w->flen = sizeof(w->from);
	} else {
		memcpy(&w->from, &ss, l);
		w->flen = l;
	}
}

static void check_queue(int fd, const struct dg *want, int n, const char *what)
{
	for (int i = 0; i < n; i++) {
		struct dg got = { .flen = sizeof(got.from) };
		got.len = recvfrom(fd, got.data, sizeof(got.data), MSG_DONTWAIT, (void *)&got.from, &got.flen);
		zdtm_check(got.len == want[i].len && !memcmp(got.data, want[i].data, got.len > 0 ? got.len : 0),
			   "%s: datagram %d: %zd bytes '%.*s', want %zd '%.*s'", what, i, got.len,
			   (int)(got.len > 0 ? got.len : 0), got.data, want[i].len, (int)want[i].len, want[i].data);
		zdtm_check(got.flen == want[i].flen && !memcmp(&got.from, &want[i].from, got.flen),
			   "%s: datagram %d comes from another address", what, i);
	}
	char b[8];
	zdtm_check(recv(fd, b, sizeof(b), MSG_DONTWAIT) < 0 && errno == EAGAIN, "%s: more datagrams than queued", what);
}

static void multicast(void)
{
	struct ip_mreqn mr = { .imr_ifindex = 1 };
	struct ip_mreq_source ms = { 0 };
	struct ipv6_mreq m6 = { .ipv6mr_interface = 1 };
	mc = bound(AF_INET, SOCK_DGRAM, 0, "0.0.0.0");
	inet_pton(AF_INET, "239.7.7.7", &mr.imr_multiaddr);
	inet_pton(AF_INET, "232.1.1.1", &ms.imr_multiaddr);
	inet_pton(AF_INET, "127.0.0.1", &ms.imr_sourceaddr);
	inet_pton(AF_INET, "127.0.0.1", &ms.imr_interface);
	if (setsockopt(mc, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0 ||
	    setsockopt(mc, IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, &ms, sizeof(ms)) < 0)
		zdtm_skip("multicast join: %m");
	mc6 = bound(AF_INET6, SOCK_DGRAM, 0, "::");
	inet_pton(AF_INET6, "ff15::1234", &m6.ipv6mr_multiaddr);
	if (setsockopt(mc6, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &m6, sizeof(m6)) < 0)
		zdtm_skip("v6 multicast join: %m");
}

/* The kernel's view of membership (group, ifindex): fmode and number of sources, or -errno. */
static int membership(int fd, int family, const char *group, int *fmode)
{
	char buf[GROUP_FILTER_SIZE(4)] = { 0 };
	struct group_filter *gf = (void *)buf;
	socklen_t l = sizeof(buf);
	gf->gf_interface = 1;
	gf->gf_numsrc = 4;
	gf->gf_group.ss_family = family;
	if (family == AF_INET)
		inet_pton(AF_INET, group, &((struct sockaddr_in *)&gf->gf_group)->sin_addr);
	else
		inet_pton(AF_INET6, group, &((struct sockaddr_in6 *)&gf->gf_group)->sin6_addr);
	if (getsockopt(fd, family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6, MCAST_MSFILTER, gf, &l) < 0)
		return -errno;
	*fmode = gf->gf_fmode;
	return (int)gf->gf_numsrc;
}

static void check_multicast(void)
{
	int fm = -1, n;
	zdtm_check((n = membership(mc, AF_INET, "239.7.7.7", &fm)) == 0 && fm == MCAST_EXCLUDE,
		   "239.7.7.7 membership after restore: %d sources, mode %d", n, fm);
	zdtm_check((n = membership(mc, AF_INET, "232.1.1.1", &fm)) == 1 && fm == MCAST_INCLUDE,
		   "232.1.1.1 source membership after restore: %d sources, mode %d", n, fm);
	zdtm_check((n = membership(mc6, AF_INET6, "ff15::1234", &fm)) == 0 && fm == MCAST_EXCLUDE,
		   "ff15::1234 membership after restore: %d", n);
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	getsockname(mc, (void *)&a, &l);
	inet_pton(AF_INET, "239.7.7.7", &a.sin_addr);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ip_mreqn ifc = { .imr_ifindex = 1 };
	setsockopt(s, IPPROTO_IP, IP_MULTICAST_IF, &ifc, sizeof(ifc));
	zdtm_check(sendto(s, "mc", 2, 0, (void *)&a, sizeof(a)) == 2, "send to the group: %m");
	char b[4];
	struct timeval tv = { 2, 0 };
	setsockopt(mc, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	zdtm_check(recv(mc, b, sizeof(b), 0) == 2, "the group's datagram did not arrive after restore: %m");
	close(s);
}

static void setup(void)
{
	int v4 = bound(AF_INET, SOCK_DGRAM, 0, "127.0.0.1"), v6 = bound(AF_INET6, SOCK_DGRAM, 0, "::1");
	int mapped = bound(AF_INET6, SOCK_DGRAM, 0, "::ffff:127.0.0.1");
	socklen_t l = sizeof(rx_addr);
	rx = bound(AF_INET6, SOCK_DGRAM, 0, "::");
	held = bound(AF_INET, SOCK_DGRAM, 0, "127.0.0.1");
	getsockname(rx, (void *)&rx_addr, &l);
	static const char *msgs[] = { "from v4", "from v6", "from mapped", "", "from a held port" };
	int senders[] = { v4, v6, mapped, v6, held };
	for (int i = 0; i < 5; i++) {
		if (senders[i] == v6)
			send_to(v6, rx, msgs[i]);
		else
			send_v4(senders[i], rx, msgs[i]);
		expect(&want_rx[i], senders[i], rx, msgs[i]);
	}

	conn = bound(AF_INET, SOCK_DGRAM, 0, "127.0.0.1");
	peer = bound(AF_INET, SOCK_DGRAM, 0, "127.0.0.1");
	send_to(v4, conn, "stranger");
	expect(&want_conn[0], v4, conn, "stranger");
	struct sockaddr_in pa;
	l = sizeof(pa);
	getsockname(peer, (void *)&pa, &l);
	if (connect(conn, (void *)&pa, l) < 0)
		zdtm_skip("connect: %m");

	lite = bound(AF_INET, SOCK_DGRAM, 136, "127.0.0.1");
	int cov = 12, ls = socket(AF_INET, SOCK_DGRAM, 136);
	setsockopt(lite, 136, 11 /* UDPLITE_RECV_CSCOV */, &cov, sizeof(cov));
	struct sockaddr_in la = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	bind(ls, (void *)&la, sizeof(la));
	send_to(ls, lite, "lite datagram");
	expect(&want_lite[0], ls, lite, "lite datagram");
	close(ls);
	close(v4), close(v6), close(mapped);

	shut_rd = bound(AF_INET, SOCK_DGRAM, 0, "127.0.0.1");
	shutdown(shut_rd, SHUT_RD);	/* ENOTCONN, yet it is shut down: poll says so, a blocking recv too */
	struct timeval tv = { 1, 0 };
	setsockopt(shut_rd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	shut_wr = bound(AF_INET, SOCK_DGRAM, 0, "127.0.0.1");
	if (connect(shut_wr, (void *)&pa, sizeof(pa)) < 0 || shutdown(shut_wr, SHUT_WR) < 0)
		zdtm_skip("shutdown: %m");
	multicast();

	/* a connected socket told by ICMP that nobody listens: ECONNREFUSED waits for the next read */
	int gone = bound(AF_INET, SOCK_DGRAM, 0, "127.0.0.1");
	l = sizeof(refused_peer);
	getsockname(gone, (void *)&refused_peer, &l);
	close(gone);
	refused = bound(AF_INET, SOCK_DGRAM, 0, "127.0.0.1");
	struct pollfd rp = { .fd = refused, .events = POLLIN };
	if (connect(refused, (void *)&refused_peer, sizeof(refused_peer)) < 0 || send(refused, "?", 1, 0) != 1 ||
	    poll(&rp, 1, 3000) != 1 || !(rp.revents & POLLERR))
		zdtm_skip("no ICMP error on a connected socket: %m");
}

int main(void)
{
	zdtm_init("inet_udp_queues");
	setup();
	char b[8];
	struct pollfd p = { .fd = shut_rd, .events = POLLIN | POLLRDHUP };
	poll(&p, 1, 0);
	short shut_events = p.revents;
	if (!(shut_events & POLLRDHUP))
		zdtm_skip("this kernel's SHUT_RD on UDP does not show in poll");
	zdtm_ready();
	zdtm_wait_sigterm();
	check_queue(rx, want_rx, 5, "dual-stack socket");
	check_queue(conn, want_conn, 1, "connected socket");
	check_queue(lite, want_lite, 1, "UDP-lite socket");
	int cov = 0;
	socklen_t l = sizeof(cov);
	getsockopt(lite, 136, 11, &cov, &l);
	zdtm_check(cov == 12, "UDP-lite receive coverage %d, want 12", cov);
	send_to(held, conn, "stranger again");	/* a connected socket takes its peer's datagrams only */
	send_to(peer, conn, "peer");
	zdtm_check(recv(conn, b, sizeof(b), MSG_DONTWAIT) == 4 && !memcmp(b, "peer", 4),
		   "connected socket: not its peer's datagram first: %m");
	p.revents = 0;
	poll(&p, 1, 0);
	zdtm_check(p.revents == shut_events, "SHUT_RD socket: poll says %#x, before the dump %#x", p.revents, shut_events);
	zdtm_check(recv(shut_rd, b, sizeof(b), 0) == 0, "SHUT_RD socket: recv does not return 0: %m");
	zdtm_check(send(shut_wr, "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, "SHUT_WR socket: send does not fail EPIPE");
	check_multicast();
	struct sockaddr_in rpn;
	socklen_t rl = sizeof(rpn);
	zdtm_check(recv(refused, b, sizeof(b), MSG_DONTWAIT) < 0 && errno == ECONNREFUSED,
		   "the pending ECONNREFUSED is gone after restore: %m");
	zdtm_check(getpeername(refused, (void *)&rpn, &rl) == 0 && !memcmp(&rpn, &refused_peer, sizeof(rpn)),
		   "the refused socket is connected elsewhere after restore");
	zdtm_exit();
}
