// SPDX-License-Identifier: Apache-2.0
// Unix sockets between two processes: a stream socketpair and a seqpacket pair with data queued
// both ways between parent and child, a listener in the parent with a connection from the child
// not accepted yet. The child waits on a control pair, verifies its ends and exits with the result.
#include "zdtm.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int ctl[2], st[2], sq[2], lsn, cli;
static struct sockaddr_un sa;
static socklen_t salen;

static void die(const char *what)
{
	perror(what);
	_exit(2);
}

static int expect(int fd, const char *want)
{
	char got[64];
	ssize_t r = recv(fd, got, sizeof(got), MSG_DONTWAIT);
	return r == (ssize_t)strlen(want) && !memcmp(got, want, r);
}

static int child(void)
{
	char c;
	close(ctl[0]);
	close(st[0]);
	close(sq[0]);
	close(lsn);
	if (send(st[1], "from child", 10, 0) != 10 || send(sq[1], "c1", 2, 0) != 2 || send(sq[1], "c2", 2, 0) != 2)
		die("send");
	if (send(ctl[1], "r", 1, 0) != 1)
		die("ready");
	while (recv(ctl[1], &c, 1, 0) < 0 && errno == EINTR)
		;
	int bad = 0;
	bad |= !expect(st[1], "from parent") << 0;
	bad |= !expect(sq[1], "p1") << 1;
	bad |= !expect(sq[1], "p2") << 2;
	bad |= (send(cli, "hi", 2, 0) != 2) << 3;
	return bad;
}

int main(void)
{
	char c;
	zdtm_init("unix_tree");
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, ctl) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, st) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sq) < 0)
		die("socketpair");
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "ferry-unix-tree-%d", getpid());
	salen = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(sa.sun_path + 1);
	lsn = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lsn < 0 || bind(lsn, (struct sockaddr *)&sa, salen) < 0 || listen(lsn, 4) < 0)
		die("listen");
	cli = socket(AF_UNIX, SOCK_STREAM, 0);
	if (cli < 0 || connect(cli, (struct sockaddr *)&sa, salen) < 0)
		die("connect");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0)
		_exit(child());
	close(ctl[1]);
	close(st[1]);
	close(sq[1]);
	close(cli);
	if (recv(ctl[0], &c, 1, 0) != 1)
		die("child not ready");
	if (send(st[0], "from parent", 11, 0) != 11 || send(sq[0], "p1", 2, 0) != 2 || send(sq[0], "p2", 2, 0) != 2)
		die("send");
	zdtm_ready();
	zdtm_wait_sigterm();

	zdtm_check(expect(st[0], "from child"), "stream: parent's end lost the child's data");
	zdtm_check(expect(sq[0], "c1") && expect(sq[0], "c2"), "seqpacket: parent's end lost the child's messages");
	int s = accept(lsn, NULL, NULL);
	zdtm_check(s >= 0, "accept the child's pending connection: %m");
	zdtm_check(send(ctl[0], "g", 1, 0) == 1, "wake the child: %m");
	int status = 0;
	zdtm_check(waitpid(pid, &status, 0) == pid, "waitpid: %m");
	zdtm_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed (status %#x: bits of its failed checks)", status);
	char got[8];
	zdtm_check(s >= 0 && recv(s, got, sizeof(got), 0) == 2 && !memcmp(got, "hi", 2),
		   "the accepted connection does not carry the child's data");
	zdtm_exit();
}
