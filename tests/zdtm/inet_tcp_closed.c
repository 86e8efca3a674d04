// SPDX-License-Identifier: Apache-2.0
// TCP sockets that are not listening and not connected (state CLOSE), as the program sees them: a client
// whose peer sent data and then reset the connection (the data reads back, then ECONNRESET once, then EOF,
// writes fail with EPIPE); an accepted socket reset by its client, on the port its listener still holds
// (it must come back on that port without a bind conflict); a connection closed both ways with data left
// to read (the data, then EOF); a non-blocking connect refused (SO_ERROR gives ECONNREFUSED); a socket bound
// but never connected (it can still listen) and one never bound. Addresses, poll() events and every option
// read back the same; the listener still accepts.
#include "zdtm.h"
#include "zdtm_sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { LSN, RESET, ACC_RESET, CLOSED, REFUSED, BOUND, UNBOUND, N };
static const char *names[N] = { "listener", "reset", "accepted+reset", "closed", "refused", "bound", "unbound" };
static int fds[N];
static struct sockaddr_in self[N];
static short events[N];
static struct zs_snap snaps[N];
static struct sockaddr_in lsn_addr;

static int tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);
	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0 ? -1 : ti.tcpi_state;
}

static void wait_state(int fd, int state, const char *what)
{
	for (int i = 0; i < 300 && tcp_state(fd) != state; i++)
		usleep(10000);
	if (tcp_state(fd) != state)
		zdtm_skip("%s: state %d, want %d", what, tcp_state(fd), state);
}

static int client(void)
{
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (void *)&lsn_addr, sizeof(lsn_addr)) < 0)
		zdtm_skip("connect: %m");
	return c;
}

static void rst_close(int fd)
{
	struct linger lg = { 1, 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void setup(void)
{
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	socklen_t al = sizeof(lsn_addr);
	lsn_addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (l < 0 || bind(l, (void *)&lsn_addr, al) < 0 || listen(l, 8) < 0 || getsockname(l, (void *)&lsn_addr, &al) < 0)
		zdtm_skip("listen: %m");
	fds[LSN] = l;

	fds[RESET] = client();
	int s = accept(l, NULL, NULL);
	if (write(s, "abc", 3) != 3)
		zdtm_skip("write: %m");
	for (int i = 0; i < 100; i++) {
		char b[4];
		if (recv(fds[RESET], b, sizeof(b), MSG_PEEK | MSG_DONTWAIT) == 3)
			break;
		usleep(10000);
	}
	rst_close(s);
	wait_state(fds[RESET], 7, "reset");

	int c2 = client();
	fds[ACC_RESET] = accept(l, NULL, NULL);
	rst_close(c2);
	wait_state(fds[ACC_RESET], 7, "accepted+reset");

	fds[CLOSED] = client();
	s = accept(l, NULL, NULL);
	char b;
	if (shutdown(fds[CLOSED], SHUT_WR) < 0 || read(s, &b, 1) != 0 || write(s, "xyz", 3) != 3)
		zdtm_skip("graceful close: %m");
	close(s);
	wait_state(fds[CLOSED], 7, "closed");

	struct sockaddr_in gone = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int tmp = socket(AF_INET, SOCK_STREAM, 0);
	al = sizeof(gone);
	bind(tmp, (void *)&gone, al);
	getsockname(tmp, (void *)&gone, &al);
	close(tmp);	/* nobody listens there any more */
	fds[REFUSED] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (connect(fds[REFUSED], (void *)&gone, sizeof(gone)) == 0 || errno != EINPROGRESS)
		zdtm_skip("non-blocking connect: %m");
	struct pollfd p = { .fd = fds[REFUSED], .events = POLLOUT };
	poll(&p, 1, 3000);

	fds[BOUND] = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in ba = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	setsockopt(fds[BOUND], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fds[BOUND], (void *)&ba, sizeof(ba)) < 0)
		zdtm_skip("bind: %m");
	fds[UNBOUND] = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fds[UNBOUND], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void record(void)
{
	for (int i = 0; i < N; i++) {
		socklen_t l = sizeof(self[i]);
		getsockname(fds[i], (void *)&self[i], &l);
		struct pollfd p = { .fd = fds[i], .events = POLLIN | POLLOUT | POLLRDHUP };
		poll(&p, 1, 0);
		events[i] = p.revents;
		if (i >= BOUND || i == LSN)
			zs_take(fds[i], &snaps[i]);
	}
}

static void check_common(void)
{
	for (int i = 0; i < N; i++) {
		struct sockaddr_in a;
		socklen_t l = sizeof(a);
		getsockname(fds[i], (void *)&a, &l);
		zdtm_check(!memcmp(&a, &self[i], sizeof(a)), "%s: local address %s:%d, was %s:%d", names[i],
			   inet_ntoa(a.sin_addr), ntohs(a.sin_port), inet_ntoa(self[i].sin_addr), ntohs(self[i].sin_port));
		struct pollfd p = { .fd = fds[i], .events = POLLIN | POLLOUT | POLLRDHUP };
		poll(&p, 1, 0);
		zdtm_check(p.revents == events[i], "%s: poll events %#x, were %#x", names[i], p.revents, events[i]);
		zdtm_check(tcp_state(fds[i]) == (i == LSN ? 10 : 7), "%s: TCP state %d", names[i], tcp_state(fds[i]));
		if (i >= BOUND || i == LSN)
			zs_compare(fds[i], &snaps[i], names[i]);
	}
	zdtm_check(ntohs(self[ACC_RESET].sin_port) == ntohs(lsn_addr.sin_port),
		   "the accepted socket was not on the listener's port");
}

/* read → want (n bytes, or <0: -errno), for each step. */
static void reads(int fd, const char *what, const char *data, int err_after)
{
	char b[16];
	ssize_t n;
	if (data) {
		n = read(fd, b, sizeof(b));
		zdtm_check(n == (ssize_t)strlen(data) && !memcmp(b, data, n), "%s: read %zd bytes, want '%s'", what, n, data);
	}
	if (err_after) {
		n = read(fd, b, sizeof(b));
		zdtm_check(n < 0 && errno == err_after, "%s: read %zd (%m), want error %d", what, n, err_after);
	}
	n = read(fd, b, sizeof(b));
	zdtm_check(n == 0, "%s: read %zd (%m), want EOF", what, n);
	zdtm_check(send(fd, "w", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, "%s: write did not fail with EPIPE", what);
}

int main(void)
{
	zdtm_init("inet_tcp_closed");
	setup();
	record();
	zdtm_ready();
	zdtm_wait_sigterm();
	check_common();
	reads(fds[RESET], "reset", "abc", ECONNRESET);
	reads(fds[ACC_RESET], "accepted+reset", NULL, ECONNRESET);
	reads(fds[CLOSED], "closed", "xyz", 0);
	int e = 0;
	socklen_t l = sizeof(e);
	getsockopt(fds[REFUSED], SOL_SOCKET, SO_ERROR, &e, &l);
	zdtm_check(e == ECONNREFUSED, "refused: SO_ERROR %d, want ECONNREFUSED", e);
	zdtm_check(listen(fds[BOUND], 1) == 0, "bound: listen failed: %m");
	int c = client(), a = accept(fds[LSN], NULL, NULL);
	zdtm_check(c >= 0 && a >= 0, "the listener no longer accepts: %m");
	zdtm_exit();
}
