// SPDX-License-Identifier: Apache-2.0
// Unix receive queues as the receiver sees them. A datagram socket holds messages from several senders: a
// socket bound to a path, one bound to an abstract name, an unnamed one, one whose path was removed after it
// sent, one now closed, and a child with other uid/gid that exited; the receiver reads SO_PASSCRED
// credentials: each message keeps its sender's address, pid, uid and gid. A seqpacket pair holds messages
// (one of zero length) and its peer shut down (the dump must not loop): after the messages, EOF. A stream
// pair holds bytes from two processes (credentials change mid-queue). SO_PEEK_OFF set in the middle of a
// queue keeps its place. An unconnected stream socket and a listener have no queue to peek (the dump must
// not fail on them).
#include "zdtm.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

struct msg {
	char data[32];
	ssize_t len;
	struct sockaddr_un from;
	socklen_t flen;
	struct ucred cred;
};

#define NDG 6
static struct msg want_dg[NDG];
static int rx, sp[2], st[2], unconn, lsn, peeker;
static struct sockaddr_un rx_addr;
static socklen_t rx_len;
static char dir[80];

static socklen_t path_addr(struct sockaddr_un *a, const char *name)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	snprintf(a->sun_path, sizeof(a->sun_path), "%s/%s", dir, name);
	unlink(a->sun_path);
	return offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1;
}

static int sender(const struct sockaddr_un *a, socklen_t l)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (fd < 0 || (a && bind(fd, (void *)a, l) < 0))
		zdtm_skip("sender: %m");
	return fd;
}

static void expect(int fd, const char *m, int i, pid_t pid, uid_t uid, gid_t gid)
{
	want_dg[i].len = (ssize_t)strlen(m);
	memcpy(want_dg[i].data, m, strlen(m));
	want_dg[i].flen = sizeof(want_dg[i].from);
	getsockname(fd, (void *)&want_dg[i].from, &want_dg[i].flen);
	if (want_dg[i].flen <= offsetof(struct sockaddr_un, sun_path))
		want_dg[i].flen = 0;	/* an unnamed sender has no address */
	want_dg[i].cred = (struct ucred){ pid, uid, gid };
}

static void sendit(int fd, const char *m, int i)
{
	if (sendto(fd, m, strlen(m), 0, (void *)&rx_addr, rx_len) < 0)
		zdtm_skip("sendto: %m");
	expect(fd, m, i, getpid(), getuid(), getgid());
}

static int child_fd;

static int other_sender(void *arg)
{
	(void)arg;
	if (syscall(SYS_setresgid, 3005, 3005, 3005) < 0 || syscall(SYS_setresuid, 2005, 2005, 2005) < 0)
		return 1;
	return sendto(child_fd, "from a child", 12, 0, (void *)&rx_addr, rx_len) == 12 ? 0 : 2;
}

static void dgram(void)
{
	static char stack[65536] __attribute__((aligned(16)));
	struct sockaddr_un a;
	socklen_t l;
	int one = 1, status;
	rx_len = path_addr(&rx_addr, "rx.sock");
	rx = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (rx < 0 || bind(rx, (void *)&rx_addr, rx_len) < 0 || setsockopt(rx, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
	    chmod(rx_addr.sun_path, 0777) < 0)
		zdtm_skip("rx: %m");
	l = path_addr(&a, "named.sock");
	sendit(sender(&a, l), "from a path", 0);
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	l = offsetof(struct sockaddr_un, sun_path) + 1 + snprintf(a.sun_path + 1, 100, "ferry-uq-%d", getpid());
	sendit(sender(&a, l), "from an abstract name", 1);
	sendit(sender(NULL, 0), "from nobody", 2);
	l = path_addr(&a, "gone.sock");
	int gone = sender(&a, l);
	sendit(gone, "from a removed path", 3);
	unlink(a.sun_path);
	close(gone);
	l = path_addr(&a, "closed.sock");
	int closed = sender(&a, l);
	sendit(closed, "", 4);
	close(closed);
	unlink(a.sun_path);
	child_fd = sender(NULL, 0);
	pid_t pid = clone(other_sender, stack + sizeof(stack), CLONE_VM | CLONE_FILES | SIGCHLD, NULL);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		zdtm_skip("the other sender failed: %m");
	expect(child_fd, "from a child", 5, pid, 2005, 3005);
}

static void seqpacket(void)
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) < 0)
		zdtm_skip("socketpair: %m");
	if (send(sp[1], "first", 5, 0) != 5 || send(sp[1], "", 0, 0) != 0 || send(sp[1], "third", 5, 0) != 5 ||
	    shutdown(sp[1], SHUT_WR) < 0)
		zdtm_skip("seqpacket send: %m");
}

static int stream_child(void *arg)
{
	(void)arg;
	return send(st[1], "CHILD", 5, 0) == 5 ? 0 : 1;
}

static pid_t stream_child_pid;

static void stream(void)
{
	static char stack[65536] __attribute__((aligned(16)));
	int one = 1, status;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, st) < 0 || setsockopt(st[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
		zdtm_skip("stream pair: %m");
	send(st[1], "parent1", 7, 0);
	int pid = clone(stream_child, stack + sizeof(stack), CLONE_VM | CLONE_FILES | SIGCHLD, NULL);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		zdtm_skip("clone: %m");
	stream_child_pid = pid;
	send(st[1], "parent2", 7, 0);
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	peeker = sv[0];
	send(sv[1], "0123456789", 10, 0);
	int off = 0;
	char b[4];
	setsockopt(peeker, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off));
	if (recv(peeker, b, 4, MSG_PEEK) != 4)	/* the peek offset moves on to 4 */
		zdtm_skip("peek: %m");
	unconn = socket(AF_UNIX, SOCK_STREAM, 0);
	lsn = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	struct sockaddr_un a;
	socklen_t l = path_addr(&a, "lsn.sock");
	if (bind(lsn, (void *)&a, l) < 0 || listen(lsn, 2) < 0)
		zdtm_skip("listen: %m");
}

/* recvmsg with credentials; returns the length, the cred in *c (pid 0 if none). */
static ssize_t rcv(int fd, char *buf, size_t size, struct sockaddr_un *from, socklen_t *flen, struct ucred *c)
{
	char cb[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = { buf, size };
	struct msghdr mh = { .msg_name = from, .msg_namelen = from ? *flen : 0, .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cb, .msg_controllen = sizeof(cb) };
	ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
	memset(c, 0, sizeof(*c));
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); n >= 0 && h; h = CMSG_NXTHDR(&mh, h))
		if (h->cmsg_type == SCM_CREDENTIALS)
			memcpy(c, CMSG_DATA(h), sizeof(*c));
	if (flen)
		*flen = mh.msg_namelen;
	return n;
}

static void check_dgram(struct msg *want, int n)
{
	for (int i = 0; i < n; i++) {
		struct msg got;
		got.flen = sizeof(got.from);
		got.len = rcv(rx, got.data, sizeof(got.data), &got.from, &got.flen, &got.cred);
		zdtm_check(got.len == want[i].len && !memcmp(got.data, want[i].data, got.len > 0 ? got.len : 0),
			   "dgram %d: %zd bytes '%.*s', want '%.*s'", i, got.len, (int)(got.len > 0 ? got.len : 0), got.data,
			   (int)want[i].len, want[i].data);
		zdtm_check(got.flen == want[i].flen && !memcmp(&got.from, &want[i].from, got.flen),
			   "dgram %d: from another address (%u bytes '%s', want %u '%s')", i, got.flen,
			   got.flen > 2 ? got.from.sun_path : "", want[i].flen, want[i].flen > 2 ? want[i].from.sun_path : "");
		zdtm_check(!memcmp(&got.cred, &want[i].cred, sizeof(got.cred)),
			   "dgram %d: credentials pid %d uid %d gid %d, want %d %d %d", i, got.cred.pid, got.cred.uid,
			   got.cred.gid, want[i].cred.pid, want[i].cred.uid, want[i].cred.gid);
	}
	char b;
	zdtm_check(recv(rx, &b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN, "dgram: more messages than queued");
}

static void check_seqpacket(void)
{
	char b[16];
	static const char *want[] = { "first", "", "third" };
	for (int i = 0; i < 3; i++) {
		ssize_t n = recv(sp[0], b, sizeof(b), MSG_DONTWAIT);
		zdtm_check(n == (ssize_t)strlen(want[i]) && !memcmp(b, want[i], n), "seqpacket message %d: %zd bytes", i, n);
	}
	zdtm_check(recv(sp[0], b, sizeof(b), MSG_DONTWAIT) == 0, "seqpacket: no EOF after the messages: %m");
}

static void check_stream(pid_t child_pid)
{
	char b[32];
	struct ucred c;
	ssize_t n = rcv(st[0], b, sizeof(b), NULL, NULL, &c);
	zdtm_check(n == 7 && !memcmp(b, "parent1", 7) && c.pid == getpid(), "stream: first run %zd bytes from %d", n, c.pid);
	n = rcv(st[0], b, sizeof(b), NULL, NULL, &c);
	zdtm_check(n == 5 && !memcmp(b, "CHILD", 5) && c.pid == child_pid, "stream: second run %zd bytes from %d, want %d",
		   n, c.pid, child_pid);
	n = rcv(st[0], b, sizeof(b), NULL, NULL, &c);
	zdtm_check(n == 7 && !memcmp(b, "parent2", 7), "stream: third run %zd bytes", n);
	n = recv(peeker, b, 3, MSG_PEEK);
	zdtm_check(n == 3 && !memcmp(b, "456", 3), "SO_PEEK_OFF lost its place: peeked '%.*s'", (int)(n > 0 ? n : 0), b);
	zdtm_check(recv(unconn, b, 1, MSG_DONTWAIT) < 0 && errno == EINVAL, "unconnected stream: recv %m");
	int c2 = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	struct sockaddr_un a;
	socklen_t l = sizeof(a);
	getsockname(lsn, (void *)&a, &l);
	zdtm_check(connect(c2, (void *)&a, l) == 0 && accept(lsn, NULL, NULL) >= 0, "seqpacket listener: %m");
}

int main(void)
{
	zdtm_init("unix_queues");
	snprintf(dir, sizeof(dir), "%s", zdtm_dir());
	seqpacket();
	dgram();
	stream();
	zdtm_ready();
	zdtm_wait_sigterm();
	check_dgram(want_dg, NDG);
	check_seqpacket();
	check_stream(stream_child_pid);
	zdtm_exit();
}
