// SPDX-License-Identifier: Apache-2.0
// Descriptors in flight (SCM_RIGHTS), each of a kind the engine restores, waiting in unix queues: the read end
// of a pipe holding data (its write end kept here), a regular file also open here (one open file description:
// moving the offset on one moves the other), a memfd with content, an eventfd with a count, one end of a
// socketpair that no task holds any more (its other end here, data queued both ways), and a datagram message
// carrying two descriptors at once, an epoll watching one of our sockets (closed here), a named datagram
// socketpair whose ends are each in the other's queue, twice. A stream socket carries one descriptor in
// the middle of its bytes. After restore the messages come with their descriptors, and each is the same object:
// data, offsets, counts and the paired socket all behave as before.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/un.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static int dg[2], st[2], pipe_w, file_fd, pair_kept, ep_sk[2], named[2];
static char path[256];

static void send_fds(int sk, const char *data, const int *fds, int n)
{
	char cb[CMSG_SPACE(4 * sizeof(int))] = { 0 };
	struct iovec iov = { (void *)data, strlen(data) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb, .msg_controllen = CMSG_SPACE(n * sizeof(int)) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	if (sendmsg(sk, &mh, 0) < 0)
		zdtm_skip("sendmsg: %m");
}

/* Receives one message: its bytes into buf, its descriptors into fds; returns how many descriptors. */
static int recv_fds(int sk, char *buf, size_t size, ssize_t *len, int *fds)
{
	char cb[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { buf, size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb, .msg_controllen = sizeof(cb) };
	*len = recvmsg(sk, &mh, MSG_DONTWAIT);
	int n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); *len >= 0 && c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_type == SCM_RIGHTS) {
			n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds, CMSG_DATA(c), n * sizeof(int));
		}
	return n;
}

static void setup(void)
{
	int p[2], sp[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, st) < 0 || pipe(p) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0)
		zdtm_skip("socketpair/pipe: %m");
	if (write(p[1], "pipe data", 9) != 9)
		zdtm_skip("write: %m");
	pipe_w = p[1];
	send_fds(dg[1], "pipe", &p[0], 1);
	close(p[0]);

	zdtm_path(path, sizeof(path), "scm.file");
	file_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (file_fd < 0 || write(file_fd, "0123456789", 10) != 10 || lseek(file_fd, 3, SEEK_SET) != 3)
		zdtm_skip("file: %m");
	send_fds(dg[1], "file", &file_fd, 1);

	int mfd = memfd_create("scm-memfd", 0), efd = eventfd(5, 0);
	if (mfd < 0 || efd < 0 || write(mfd, "memfd!", 6) != 6)
		zdtm_skip("memfd/eventfd: %m");
	int two[2] = { mfd, efd };
	send_fds(dg[1], "two", two, 2);
	close(mfd);
	close(efd);

	if (send(sp[0], "to the flying end", 17, 0) != 17 || send(sp[1], "from the flying end", 19, 0) != 19)
		zdtm_skip("send: %m");
	pair_kept = sp[0];
	if (send(st[1], "before|", 7, 0) != 7)
		zdtm_skip("send: %m");
	send_fds(st[1], "with|", &sp[1], 1);
	close(sp[1]);
	if (send(st[1], "after", 5, 0) != 5)
		zdtm_skip("send: %m");

	/* an epoll watching one of our sockets, in flight and closed here */
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0x1234567 };
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, ep_sk) < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ep_sk[0], &ev) < 0 ||
	    send(ep_sk[1], "e", 1, 0) != 1)
		zdtm_skip("epoll: %m");
	send_fds(dg[1], "epoll", &ep, 1);
	close(ep);

	/* a named datagram pair, each end sent into the other's queue with itself */
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, named) < 0)
		zdtm_skip("socketpair: %m");
	for (int i = 0; i < 2; i++) {
		socklen_t l = offsetof(struct sockaddr_un, sun_path) + 1 + snprintf(a.sun_path + 1, 90, "ferry-scm-%d-%d", getpid(), i);
		if (bind(named[i], (void *)&a, l) < 0)
			zdtm_skip("bind: %m");
	}
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++)
			send_fds(named[i], "self", &named[j], 1);
}

static void check_dgram(void)
{
	char b[64];
	ssize_t n;
	int fds[4] = { -1, -1, -1, -1 };
	zdtm_check(recv_fds(dg[0], b, sizeof(b), &n, fds) == 1 && n == 4, "pipe message: %zd bytes", n);
	zdtm_check(read(fds[0], b, sizeof(b)) == 9 && !memcmp(b, "pipe data", 9), "the pipe in flight lost its data");
	zdtm_check(write(pipe_w, "more", 4) == 4 && read(fds[0], b, sizeof(b)) == 4, "the pipe in flight is another pipe");

	zdtm_check(recv_fds(dg[0], b, sizeof(b), &n, fds) == 1 && n == 4, "file message: %zd bytes", n);
	zdtm_check(lseek(fds[0], 0, SEEK_CUR) == 3, "file in flight: offset %ld, want 3", (long)lseek(fds[0], 0, SEEK_CUR));
	lseek(file_fd, 7, SEEK_SET);
	zdtm_check(lseek(fds[0], 0, SEEK_CUR) == 7, "file in flight is not the same open file as ours");

	zdtm_check(recv_fds(dg[0], b, sizeof(b), &n, fds) == 2 && n == 3, "two-descriptor message: %zd bytes", n);
	zdtm_check(pread(fds[0], b, 6, 0) == 6 && !memcmp(b, "memfd!", 6), "memfd in flight lost its content");
	uint64_t v = 0;
	zdtm_check(read(fds[1], &v, sizeof(v)) == sizeof(v) && v == 5, "eventfd in flight: count %llu, want 5",
		   (unsigned long long)v);

	zdtm_check(recv_fds(dg[0], b, sizeof(b), &n, fds) == 1 && n == 5, "epoll message: %zd bytes", n);
	struct epoll_event ev = { 0 };
	zdtm_check(epoll_wait(fds[0], &ev, 1, 0) == 1 && ev.data.u64 == 0x1234567,
		   "the epoll in flight lost its registration (data %#llx)", (unsigned long long)ev.data.u64);
	zdtm_check(epoll_ctl(fds[0], EPOLL_CTL_DEL, ep_sk[0], NULL) == 0, "the registration is not keyed by our fd: %m");

	/* each end of the named pair received itself and the other, in order */
	int cur = named[0];
	for (int i = 0; i < 3; i++) {
		struct sockaddr_un a;
		socklen_t l = sizeof(a);
		zdtm_check(recv_fds(cur, b, sizeof(b), &n, fds) == 1, "named pair: message %d lost its socket", i);
		cur = fds[0];
		getsockname(cur, (void *)&a, &l);
		zdtm_check(l > offsetof(struct sockaddr_un, sun_path) + 1 && a.sun_path[l - offsetof(struct sockaddr_un, sun_path) - 1] == '0' + (i % 2),
			   "named pair: message %d carries the wrong socket", i);
	}
}

static void check_stream(void)
{
	char b[64];
	ssize_t n;
	int fds[4] = { -1, -1, -1, -1 };
	/* a read stops after the bytes that carry descriptors */
	zdtm_check(recv_fds(st[0], b, sizeof(b), &n, fds) == 1 && n == 12 && !memcmp(b, "before|with|", 12),
		   "stream: the run up to the descriptor: %zd bytes", n);
	int fly = fds[0];
	zdtm_check(recv(st[0], b, sizeof(b), MSG_DONTWAIT) == 5 && !memcmp(b, "after", 5), "stream: the last run");
	zdtm_check(recv(fly, b, sizeof(b), MSG_DONTWAIT) == 17 && !memcmp(b, "to the flying end", 17),
		   "the socket in flight lost its queue");
	zdtm_check(recv(pair_kept, b, sizeof(b), MSG_DONTWAIT) == 19 && !memcmp(b, "from the flying end", 19),
		   "our end of the pair lost its queue");
	zdtm_check(send(pair_kept, "ping", 4, 0) == 4 && recv(fly, b, sizeof(b), MSG_DONTWAIT) == 4,
		   "the socket in flight is not our end's peer any more");
}

int main(void)
{
	zdtm_init("unix_scm");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	check_dgram();
	check_stream();
	zdtm_exit();
}
