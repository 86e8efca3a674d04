// SPDX-License-Identifier: Apache-2.0
// --tcp-established (TCP repair), both ends in the tree: a loopback connection on IPv4 and one on IPv6, each
// with data waiting both ways (read by nobody yet), and the IPv4 client's send queue full (the server's
// receive buffer is small and full: megabytes wait, part sent and unacknowledged, part not sent yet). The
// test asks for the option through dump.opts. After restore the connections are ESTABLISHED on the same
// addresses, every byte arrives in order (the bulk checked by length and hash), both sides keep talking,
// options set on them read back, and the listener still accepts.
#include "zdtm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
	int lsn, cli, srv;
	struct sockaddr_storage ca, sa;
	socklen_t cl, sl;
};

static struct conn c4, c6;
static size_t bulk_len;
static uint64_t bulk_hash = ZDTM_HASH_INIT;

static void make(struct conn *c, int family)
{
	struct sockaddr_storage a = { .ss_family = (sa_family_t)family };
	socklen_t l = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	if (family == AF_INET)
		((struct sockaddr_in *)&a)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		((struct sockaddr_in6 *)&a)->sin6_addr = in6addr_loopback;
	c->lsn = socket(family, SOCK_STREAM, 0);
	c->cli = socket(family, SOCK_STREAM, 0);
	if (c->lsn < 0 || bind(c->lsn, (void *)&a, l) < 0 || listen(c->lsn, 4) < 0 || getsockname(c->lsn, (void *)&a, &l) < 0 ||
	    connect(c->cli, (void *)&a, l) < 0 || (c->srv = accept(c->lsn, NULL, NULL)) < 0)
		zdtm_skip("loopback connection: %m");
	c->cl = sizeof(c->ca);
	getsockname(c->cli, (void *)&c->ca, &c->cl);
	c->sl = sizeof(c->sa);
	getsockname(c->srv, (void *)&c->sa, &c->sl);
	if (send(c->cli, "client says", 11, 0) != 11 || send(c->srv, "server says", 11, 0) != 11)
		zdtm_skip("send: %m");
}

/* Fills the client's send queue: the server reads nothing, its small buffer fills, the rest waits. */
static void fill(struct conn *c)
{
	char buf[65536];
	int small = 32768, nodelay = 1, idle = 77;
	setsockopt(c->cli, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof(nodelay));
	setsockopt(c->cli, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(c->srv, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	fcntl(c->cli, F_SETFL, O_NONBLOCK);
	for (uint64_t seed = 1;; seed++) {
		zdtm_fill(buf, sizeof(buf), seed);
		ssize_t n = send(c->cli, buf, sizeof(buf), 0);
		if (n <= 0) {
			if (errno == EAGAIN) {
				usleep(50000);	/* let the kernel settle, then try once more */
				n = send(c->cli, buf, sizeof(buf), 0);
				if (n <= 0)
					break;
			} else {
				zdtm_skip("fill: %m");
			}
		}
		bulk_hash = zdtm_hash_add(bulk_hash, buf, (size_t)n);
		bulk_len += (size_t)n;
		if ((size_t)n < sizeof(buf))
			break;
	}
	fcntl(c->cli, F_SETFL, 0);
}

static void expect(int fd, const char *want, const char *what)
{
	char b[64];
	size_t got = 0, n = strlen(want);
	while (got < n) {
		ssize_t r = recv(fd, b + got, n - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	zdtm_check(got == n && !memcmp(b, want, n), "%s: got %zu bytes '%.*s', want '%s'", what, got, (int)got, b, want);
}

static void check(struct conn *c, const char *what, int bulk)
{
	struct sockaddr_storage a;
	socklen_t l = sizeof(a);
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	struct timeval tv = { 10, 0 };
	setsockopt(c->srv, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->cli, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	zdtm_check(getsockopt(c->cli, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0 && ti.tcpi_state == TCP_ESTABLISHED,
		   "%s: the client is not ESTABLISHED (%d)", what, ti.tcpi_state);
	getsockname(c->cli, (void *)&a, &l);
	zdtm_check(l == c->cl && !memcmp(&a, &c->ca, l), "%s: the client's address changed", what);
	expect(c->srv, "client says", what);
	expect(c->cli, "server says", what);
	if (bulk) {
		char buf[65536];
		size_t got = 0;
		uint64_t h = ZDTM_HASH_INIT;
		while (got < bulk_len) {
			ssize_t n = recv(c->srv, buf, sizeof(buf) < bulk_len - got ? sizeof(buf) : bulk_len - got, 0);
			if (n <= 0)
				break;
			h = zdtm_hash_add(h, buf, (size_t)n);
			got += (size_t)n;
		}
		zdtm_check(got == bulk_len && h == bulk_hash, "%s: %zu of %zu queued bytes arrived (hash %s)", what, got,
			   bulk_len, h == bulk_hash ? "equal" : "differs");
		int v = 0;
		socklen_t vl = sizeof(v);
		getsockopt(c->cli, IPPROTO_TCP, TCP_NODELAY, &v, &vl);
		zdtm_check(v == 1, "%s: TCP_NODELAY lost", what);
		getsockopt(c->cli, IPPROTO_TCP, TCP_KEEPIDLE, &v, &vl);
		zdtm_check(v == 77, "%s: TCP_KEEPIDLE %d, want 77", what, v);
	}
	zdtm_check(send(c->cli, "more", 4, 0) == 4 && send(c->srv, "back", 4, 0) == 4, "%s: send after restore: %m", what);
	expect(c->srv, "more", what);
	expect(c->cli, "back", what);
}

int main(void)
{
	char path[256];
	zdtm_init("inet_tcp_repair");
	make(&c4, AF_INET);
	make(&c6, AF_INET6);
	fill(&c4);
	FILE *f = fopen(zdtm_path(path, sizeof(path), "dump.opts"), "w");
	if (!f || fputs("--tcp-established\n", f) < 0 || fclose(f) != 0)
		zdtm_skip("dump.opts: %m");
	zdtm_ready();
	zdtm_wait_sigterm();
	check(&c4, "IPv4", 1);
	check(&c6, "IPv6", 0);
	int n = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in la;
	socklen_t l = sizeof(la);
	getsockname(c4.lsn, (void *)&la, &l);
	zdtm_check(connect(n, (void *)&la, l) == 0 && accept(c4.lsn, NULL, NULL) >= 0, "the listener no longer accepts");
	zdtm_exit();
}
