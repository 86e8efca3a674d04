// SPDX-License-Identifier: Apache-2.0
// Addresses that bind only with help: UDP and a TCP listener on IPv6 addresses this host does not have
// (IP_FREEBIND, IPV6_FREEBIND), one bound with IP_FREEBIND then turned off (the restore must still bind
// it, then leave the option off), a TCP socket bound to a foreign IPv4 address with IP_TRANSPARENT; IPv4-
// mapped IPv6: a UDP socket bound to ::ffff:127.0.0.1 and connected to a mapped peer, and a listener on
// ::ffff:127.0.0.1 that a plain IPv4 client reaches; a v6 UDP socket bound only by connect() (not v6only,
// which a bind to its address would make it). Addresses, peers and options read back the same, and the
// mapped sockets still talk.
#include "zdtm.h"
#include "zdtm_sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { FB_UDP, FB_TCP, FB_OFF, TRANSP, MAPPED, MAPPED_PEER, MAPPED_LSN, AUTO6, N };
static const char *names[N] = { "freebind UDP", "freebind TCP listener", "freebind turned off", "transparent",
				 "mapped UDP", "mapped peer", "mapped listener", "v6 UDP bound by connect()" };
static int fds[N];
static struct sockaddr_in6 self[N], peer[N];
static socklen_t plen[N];
static struct zs_snap snaps[N];

static int bind6(int type, const char *addr, int opt_level, int opt, int i)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 };
	int fd = socket(AF_INET6, type, 0), one = 1;
	inet_pton(AF_INET6, addr, &a.sin6_addr);
	if (fd < 0 || (opt && setsockopt(fd, opt_level, opt, &one, sizeof(one)) < 0) ||
	    bind(fd, (void *)&a, sizeof(a)) < 0)
		zdtm_skip("bind %s: %m", addr);
	fds[i] = fd;
	return fd;
}

static void setup(void)
{
	int zero = 0, one = 1;
	bind6(SOCK_DGRAM, "2001:db8::ff00:42:8329", IPPROTO_IP, IP_FREEBIND, FB_UDP);
	if (listen(bind6(SOCK_STREAM, "2001:db8::77", IPPROTO_IPV6, 78 /* IPV6_FREEBIND */, FB_TCP), 3) < 0)
		zdtm_skip("listen: %m");
	bind6(SOCK_DGRAM, "2001:db8::78", IPPROTO_IP, IP_FREEBIND, FB_OFF);
	setsockopt(fds[FB_OFF], IPPROTO_IP, IP_FREEBIND, &zero, sizeof(zero));

	struct sockaddr_in t = { .sin_family = AF_INET, .sin_port = htons(0) };
	inet_pton(AF_INET, "192.0.2.77", &t.sin_addr);
	fds[TRANSP] = socket(AF_INET, SOCK_STREAM, 0);
	if (setsockopt(fds[TRANSP], IPPROTO_IP, IP_TRANSPARENT, &one, sizeof(one)) < 0 ||
	    bind(fds[TRANSP], (void *)&t, sizeof(t)) < 0)
		zdtm_skip("IP_TRANSPARENT bind: %m");

	bind6(SOCK_DGRAM, "::ffff:127.0.0.1", 0, 0, MAPPED);
	bind6(SOCK_DGRAM, "::ffff:127.0.0.1", 0, 0, MAPPED_PEER);
	struct sockaddr_in6 pa;
	socklen_t l = sizeof(pa);
	getsockname(fds[MAPPED_PEER], (void *)&pa, &l);
	if (connect(fds[MAPPED], (void *)&pa, l) < 0)
		zdtm_skip("connect mapped: %m");
	if (listen(bind6(SOCK_STREAM, "::ffff:127.0.0.1", 0, 0, MAPPED_LSN), 2) < 0)
		zdtm_skip("listen mapped: %m");
	/* never bound: connect() picks its address and port, and it stays not v6only */
	struct sockaddr_in6 to = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT, .sin6_port = htons(9) };
	fds[AUTO6] = socket(AF_INET6, SOCK_DGRAM, 0);
	if (fds[AUTO6] < 0 || connect(fds[AUTO6], (void *)&to, sizeof(to)) < 0)
		zdtm_skip("connect v6: %m");
	for (int i = 0; i < N; i++) {
		l = sizeof(self[i]);
		getsockname(fds[i], (void *)&self[i], &l);
		plen[i] = sizeof(peer[i]);
		if (getpeername(fds[i], (void *)&peer[i], &plen[i]) < 0)
			plen[i] = 0;
		zs_take(fds[i], &snaps[i]);
	}
}

int main(void)
{
	zdtm_init("inet_bind");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	for (int i = 0; i < N; i++) {
		struct sockaddr_in6 a, p;
		socklen_t l = sizeof(a), pl = sizeof(p);
		getsockname(fds[i], (void *)&a, &l);
		zdtm_check(!memcmp(&a, &self[i], l), "%s: local address differs after restore", names[i]);
		if (getpeername(fds[i], (void *)&p, &pl) < 0)
			pl = 0;
		zdtm_check(pl == plen[i] && !memcmp(&p, &peer[i], pl), "%s: peer differs after restore", names[i]);
		zs_compare(fds[i], &snaps[i], names[i]);
	}
	char b[8];
	zdtm_check(send(fds[MAPPED], "m", 1, 0) == 1 && recv(fds[MAPPED_PEER], b, sizeof(b), MSG_DONTWAIT) == 1,
		   "mapped UDP: the datagram did not arrive: %m");
	struct sockaddr_in v4 = { .sin_family = AF_INET, .sin_port = self[MAPPED_LSN].sin6_port,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int c = socket(AF_INET, SOCK_STREAM, 0);
	zdtm_check(connect(c, (void *)&v4, sizeof(v4)) == 0 && accept(fds[MAPPED_LSN], NULL, NULL) >= 0,
		   "an IPv4 client does not reach the mapped listener: %m");
	zdtm_exit();
}
