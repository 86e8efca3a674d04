// SPDX-License-Identifier: Apache-2.0
// Datagram unix sockets connected in ways the restore must order: a chain A -> B -> C where B received from A
// before connecting to C (A must connect, and send, before B connects; after, A's sends fail EPERM); a socket
// connected to itself, with a message to itself queued; two named sockets connected to each other; a
// socketpair whose one end lives in a child process (the pair spans processes); a pair end whose other end
// was closed (the first send fails ECONNREFUSED). After restore every message is where it was, from whom it
// was, and every connection sends where it sent.
#include "zdtm.h"
#include "zdtm_sock.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

enum { A, B, C, SELF, M1, M2, W, N };
static int fds[N], pair[2];
static struct sockaddr_un addr[N];
static socklen_t alen[N];
static pid_t child;
static struct zs_snap snaps[N];

static int named(int i, const char *name)
{
	memset(&addr[i], 0, sizeof(addr[i]));
	addr[i].sun_family = AF_UNIX;
	alen[i] = offsetof(struct sockaddr_un, sun_path) + 1 +
		  snprintf(addr[i].sun_path + 1, 100, "ferry-dg-%s-%d", name, getpid());
	fds[i] = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (fds[i] < 0 || bind(fds[i], (void *)&addr[i], alen[i]) < 0)
		zdtm_skip("bind %s: %m", name);
	return fds[i];
}

static void conn(int from, int to)
{
	if (connect(fds[from], (void *)&addr[to], alen[to]) < 0)
		zdtm_skip("connect %d -> %d: %m", from, to);
}

static void child_loop(int fd)
{
	char b[64];
	for (;;) {	/* echoes what it receives, prefixed */
		ssize_t n = recv(fd, b + 1, sizeof(b) - 1, 0);
		if (n <= 0)
			_exit(0);
		b[0] = '>';
		send(fd, b, n + 1, 0);
	}
}

static void setup(void)
{
	named(A, "a"), named(B, "b"), named(C, "c"), named(SELF, "self"), named(M1, "m1"), named(M2, "m2");
	conn(A, B);
	if (send(fds[A], "a to b", 6, 0) != 6)
		zdtm_skip("send: %m");
	conn(B, C);
	if (send(fds[B], "b to c", 6, 0) != 6)
		zdtm_skip("send: %m");
	conn(SELF, SELF);
	if (send(fds[SELF], "to myself", 9, 0) != 9)
		zdtm_skip("send: %m");
	conn(M1, M2);
	conn(M2, M1);
	if (send(fds[M1], "m1", 2, 0) != 2 || send(fds[M2], "m2", 2, 0) != 2)
		zdtm_skip("send: %m");
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, pair) < 0)
		zdtm_skip("socketpair: %m");
	child = fork();
	if (child == 0) {
		close(pair[0]);
		child_loop(pair[1]);
	}
	close(pair[1]);
	int w[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, w) < 0 || send(w[1], "last words", 10, 0) != 10)
		zdtm_skip("socketpair: %m");
	close(w[1]);
	fds[W] = w[0];
	/* options a program reads back, on a few of them (every option of every socket is compared) */
	int one = 1, buf = 50000, prio = 4, lowat = 2;
	struct timeval tv = { 2, 250000 };
	setsockopt(fds[A], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	setsockopt(fds[B], SOL_SOCKET, SO_PASSSEC, &one, sizeof(one));
	setsockopt(fds[B], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(fds[C], SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(fds[C], SOL_SOCKET, SO_PRIORITY, &prio, sizeof(prio));
	setsockopt(fds[SELF], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fds[SELF], SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));
	setsockopt(fds[M1], SOL_SOCKET, SO_TIMESTAMP, &one, sizeof(one));
	for (int i = 0; i < N; i++)
		zs_take(fds[i], &snaps[i]);
}

static void expect(int fd, const char *want, int from, const char *what)
{
	char b[64];
	struct sockaddr_un a;
	socklen_t l = sizeof(a);
	ssize_t n = recvfrom(fd, b, sizeof(b), MSG_DONTWAIT, (void *)&a, &l);
	zdtm_check(n == (ssize_t)strlen(want) && !memcmp(b, want, n), "%s: got %zd bytes '%.*s', want '%s'", what, n,
		   (int)(n > 0 ? n : 0), b, want);
	if (from >= 0)
		zdtm_check(l == alen[from] && !memcmp(&a, &addr[from], l), "%s: from another address", what);
}

static void check(void)
{
	for (int i = 0; i < N; i++) {
		char what[32];
		snprintf(what, sizeof(what), "socket %d", i);
		zs_compare(fds[i], &snaps[i], what);
	}
	expect(fds[B], "a to b", A, "B's message from A");
	expect(fds[C], "b to c", B, "C's message from B");
	expect(fds[SELF], "to myself", SELF, "the self-connected socket");
	expect(fds[M2], "m1", M1, "M2's message");
	expect(fds[M1], "m2", M2, "M1's message");
	/* B is connected to C now: the kernel lets only C send to it */
	zdtm_check(send(fds[A], "again", 5, 0) < 0 && errno == EPERM, "A's send to B: %m, want EPERM as before");
	zdtm_check(send(fds[B], "again", 5, 0) == 5, "B cannot send to C after restore: %m");
	expect(fds[C], "again", B, "C's new message from B");
	zdtm_check(send(fds[SELF], "me", 2, 0) == 2, "the self-connected socket cannot send: %m");
	expect(fds[SELF], "me", SELF, "the self-connected socket's new message");
	zdtm_check(send(fds[M2], "x", 1, 0) == 1 && send(fds[M1], "y", 1, 0) == 1, "the named pair cannot send: %m");
	expect(fds[M1], "x", M2, "M1's new message");
	expect(fds[M2], "y", M1, "M2's new message");
	char b[64];
	struct timeval tv = { 5, 0 };
	setsockopt(pair[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	zdtm_check(send(pair[0], "echo", 4, 0) == 4 && recv(pair[0], b, sizeof(b), 0) == 5 && !memcmp(b, ">echo", 5),
		   "the pair across processes does not reach the child: %m");
	expect(fds[W], "last words", -1, "the widowed end's queue");
	zdtm_check(send(fds[W], "x", 1, MSG_DONTWAIT) < 0 && errno == ECONNREFUSED,
		   "the widowed end's first send: %m, want ECONNREFUSED");
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

int main(void)
{
	zdtm_init("unix_dgram");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	check();
	zdtm_exit();
}
