// SPDX-License-Identifier: Apache-2.0
// Descriptors in flight (SCM_RIGHTS) of the kinds the fd table work added. A unix queue is filled again at
// restore before any task exists, so files that name tasks cannot travel in it: a pidfd, a /proc/PID file
// and a namespace file (/proc/PID/ns/net) in flight each make `ferry dump -R` fail naming the kind, the pid
// and the socket's fd, and the child still receives the descriptor afterwards; so does a pipe with an
// F_SETOWN owner that no task holds any more (fown.c sets an owner through a task's descriptor). A fanotify group (a mark on a
// file of the test directory, FAN_MODIFY) and an inotify instance (a watch on that file, IN_MODIFY), each
// sent and closed here, travel: after restore they come out of the queue and report a write to the file.
// So does a second inotify instance watching a file deleted since, which this process keeps open at a high
// descriptor (dumped after the queue: restore opens it early for the watch), and a plain eventfd. An epoll
// in flight whose registration was made through an fd number since closed and reused here (/dev/null now;
// the watched socket lives on at another number) reports the socket's data after restore, and the number
// still holds /dev/null.
#include "zdtm.h"
#include "zdtm_refuse.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fanotify.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int send_fd(int sk, int fd, const char *tag)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { (void *)tag, strlen(tag) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sk, &mh, 0) == (ssize_t)strlen(tag) ? 0 : -1;
}

/* The next message: its tag into tag, its descriptor returned (-1 if none). */
static int recv_fd(int sk, char *tag, size_t size)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	int fd = -1;
	struct iovec iov = { tag, size - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	ssize_t n = recvmsg(sk, &mh, MSG_DONTWAIT);
	tag[n > 0 ? n : 0] = 0;
	struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* ---------------------------------------------------------------- refused kinds (children) */

static int rx = -1;
static char want_link[64];

/* A pair whose receiving end (returned) holds fd in flight; fd is closed here. */
static int in_flight(int fd, const char *tag)
{
	int sp[2];
	char path[64];
	if (fd < 0 || socketpair(AF_UNIX, SOCK_DGRAM, 0, sp) < 0)
		return -1001;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (zdtm_readlink(path, want_link, sizeof(want_link)) < 0 || send_fd(sp[1], fd, tag) < 0)
		return -1002;
	close(fd);
	rx = sp[0];
	return rx;
}

static int setup_pidfd(void)
{
	return in_flight((int)syscall(SYS_pidfd_open, getpid(), 0), "pidfd");
}

static int setup_proc(void)
{
	return in_flight(open("/proc/self/status", O_RDONLY), "proc");
}

static int setup_ns(void)
{
	return in_flight(open("/proc/self/ns/net", O_RDONLY), "ns");
}

/* A pipe with an F_SETOWN owner, held by no task any more: only a task's fd could set it again. */
static int setup_owned(void)
{
	int p[2];
	if (pipe(p) < 0 || fcntl(p[0], F_SETOWN, getpid()) < 0)
		return -1003;
	return in_flight(p[0], "owned");
}

/* After the refused dump the descriptor still waits in the queue, the same file. */
static int check_rx(void)
{
	char tag[16], path[64], link[64] = "";
	int fd = recv_fd(rx, tag, sizeof(tag));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return fd >= 0 && zdtm_readlink(path, link, sizeof(link)) >= 0 && !strcmp(link, want_link) ? 0 : 1;
}

static const struct zr_case refused[] = {
	{ "pidfd", setup_pidfd, check_rx, { "a pidfd", "in flight", "%pid", "%fd" } },
	{ "proc", setup_proc, check_rx, { "/proc file", "in flight", "%pid", "%fd" } },
	{ "ns", setup_ns, check_rx, { "namespace", "in flight", "%pid", "%fd" } },
	{ "owned", setup_owned, check_rx, { "signal-driven I/O owner", "in flight", "%pid", "%fd" } },
};

/* ---------------------------------------------------------------- kinds that travel */

static int q[2];
static char file[4096];
#define GONE_FD 100
#define HOLDER_FD 101
static int es[2], reused = -1;

static void setup(void)
{
	zdtm_path(file, sizeof(file), "watched");
	int f = open(file, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	int fan = (int)syscall(SYS_fanotify_init, FAN_CLASS_NOTIF | FAN_NONBLOCK, O_RDONLY);
	int ino = inotify_init1(IN_NONBLOCK), ev = eventfd(7, 0);
	if (f < 0 || ino < 0 || ev < 0 || socketpair(AF_UNIX, SOCK_DGRAM, 0, q) < 0)
		zdtm_skip("setup: %m");
	close(f);
	if (fan < 0 || syscall(SYS_fanotify_mark, fan, FAN_MARK_ADD, FAN_MODIFY, AT_FDCWD, file) < 0)
		zdtm_skip("fanotify: %m");
	if (inotify_add_watch(ino, file, IN_MODIFY) < 0)
		zdtm_skip("inotify: %m");
	char gone[4096];
	int g = open(zdtm_path(gone, sizeof(gone), "gone"), O_CREAT | O_RDWR | O_TRUNC, 0644);
	int ino2 = inotify_init1(IN_NONBLOCK);
	if (g < 0 || dup2(g, GONE_FD) != GONE_FD || ino2 < 0 || inotify_add_watch(ino2, gone, IN_MODIFY) < 0 ||
	    unlink(gone) < 0)
		zdtm_skip("a watch on a deleted file: %m");
	close(g);
	if (send_fd(q[1], fan, "fanotify") < 0 || send_fd(q[1], ino, "inotify") < 0 || send_fd(q[1], ev, "eventfd") < 0 ||
	    send_fd(q[1], ino2, "inotify2") < 0)
		zdtm_skip("sendmsg: %m");
	close(fan);
	close(ino);
	close(ev);
	close(ino2);
	struct epoll_event ee = { .events = EPOLLIN, .data.u64 = 0xfeed };
	int ep = epoll_create1(0);
	if (ep < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, es) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, es[0], &ee) < 0 ||
	    dup2(es[0], HOLDER_FD) != HOLDER_FD)
		zdtm_skip("epoll: %m");
	close(es[0]);
	if ((reused = open("/dev/null", O_RDONLY)) != es[0] || send_fd(q[1], ep, "epoll") < 0)
		zdtm_skip("reuse fd %d: %m", es[0]);
	close(ep);
}

static void check(void)
{
	char tag[16], buf[4096];
	int fan = recv_fd(q[0], tag, sizeof(tag));
	zdtm_check(fan >= 0 && !strcmp(tag, "fanotify"), "the fanotify group in flight is gone (%s)", tag);
	int ino = recv_fd(q[0], tag, sizeof(tag));
	zdtm_check(ino >= 0 && !strcmp(tag, "inotify"), "the inotify instance in flight is gone (%s)", tag);
	int ev = recv_fd(q[0], tag, sizeof(tag));
	uint64_t v = 0;
	zdtm_check(ev >= 0 && read(ev, &v, sizeof(v)) == sizeof(v) && v == 7, "the eventfd in flight: count %llu",
		   (unsigned long long)v);
	int f = open(file, O_WRONLY);
	zdtm_check(f >= 0 && write(f, "x", 1) == 1, "write the watched file: %m");
	close(f);
	ssize_t n = fan < 0 ? -1 : read(fan, buf, sizeof(buf));
	const struct fanotify_event_metadata *m = (const void *)buf;
	zdtm_check(n >= (ssize_t)sizeof(*m) && (m->mask & FAN_MODIFY), "fanotify in flight: no FAN_MODIFY after a write "
		   "(%zd, %m)", n);
	if (n >= (ssize_t)sizeof(*m) && m->fd >= 0)
		close(m->fd);
	n = ino < 0 ? -1 : read(ino, buf, sizeof(buf));
	const struct inotify_event *ie = (const void *)buf;
	zdtm_check(n >= (ssize_t)sizeof(*ie) && (ie->mask & IN_MODIFY), "inotify in flight: no IN_MODIFY after a write "
		   "(%zd, %m)", n);
	int ino2 = recv_fd(q[0], tag, sizeof(tag));
	zdtm_check(ino2 >= 0 && !strcmp(tag, "inotify2"), "the inotify on a deleted file in flight is gone (%s)", tag);
	zdtm_check(pwrite(GONE_FD, "y", 1, 0) == 1, "write the deleted file: %m");
	n = ino2 < 0 ? -1 : read(ino2, buf, sizeof(buf));
	zdtm_check(n >= (ssize_t)sizeof(*ie) && (ie->mask & IN_MODIFY), "inotify on a deleted file in flight: no "
		   "IN_MODIFY after a write (%zd, %m)", n);
	int ep = recv_fd(q[0], tag, sizeof(tag));
	struct epoll_event ee = { 0 };
	char path[64], link[64] = "";
	zdtm_check(ep >= 0 && !strcmp(tag, "epoll"), "the epoll in flight is gone (%s)", tag);
	zdtm_check(write(es[1], "z", 1) == 1 && ep >= 0 && epoll_wait(ep, &ee, 1, 1000) == 1 && ee.data.u64 == 0xfeed,
		   "the epoll in flight does not report its socket (data %#llx)", (unsigned long long)ee.data.u64);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", reused);
	zdtm_check(zdtm_readlink(path, link, sizeof(link)) >= 0 && !strcmp(link, "/dev/null"),
		   "fd %d is '%s' after restore, want /dev/null", reused, link);
}

int main(void)
{
	zdtm_init("unix_scm_kinds");
	zr_find_ferry();
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		zr_run(&refused[i]);
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	check();
	zdtm_exit();
}
