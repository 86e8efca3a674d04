// SPDX-License-Identifier: Apache-2.0
// Half-closed and widowed unix sockets: a stream pair with one end shut for writing (data still queued
// toward the other), a seqpacket pair with one end shut for reading, a stream end whose peer closed after
// reading everything (EOF, then EPIPE), one whose peer closed with data unread (ECONNRESET once, then EOF),
// a seqpacket end whose peer closed (its last message, then EOF), a datagram socket shut both ways. After
// restore poll() reports the same events and reads and writes fail or succeed as before.
#include "zdtm.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { WR0, WR1, RD0, RD1, EOFS, RESET, SEQ_W, DG, N };
static const char *names[N] = { "SHUT_WR end", "its peer", "SHUT_RD seqpacket end", "its peer", "widowed stream",
				"reset stream", "widowed seqpacket", "dgram shut both ways" };
static int fds[N];
static short events[N];

static void pair(int type, int *a, int *b)
{
	int sv[2];
	if (socketpair(AF_UNIX, type, 0, sv) < 0)
		zdtm_skip("socketpair: %m");
	*a = sv[0], *b = sv[1];
}

static void setup(void)
{
	int x;
	pair(SOCK_STREAM, &fds[WR0], &fds[WR1]);
	if (send(fds[WR0], "before shut", 11, 0) != 11 || shutdown(fds[WR0], SHUT_WR) < 0)
		zdtm_skip("shutdown: %m");
	pair(SOCK_SEQPACKET, &fds[RD0], &fds[RD1]);
	shutdown(fds[RD0], SHUT_RD);
	pair(SOCK_STREAM, &fds[EOFS], &x);
	close(x);
	pair(SOCK_STREAM, &fds[RESET], &x);
	if (send(fds[RESET], "unread", 6, 0) != 6)
		zdtm_skip("send: %m");
	close(x);
	pair(SOCK_SEQPACKET, &fds[SEQ_W], &x);
	if (send(x, "last", 4, 0) != 4)
		zdtm_skip("send: %m");
	close(x);
	int d[2];
	pair(SOCK_DGRAM, &d[0], &d[1]);
	fds[DG] = d[0];
	shutdown(fds[DG], SHUT_RDWR);
	for (int i = 0; i < N; i++) {
		struct pollfd p = { .fd = fds[i], .events = POLLIN | POLLOUT | POLLRDHUP };
		poll(&p, 1, 0);
		events[i] = p.revents;
	}
}

static void check(void)
{
	char b[32];
	for (int i = 0; i < N; i++) {
		struct pollfd p = { .fd = fds[i], .events = POLLIN | POLLOUT | POLLRDHUP };
		poll(&p, 1, 0);
		zdtm_check(p.revents == events[i], "%s: poll events %#x, were %#x", names[i], p.revents, events[i]);
	}
	zdtm_check(send(fds[WR0], "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, "SHUT_WR end can still send");
	zdtm_check(recv(fds[WR1], b, sizeof(b), MSG_DONTWAIT) == 11 && recv(fds[WR1], b, sizeof(b), MSG_DONTWAIT) == 0,
		   "SHUT_WR's peer: not the data then EOF");
	zdtm_check(send(fds[WR1], "back", 4, 0) == 4 && recv(fds[WR0], b, sizeof(b), MSG_DONTWAIT) == 4,
		   "the other way of a half-closed pair is broken");
	zdtm_check(recv(fds[RD0], b, sizeof(b), MSG_DONTWAIT) == 0, "SHUT_RD end: recv does not say EOF");
	zdtm_check(send(fds[RD1], "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, "SHUT_RD's peer can still send");
	zdtm_check(recv(fds[EOFS], b, sizeof(b), MSG_DONTWAIT) == 0, "widowed stream: no EOF");
	zdtm_check(send(fds[EOFS], "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, "widowed stream: send does not fail EPIPE");
	ssize_t n = recv(fds[RESET], b, sizeof(b), MSG_DONTWAIT);
	zdtm_check(n < 0 && errno == ECONNRESET, "reset stream: read %zd (%m), want ECONNRESET", n);
	zdtm_check(recv(fds[RESET], b, sizeof(b), MSG_DONTWAIT) == 0, "reset stream: no EOF after the reset");
	zdtm_check(recv(fds[SEQ_W], b, sizeof(b), MSG_DONTWAIT) == 4 && recv(fds[SEQ_W], b, sizeof(b), MSG_DONTWAIT) == 0,
		   "widowed seqpacket: not its last message then EOF");
	zdtm_check(send(fds[DG], "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, "dgram shut both ways can still send");
}

int main(void)
{
	zdtm_init("unix_shutdown");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	check();
	zdtm_exit();
}
