// SPDX-License-Identifier: Apache-2.0
// Connections a unix listener has not accepted yet, with what their clients sent: on a stream listener, a
// client (still held here) that sent data, one that sent nothing, one that sent data and closed, one that
// closed without sending; on a seqpacket listener, a client that sent two messages and shut down its
// sending side. After restore accept() returns them in the same order, each with its data, its end of file
// where the client is gone, and replies reach the clients still held.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int lsn, seq, c_data, c_quiet, c_seq;
static struct sockaddr_un la, sa;
static socklen_t lal, sal;

static socklen_t abstract(struct sockaddr_un *a, const char *name)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	return offsetof(struct sockaddr_un, sun_path) + 1 + snprintf(a->sun_path + 1, 100, "ferry-pend-%s-%d", name, getpid());
}

static int client(int type, const struct sockaddr_un *a, socklen_t l, const char *data)
{
	int c = socket(AF_UNIX, type, 0);
	if (c < 0 || connect(c, (const void *)a, l) < 0 || (data && send(c, data, strlen(data), 0) != (ssize_t)strlen(data)))
		zdtm_skip("client: %m");
	return c;
}

static void setup(void)
{
	lal = abstract(&la, "stream");
	sal = abstract(&sa, "seq");
	lsn = socket(AF_UNIX, SOCK_STREAM, 0);
	seq = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	if (bind(lsn, (void *)&la, lal) < 0 || listen(lsn, 8) < 0 || bind(seq, (void *)&sa, sal) < 0 || listen(seq, 8) < 0)
		zdtm_skip("listen: %m");
	c_data = client(SOCK_STREAM, &la, lal, "hello server");
	c_quiet = client(SOCK_STREAM, &la, lal, NULL);
	close(client(SOCK_STREAM, &la, lal, "goodbye"));
	close(client(SOCK_STREAM, &la, lal, NULL));
	c_seq = client(SOCK_SEQPACKET, &sa, sal, "one");
	if (send(c_seq, "two", 3, 0) != 3 || shutdown(c_seq, SHUT_WR) < 0)
		zdtm_skip("seqpacket: %m");
}

static int acc(int l, const char *what)
{
	struct pollfd p = { .fd = l, .events = POLLIN };
	int a = poll(&p, 1, 0) == 1 ? accept(l, NULL, NULL) : -1;
	zdtm_check(a >= 0, "%s: no pending connection to accept after restore", what);
	return a;
}

static void expect(int fd, const char *want, const char *what)
{
	char b[64];
	ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
	if (!want)
		zdtm_check(n == 0, "%s: read %zd (%m), want end of file", what, n);
	else
		zdtm_check(n == (ssize_t)strlen(want) && !memcmp(b, want, n), "%s: read %zd bytes '%.*s', want '%s'", what, n,
			   (int)(n > 0 ? n : 0), b, want);
}

static void check(void)
{
	char b[16];
	int a = acc(lsn, "client with data");
	expect(a, "hello server", "client with data");
	zdtm_check(send(a, "reply", 5, 0) == 5 && recv(c_data, b, sizeof(b), MSG_DONTWAIT) == 5, "reply to client 1: %m");
	a = acc(lsn, "quiet client");
	zdtm_check(recv(a, b, sizeof(b), MSG_DONTWAIT) < 0 && errno == EAGAIN, "quiet client: unexpected data or EOF");
	zdtm_check(send(c_quiet, "late", 4, 0) == 4 && recv(a, b, sizeof(b), MSG_DONTWAIT) == 4, "late data from client 2");
	a = acc(lsn, "client that left");
	expect(a, "goodbye", "client that left");
	expect(a, NULL, "client that left");
	a = acc(lsn, "client that left silently");
	expect(a, NULL, "client that left silently");
	fcntl(lsn, F_SETFL, O_NONBLOCK);
	zdtm_check(accept(lsn, NULL, NULL) < 0 && errno == EAGAIN, "more pending connections than there were");
	a = acc(seq, "seqpacket client");
	expect(a, "one", "seqpacket message 1");
	expect(a, "two", "seqpacket message 2");
	expect(a, NULL, "seqpacket after shutdown");
}

int main(void)
{
	zdtm_init("unix_pending");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	check();
	zdtm_exit();
}
