// SPDX-License-Identifier: Apache-2.0
// Unix socketpairs: stream with data queued both ways (one side larger than a page), dgram and
// seqpacket with several messages each way (boundaries checked), a stream pair shut down for
// writing on one side, and a stream end whose peer was closed with data still queued.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define BIG 150000
static int st[2], dg[2], sq[2], sh[2], orphan;
static unsigned char big[BIG];
static const char *msgs[] = { "one", "two-two", "three three three", "4" };
#define LONGMSG 100000	/* longer than ferry's peek buffer: read in pieces */
#define NMSG (sizeof(msgs) / sizeof(msgs[0]))

static void xsend(int fd, const void *p, size_t n)
{
	if (send(fd, p, n, 0) != (ssize_t)n) {
		perror("send");
		_exit(2);
	}
}

static void pair(int type, int sv[2])
{
	if (socketpair(AF_UNIX, type, 0, sv) < 0) {
		perror("socketpair");
		_exit(2);
	}
}

static void setup(void)
{
	int tmp[2];
	zdtm_fill(big, sizeof(big), 42);
	pair(SOCK_STREAM, st);
	xsend(st[0], big, BIG);		/* waits in st[1] */
	xsend(st[1], "hello", 5);
	xsend(st[1], " world", 6);	/* stream: one run "hello world" in st[0] */
	pair(SOCK_DGRAM, dg);
	pair(SOCK_SEQPACKET, sq);
	for (size_t i = 0; i < NMSG; i++) {
		xsend(dg[0], msgs[i], strlen(msgs[i]));
		xsend(dg[1], msgs[NMSG - 1 - i], strlen(msgs[NMSG - 1 - i]));
		xsend(sq[0], msgs[i], strlen(msgs[i]));
		xsend(sq[1], msgs[i], strlen(msgs[i]));
	}
	xsend(dg[0], big, LONGMSG);
	xsend(sq[1], big + 1, LONGMSG);
	xsend(sq[1], "tail", 4);
	pair(SOCK_STREAM, sh);
	xsend(sh[0], "last words", 10);
	shutdown(sh[0], SHUT_WR);
	pair(SOCK_STREAM, tmp);
	xsend(tmp[1], "orphaned", 8);
	close(tmp[1]);
	orphan = tmp[0];
	fcntl(dg[1], F_SETFL, O_NONBLOCK);
}

static void expect_stream(int fd, const void *want, size_t n, const char *what)
{
	static unsigned char got[BIG + 16];
	size_t have = 0;
	while (have < n) {
		ssize_t r = recv(fd, got + have, n - have, MSG_DONTWAIT);
		if (r <= 0) {
			zdtm_fail("%s: got %zu of %zu bytes, then %zd (%m)", what, have, n, r);
			return;
		}
		have += r;
	}
	zdtm_check(!memcmp(got, want, n), "%s: data differs", what);
	ssize_t r = recv(fd, got, 1, MSG_DONTWAIT | MSG_PEEK);
	zdtm_check(r == 0 || (r < 0 && errno == EAGAIN), "%s: more data than queued", what);
}

static void expect_msg(int fd, const char *want, const char *what)
{
	char got[256];
	ssize_t r = recv(fd, got, sizeof(got), MSG_DONTWAIT);
	zdtm_check(r == (ssize_t)strlen(want) && !memcmp(got, want, r), "%s: message '%.*s' (%zd), want '%s'",
		   what, r > 0 ? (int)r : 0, got, r, want);
}

static void expect_long(int fd, const unsigned char *want, const char *what)
{
	static unsigned char got[LONGMSG + 100];
	ssize_t r = recv(fd, got, sizeof(got), MSG_DONTWAIT);
	zdtm_check(r == LONGMSG && !memcmp(got, want, LONGMSG), "%s: %zd bytes (want %d) or other data", what, r,
		   LONGMSG);
}

static void check_type(int fd, int type, const char *what)
{
	int t = -1;
	socklen_t l = sizeof(t);
	struct stat sb;
	zdtm_check(fstat(fd, &sb) == 0 && S_ISSOCK(sb.st_mode), "%s: fd %d is not a socket", what, fd);
	zdtm_check(getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &l) == 0 && t == type, "%s: type %d, want %d", what, t, type);
}

static void verify(void)
{
	char c;
	check_type(st[0], SOCK_STREAM, "stream");
	check_type(dg[0], SOCK_DGRAM, "dgram");
	check_type(sq[1], SOCK_SEQPACKET, "seqpacket");
	expect_stream(st[1], big, BIG, "stream -> end 1");
	expect_stream(st[0], "hello world", 11, "stream -> end 0");
	for (size_t i = 0; i < NMSG; i++) {
		expect_msg(dg[1], msgs[i], "dgram -> end 1");
		expect_msg(sq[1], msgs[i], "seqpacket -> end 1");
		expect_msg(dg[0], msgs[NMSG - 1 - i], "dgram -> end 0");
		expect_msg(sq[0], msgs[i], "seqpacket -> end 0");
	}
	expect_long(dg[1], big, "dgram -> end 1, long message");
	expect_long(sq[0], big + 1, "seqpacket -> end 0, long message");
	expect_msg(sq[0], "tail", "seqpacket -> end 0, after the long one");
	zdtm_check(fcntl(dg[1], F_GETFL) & O_NONBLOCK, "dgram end 1 lost O_NONBLOCK");
	/* still connected to each other */
	xsend(st[0], "ping", 4);
	expect_stream(st[1], "ping", 4, "stream after restore");
	xsend(dg[1], "pong", 4);
	expect_msg(dg[0], "pong", "dgram after restore");
	xsend(sq[0], "seq", 3);
	expect_msg(sq[1], "seq", "seqpacket after restore");
	/* shutdown: data, then EOF; the other way still works */
	expect_stream(sh[1], "last words", 10, "shut down pair");
	zdtm_check(recv(sh[1], &c, 1, MSG_DONTWAIT) == 0, "shut down pair: no EOF after the data");
	zdtm_check(send(sh[0], "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, "shut down end can still send");
	xsend(sh[1], "back", 4);
	expect_stream(sh[0], "back", 4, "shut down pair, other way");
	/* orphan: its data, then EOF; sending fails */
	expect_stream(orphan, "orphaned", 8, "orphaned end");
	zdtm_check(recv(orphan, &c, 1, MSG_DONTWAIT) == 0, "orphaned end: no EOF after the data");
	zdtm_check(send(orphan, "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, "orphaned end can still send");
}

int main(void)
{
	zdtm_init("unix_pairs");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	verify();
	zdtm_exit();
}
