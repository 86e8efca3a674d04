// SPDX-License-Identifier: Apache-2.0
// UDP: a socket bound on 127.0.0.1 with three datagrams queued (one empty) from a sender closed before the
// dump, one on [::1] (v6only, O_NONBLOCK, SO_RCVBUF) with a datagram it sent itself, and a connected one.
// After restore: same addresses and options, the queued datagrams in order with their sources, and
// fresh datagrams still arrive.
#include "zdtm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct sk {
	const char *what;
	int fd;
	struct sockaddr_storage addr, peer;
	socklen_t alen, plen;
	int rcvbuf, v6only, fl;
};

static struct sk u4, u6, uc;
static struct sockaddr_storage sender;
static socklen_t sender_len;

static void xbind(struct sk *s, const char *what, int family, int flags)
{
	s->what = what;
	s->fd = socket(family, SOCK_DGRAM | flags, 0);
	memset(&s->addr, 0, sizeof(s->addr));
	s->addr.ss_family = family;
	if (family == AF_INET)
		((struct sockaddr_in *)&s->addr)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		((struct sockaddr_in6 *)&s->addr)->sin6_addr = in6addr_loopback;
	s->alen = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	if (s->fd < 0 || bind(s->fd, (void *)&s->addr, s->alen) < 0)
		zdtm_skip("bind %s: %m", what);
	getsockname(s->fd, (void *)&s->addr, &s->alen);
}

static void record(struct sk *s)
{
	socklen_t l = sizeof(int);
	getsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &s->rcvbuf, &l);
	l = sizeof(int);
	s->v6only = -1;
	if (s->addr.ss_family == AF_INET6)
		getsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &s->v6only, &l);
	s->fl = fcntl(s->fd, F_GETFL);
	s->plen = sizeof(s->peer);
	if (getpeername(s->fd, (void *)&s->peer, &s->plen) < 0)
		s->plen = 0;
}

static void setup(void)
{
	int one = 1, rcv = 50000;
	xbind(&u4, "udp 127.0.0.1", AF_INET, 0);
	int tx = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	bind(tx, (void *)&a, sizeof(a));
	sender_len = sizeof(sender);
	getsockname(tx, (void *)&sender, &sender_len);
	sendto(tx, "first", 5, 0, (void *)&u4.addr, u4.alen);
	sendto(tx, "", 0, 0, (void *)&u4.addr, u4.alen);
	sendto(tx, "third datagram", 14, 0, (void *)&u4.addr, u4.alen);
	close(tx);

	xbind(&u6, "udp [::1]", AF_INET6, SOCK_NONBLOCK);
	setsockopt(u6.fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	setsockopt(u6.fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	sendto(u6.fd, "to myself", 9, 0, (void *)&u6.addr, u6.alen);

	xbind(&uc, "udp connected", AF_INET, 0);
	if (connect(uc.fd, (void *)&u4.addr, u4.alen) < 0)
		zdtm_skip("connect: %m");
	record(&u4);
	record(&u6);
	record(&uc);
}

static void expect(struct sk *s, const char *data, size_t len, const void *from, socklen_t fromlen)
{
	char buf[100];
	struct sockaddr_storage f;
	socklen_t fl = sizeof(f);
	struct pollfd p = { .fd = s->fd, .events = POLLIN };
	poll(&p, 1, 2000);
	ssize_t n = recvfrom(s->fd, buf, sizeof(buf), MSG_DONTWAIT, (void *)&f, &fl);
	if (n < 0) {
		zdtm_fail("%s: no datagram '%s' after restore: %m", s->what, data);
		return;
	}
	zdtm_check((size_t)n == len && !memcmp(buf, data, len), "%s: got '%.*s', want '%s'", s->what, (int)n, buf, data);
	if (from)
		zdtm_check(fl == fromlen && !memcmp(&f, from, fl), "%s: datagram '%s' from another source", s->what,
			   data);
}

static void check_same(struct sk *s)
{
	struct sk now = *s;
	socklen_t l = sizeof(now.addr);
	zdtm_check(getsockname(s->fd, (void *)&now.addr, &l) == 0 && l == s->alen && !memcmp(&now.addr, &s->addr, l),
		   "%s: bound elsewhere", s->what);
	record(&now);
	zdtm_check(now.rcvbuf == s->rcvbuf, "%s: SO_RCVBUF %d, want %d", s->what, now.rcvbuf, s->rcvbuf);
	zdtm_check(now.v6only == s->v6only, "%s: IPV6_V6ONLY %d, want %d", s->what, now.v6only, s->v6only);
	zdtm_check(now.fl == s->fl, "%s: flags %#o, want %#o", s->what, now.fl, s->fl);
	zdtm_check(now.plen == s->plen && !memcmp(&now.peer, &s->peer, s->plen), "%s: peer changed", s->what);
}

static void verify(void)
{
	check_same(&u4);
	check_same(&u6);
	check_same(&uc);
	expect(&u4, "first", 5, &sender, sender_len);
	expect(&u4, "", 0, &sender, sender_len);
	expect(&u4, "third datagram", 14, &sender, sender_len);
	expect(&u6, "to myself", 9, &u6.addr, u6.alen);
	zdtm_check(recv(u4.fd, NULL, 0, MSG_DONTWAIT) < 0 && errno == EAGAIN, "udp 127.0.0.1: extra datagrams");
	/* the connected socket still sends to its peer */
	zdtm_check(send(uc.fd, "hello again", 11, 0) == 11, "connected send: %m");
	expect(&u4, "hello again", 11, &uc.addr, uc.alen);
	sendto(u4.fd, "back", 4, 0, (void *)&uc.addr, uc.alen);
	expect(&uc, "back", 4, &u4.addr, u4.alen);
}

int main(void)
{
	zdtm_init("inet_udp");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	verify();
	zdtm_exit();
}
