// SPDX-License-Identifier: Apache-2.0
// TCP listeners: 127.0.0.1 (SO_REUSEADDR, backlog 7, TCP_NODELAY, SO_KEEPALIVE, buffers), [::1] (v6only,
// O_NONBLOCK), [::] dual-stack with SO_REUSEPORT. After restore each is on the same address and port with
// the same options; a client connects, and data goes both ways through the accepted connection.
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

struct lsn {
	const char *what;
	int fd, family, port;
	struct sockaddr_storage addr;
	socklen_t alen;
	int opts[9];
	int fl;
};

static const struct { int level, name; } optnames[9] = {
	{ SOL_SOCKET, SO_REUSEADDR }, { SOL_SOCKET, SO_REUSEPORT }, { SOL_SOCKET, SO_RCVBUF },
	{ SOL_SOCKET, SO_SNDBUF }, { SOL_SOCKET, SO_KEEPALIVE }, { IPPROTO_TCP, TCP_NODELAY },
	{ IPPROTO_TCP, TCP_KEEPIDLE }, { SOL_SOCKET, SO_ACCEPTCONN }, { IPPROTO_IPV6, IPV6_V6ONLY },
};

static struct lsn lsns[3];

static int getint(int fd, int level, int name)
{
	int v = -1;
	socklen_t l = sizeof(v);
	if (getsockopt(fd, level, name, &v, &l) < 0)
		return -errno;
	return v;
}

static int backlog(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);
	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0 ? -1 : (int)ti.tcpi_sacked;
}

static void snapshot(struct lsn *l, int *opts)
{
	for (int i = 0; i < 9; i++)
		opts[i] = (optnames[i].level == IPPROTO_IPV6 && l->family != AF_INET6) ? 0 :
			  getint(l->fd, optnames[i].level, optnames[i].name);
}

static void setint(int fd, int level, int name, int v)
{
	if (setsockopt(fd, level, name, &v, sizeof(v)) < 0)
		zdtm_skip("setsockopt %d/%d: %m", level, name);
}

static void make(struct lsn *l, const char *what, int family, const char *addr, int v6only, int nonblock)
{
	l->what = what;
	l->family = family;
	l->fd = socket(family, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (l->fd < 0)
		zdtm_skip("socket: %m");
	memset(&l->addr, 0, sizeof(l->addr));
	if (family == AF_INET) {
		struct sockaddr_in *a = (void *)&l->addr;
		a->sin_family = AF_INET;
		inet_pton(AF_INET, addr, &a->sin_addr);
		l->alen = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (void *)&l->addr;
		a->sin6_family = AF_INET6;
		inet_pton(AF_INET6, addr, &a->sin6_addr);
		l->alen = sizeof(*a);
		setint(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only);
	}
	if (bind(l->fd, (void *)&l->addr, l->alen) < 0)
		zdtm_skip("bind %s: %m", what);
	getsockname(l->fd, (void *)&l->addr, &l->alen);
	l->port = ntohs(((struct sockaddr_in *)&l->addr)->sin_port);
}

static void setup(void)
{
	make(&lsns[0], "127.0.0.1", AF_INET, "127.0.0.1", 0, 0);
	setint(lsns[0].fd, SOL_SOCKET, SO_REUSEADDR, 1);
	setint(lsns[0].fd, SOL_SOCKET, SO_RCVBUF, 100000);
	setint(lsns[0].fd, SOL_SOCKET, SO_SNDBUF, 70000);
	setint(lsns[0].fd, SOL_SOCKET, SO_KEEPALIVE, 1);
	setint(lsns[0].fd, IPPROTO_TCP, TCP_NODELAY, 1);
	setint(lsns[0].fd, IPPROTO_TCP, TCP_KEEPIDLE, 77);
	if (listen(lsns[0].fd, 7) < 0)
		zdtm_skip("listen: %m");

	make(&lsns[1], "[::1]", AF_INET6, "::1", 1, 1);
	setint(lsns[1].fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (listen(lsns[1].fd, 3) < 0)
		zdtm_skip("listen: %m");

	make(&lsns[2], "[::] dual-stack", AF_INET6, "::", 0, 0);
	setint(lsns[2].fd, SOL_SOCKET, SO_REUSEPORT, 1);
	if (listen(lsns[2].fd, 200) < 0)
		zdtm_skip("listen: %m");

	for (int i = 0; i < 3; i++) {
		snapshot(&lsns[i], lsns[i].opts);
		lsns[i].fl = fcntl(lsns[i].fd, F_GETFL);
	}
}

/* Connects to the listener (to 127.0.0.1 for the dual-stack one), then talks both ways. */
static void talk(struct lsn *l, int via_v4)
{
	struct sockaddr_storage to = l->addr;
	socklen_t tolen = l->alen;
	if (via_v4) {
		struct sockaddr_in *a = (void *)&to;
		memset(&to, 0, sizeof(to));
		a->sin_family = AF_INET;
		a->sin_port = htons(l->port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		tolen = sizeof(*a);
	}
	int c = socket(to.ss_family, SOCK_STREAM, 0);
	if (connect(c, (void *)&to, tolen) < 0) {
		zdtm_fail("%s: connect to port %d after restore: %m", l->what, l->port);
		close(c);
		return;
	}
	struct pollfd p = { .fd = l->fd, .events = POLLIN };
	zdtm_check(poll(&p, 1, 5000) == 1, "%s: listener not readable after a connect", l->what);
	int s = accept(l->fd, NULL, NULL);
	char buf[32] = "";
	if (s < 0) {
		zdtm_fail("%s: accept: %m", l->what);
	} else {
		zdtm_check(write(c, "ping", 4) == 4 && read(s, buf, sizeof(buf)) == 4 && !memcmp(buf, "ping", 4),
			   "%s: client -> server data lost", l->what);
		zdtm_check(write(s, "pong!", 5) == 5 && read(c, buf, sizeof(buf)) == 5 && !memcmp(buf, "pong!", 5),
			   "%s: server -> client data lost", l->what);
		close(s);
	}
	close(c);
}

static void verify(void)
{
	static const int want_backlog[3] = { 7, 3, 200 };
	for (int i = 0; i < 3; i++) {
		struct lsn *l = &lsns[i];
		struct sockaddr_storage a;
		socklen_t alen = sizeof(a);
		int now[9];
		zdtm_check(getsockname(l->fd, (void *)&a, &alen) == 0 && alen == l->alen && !memcmp(&a, &l->addr, alen),
			   "%s: bound elsewhere after restore", l->what);
		snapshot(l, now);
		for (int k = 0; k < 9; k++)
			zdtm_check(now[k] == l->opts[k], "%s: option %d/%d is %d, was %d", l->what, optnames[k].level,
				   optnames[k].name, now[k], l->opts[k]);
		zdtm_check(fcntl(l->fd, F_GETFL) == l->fl, "%s: file flags %#o, want %#o", l->what,
			   fcntl(l->fd, F_GETFL), l->fl);
		int b = backlog(l->fd);
		zdtm_check(b == want_backlog[i], "%s: backlog %d, want %d", l->what, b, want_backlog[i]);
	}
	talk(&lsns[0], 0);
	talk(&lsns[1], 0);
	talk(&lsns[2], 0);
	talk(&lsns[2], 1);
}

int main(void)
{
	zdtm_init("inet_tcp_listen");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	verify();
	zdtm_exit();
}
