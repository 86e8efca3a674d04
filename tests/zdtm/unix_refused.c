// SPDX-License-Identifier: Apache-2.0
// Unix socket states ferry cannot restore as they are, refused by name with the task left running intact
// (tests/lib/zdtm_refuse.h): a stream connected to a process outside the tree, a datagram socket connected to a
// named socket outside the tree (both without --ext-unix-sk: the message says so), a listener holding a
// connection from a client outside the tree, a connection not accepted yet whose client sent data (readable
// only by accepting it: refused with -R), and a pending out-of-band byte (MSG_OOB).
#include "zdtm.h"
#include "zdtm_refuse.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

static int sk, other, keep[2];
static struct sockaddr_un addr;
static socklen_t alen;

/* A process outside the tree (reparented away) runs fn(fd) until our end of keep[] closes. */
static void outside(void (*fn)(int), int fd)
{
	if (pipe(keep) < 0)
		return;
	pid_t p = fork();
	if (p == 0) {
		if (fork() == 0) {
			setsid();	/* its zombie, reaped late by init, must not hold our session's id */
			close(keep[1]);
			fn(fd);
			char b;
			while (read(keep[0], &b, 1) > 0)
				;
			_exit(0);
		}
		_exit(0);
	}
	waitpid(p, NULL, 0);
	close(keep[0]);
}

static void hold(int fd)
{
	(void)fd;
}

static void name(const char *what)
{
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	alen = offsetof(struct sockaddr_un, sun_path) + 1 + snprintf(addr.sun_path + 1, 100, "ferry-ref-%s-%d", what, getpid());
}

static int stream_setup(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1001;
	outside(hold, sv[1]);
	close(sv[1]);
	sk = sv[0];
	return sk;
}

static int alive_check(void)
{
	return send(sk, "x", 1, MSG_NOSIGNAL) == 1 ? 0 : 1;
}

static int dgram_setup(void)
{
	name("dg");
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (s < 0 || bind(s, (void *)&addr, alen) < 0)	/* the name, held outside once we close ours */
		return -1001;
	outside(hold, s);
	sk = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (connect(sk, (void *)&addr, alen) < 0)
		return -1002;
	close(s);
	return sk;
}

static void outside_client(int fd)
{
	(void)fd;
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	connect(c, (void *)&addr, alen);
	other = c;	/* held until the keep pipe closes */
}

static int icon_setup(void)
{
	name("lsn");
	sk = socket(AF_UNIX, SOCK_STREAM, 0);
	if (sk < 0 || bind(sk, (void *)&addr, alen) < 0 || listen(sk, 4) < 0)
		return -1001;
	outside(outside_client, -1);
	struct pollfd p = { .fd = sk, .events = POLLIN };
	return poll(&p, 1, 3000) == 1 ? sk : -1002;
}

static int acc_check(void)
{
	struct pollfd p = { .fd = sk, .events = POLLIN };
	return poll(&p, 1, 0) == 1 && accept(sk, NULL, NULL) >= 0 ? 0 : 1;
}

static int data_setup(void)
{
	name("data");
	sk = socket(AF_UNIX, SOCK_STREAM, 0);
	other = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(sk, (void *)&addr, alen) < 0 || listen(sk, 4) < 0 || connect(other, (void *)&addr, alen) < 0 ||
	    send(other, "unread", 6, 0) != 6)
		return -1001;
	return sk;
}

static int data_check(void)
{
	char b[8];
	int a = accept(sk, NULL, NULL);
	return a >= 0 && recv(a, b, sizeof(b), MSG_DONTWAIT) == 6 ? 0 : 1;
}

static int oob_setup(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || send(sv[1], "ab", 2, 0) != 2 || send(sv[1], "!", 1, MSG_OOB) != 1)
		return -1001;	/* this kernel has no MSG_OOB on unix sockets */
	sk = sv[0];
	other = sv[1];
	return sk;
}

static int oob_check(void)
{
	char b;
	return recv(sk, &b, 1, MSG_OOB) == 1 && b == '!' ? 0 : 1;
}

static const struct zr_case cases[] = {
	{ "stream-outside", stream_setup, alive_check, { "no dumped task holds", "--ext-unix-sk", "%pid", "%fd" } },
	{ "dgram-outside", dgram_setup, alive_check, { "no dumped task holds", "--ext-unix-sk", "%pid", "%fd" } },
	{ "client-outside", icon_setup, acc_check, { "has not accepted yet", "--ext-unix-sk", "%pid", "%fd" } },
	{ "pending-data", data_setup, data_check, { "can only be read by accepting it", "%pid", "%fd" } },
	{ "oob", oob_setup, oob_check, { "out-of-band", "%pid", "%fd" } },
};

int main(void)
{
	zr_main("unix_refused", cases, sizeof(cases) / sizeof(cases[0]));
}
