// SPDX-License-Identifier: Apache-2.0
// --ext-unix-sk (CRIU's meaning): unix sockets whose peer is outside the dumped tree. A server here holds a
// listener with a connection from an outside client (accepted, with unread data: like postgres with psql)
// and one it has not accepted yet (with data); a datagram client here is connected to a named server
// outside. The test asks for the option through dump.opts. After restore the accepted connection reads its
// data then EOF (its client is gone), the pending one is accepted with its data then EOF, the listener
// accepts new clients, and the datagram client is reconnected by name: the outside server answers it.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int lsn, acc, dg;
static unsigned long long started;

/* Field 22 of /proc/self/stat: a restored process is a new one, started later. */
static unsigned long long start_time(void)
{
	char buf[1024];
	unsigned long long v = 0;
	if (zdtm_read_file("/proc/self/stat", buf, sizeof(buf)) > 0) {
		char *p = strrchr(buf, ')');
		for (int f = 2; p && f < 22; f++)
			p = strchr(p + 1, ' ');
		if (p)
			v = strtoull(p + 1, NULL, 10);
	}
	return v;
}
static struct sockaddr_un la, sa, ca;
static socklen_t lal, sal, cal;

static socklen_t abstract(struct sockaddr_un *a, const char *what)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	return offsetof(struct sockaddr_un, sun_path) + 1 + snprintf(a->sun_path + 1, 100, "ferry-ext-%s-%d", what, getpid());
}

/* The outside process: two clients of our listener, and an echo server for datagrams; 60 s at most. */
static void outside(int ready)
{
	setsid();
	alarm(60);
	close(lsn);	/* a client does not hold the server's listener */
	int srv = socket(AF_UNIX, SOCK_DGRAM, 0), c1 = socket(AF_UNIX, SOCK_STREAM, 0), c2 = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(srv, (void *)&sa, sal) < 0 || connect(c1, (void *)&la, lal) < 0 || send(c1, "hello", 5, 0) != 5 ||
	    connect(c2, (void *)&la, lal) < 0 || send(c2, "pending data", 12, 0) != 12)
		_exit(1);
	write(ready, "r", 1);
	for (;;) {
		char b[64];
		struct sockaddr_un from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(srv, b + 5, sizeof(b) - 5, 0, (void *)&from, &fl);
		if (n <= 0 || (n == 3 && !memcmp(b + 5, "bye", 3)))
			_exit(0);
		memcpy(b, "echo:", 5);
		sendto(srv, b, n + 5, 0, (void *)&from, fl);
	}
}

static void setup(void)
{
	int p[2];
	char path[256], r;
	lal = abstract(&la, "lsn");
	sal = abstract(&sa, "srv");
	cal = abstract(&ca, "cli");
	lsn = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(lsn, (void *)&la, lal) < 0 || listen(lsn, 4) < 0 || pipe(p) < 0)
		zdtm_skip("listen: %m");
	pid_t mid = fork();
	if (mid == 0) {
		if (fork() == 0)
			outside(p[1]);
		_exit(0);
	}
	waitpid(mid, NULL, 0);
	if (read(p[0], &r, 1) != 1 || (acc = accept(lsn, NULL, NULL)) < 0)
		zdtm_skip("the outside process did not start");
	close(p[0]);
	close(p[1]);
	dg = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (bind(dg, (void *)&ca, cal) < 0 || connect(dg, (void *)&sa, sal) < 0)
		zdtm_skip("dgram: %m");
	FILE *f = fopen(zdtm_path(path, sizeof(path), "dump.opts"), "w");
	if (!f || fputs("--ext-unix-sk\n", f) < 0 || fclose(f) != 0)
		zdtm_skip("dump.opts: %m");
}

static void check(void)
{
	char b[64];
	int restored = start_time() != started;	/* without a restore (the runner's selfcheck) the client is still there */
	ssize_t n = recv(acc, b, sizeof(b), MSG_DONTWAIT);
	zdtm_check(n == 5 && !memcmp(b, "hello", 5), "accepted connection: %zd bytes, want its data", n);
	if (!restored) {
		zdtm_check(recv(acc, b, sizeof(b), MSG_DONTWAIT) < 0 && errno == EAGAIN, "selfcheck: the client left");
		send(dg, "bye", 3, 0);
		return;
	}
	zdtm_check(recv(acc, b, sizeof(b), MSG_DONTWAIT) == 0, "accepted connection: no EOF after its data");
	zdtm_check(send(acc, "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, "accepted connection: send did not fail EPIPE");
	struct pollfd pl = { .fd = lsn, .events = POLLIN };
	int p = poll(&pl, 1, 0) == 1 ? accept(lsn, NULL, NULL) : -1;
	zdtm_check(p >= 0, "the pending connection from outside is gone");
	n = p >= 0 ? recv(p, b, sizeof(b), MSG_DONTWAIT) : -1;
	zdtm_check(n == 12 && !memcmp(b, "pending data", 12), "pending connection: %zd bytes, want its data", n);
	zdtm_check(p < 0 || recv(p, b, sizeof(b), MSG_DONTWAIT) == 0, "pending connection: no EOF after its data");
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	zdtm_check(connect(c, (void *)&la, lal) == 0 && accept(lsn, NULL, NULL) >= 0, "the listener no longer accepts");
	struct timeval tv = { 5, 0 };
	setsockopt(dg, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	zdtm_check(send(dg, "ping", 4, 0) == 4, "dgram client: send to the outside server: %m");
	n = recv(dg, b, sizeof(b), 0);
	zdtm_check(n == 9 && !memcmp(b, "echo:ping", 9), "the outside server did not answer (%zd: %m)", n);
	send(dg, "bye", 3, 0);
}

int main(void)
{
	zdtm_init("unix_ext");
	started = start_time();
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	check();
	zdtm_exit();
}
