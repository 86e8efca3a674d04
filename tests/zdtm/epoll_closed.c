// SPDX-License-Identifier: Apache-2.0
// epoll registrations that outlive the fd they were made through (the kernel keys them on the file
// and the fd number, and keeps them while the file lives):
//   a pipe registered through a dup that was closed (the pipe is still open at another fd);
//   a socket registered through fd N, N closed and reused for an eventfd registered too (two
//   registrations under N);
//   a pipe a child holds, registered by the parent through an fd it then closed;
//   a nested epoll instance, with a registration of its own through a closed fd.
// Flags EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE, EPOLLWAKEUP and the data words are kept. After restore
// fdinfo lists the same registrations (tfd, events, data), the closed fds are closed, fd N is the
// eventfd, and each file's I/O reports its own data word.
#include "zdtm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static char before[4096], inner_before[4096];
static int ep, inner, pa[2], pc[2], s, efd, fd_n, gone[3];
static struct sockaddr_in addr;

/* The tfd lines of an epoll's fdinfo (tfd, events, data only), sorted text. */
static void registrations(int fd, char *out, size_t size)
{
	char path[64], text[8192];
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	out[0] = 0;
	if (zdtm_read_file(path, text, sizeof(text)) < 0)
		return;
	char lines[16][96];
	int n = 0;
	for (char *p = text; (p = strstr(p, "tfd:")) && n < 16; p++) {
		int tfd;
		unsigned ev;
		unsigned long long data;
		if (sscanf(p, "tfd: %d events: %x data: %llx", &tfd, &ev, &data) == 3)
			snprintf(lines[n++], sizeof(lines[0]), "%d %x %llx;", tfd, ev, data);
	}
	qsort(lines, n, sizeof(lines[0]), (int (*)(const void *, const void *))strcmp);
	for (int i = 0; i < n; i++)
		strncat(out, lines[i], size - strlen(out) - 1);
}

static int add(int epfd, int fd, unsigned events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Registers file fd through a dup (above 100, never reused) that is closed at once; returns its number. */
static int add_via_dup(int epfd, int fd, unsigned events, uint64_t data)
{
	static int next = 100;
	int d = fcntl(fd, F_DUPFD, next++);
	if (d < 0 || add(epfd, d, events, data) < 0)
		return -1;
	close(d);
	return d;
}

static int setup(void)
{
	socklen_t l = sizeof(addr);
	addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ep = epoll_create1(0);
	inner = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || inner < 0 || pipe(pa) < 0 || pipe(pc) < 0)
		return -1;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (s < 0 || bind(s, (void *)&addr, l) < 0 || getsockname(s, (void *)&addr, &l) < 0)
		return -1;
	if ((gone[0] = add_via_dup(ep, pa[0], EPOLLIN | EPOLLONESHOT, 0x3333)) < 0)
		return -1;
	fd_n = dup(s);	/* the socket through fd N, then N is an eventfd */
	if (fd_n < 0 || add(ep, fd_n, EPOLLIN | EPOLLET, 0x1111) < 0)
		return -1;
	close(fd_n);
	efd = eventfd(0, EFD_NONBLOCK);
	if (efd != fd_n || add(ep, efd, EPOLLIN | EPOLLWAKEUP, 0x2222) < 0)
		return -1;
	if ((gone[1] = add_via_dup(ep, pc[0], EPOLLIN | EPOLLEXCLUSIVE, 0x4444)) < 0)
		return -1;
	if ((gone[2] = add_via_dup(inner, pa[0], EPOLLIN, 0x5555)) < 0 || add(ep, inner, EPOLLIN, 0x6666) < 0)
		return -1;
	return 0;
}

/* Does the next wait on epfd report exactly data? */
static int reports(int epfd, uint64_t data)
{
	struct epoll_event ev[4];
	int n = epoll_wait(epfd, ev, 4, 3000);
	for (int i = 0; i < n; i++)
		if (ev[i].data.u64 == data)
			return 1;
	return 0;
}

int main(void)
{
	char after[4096];
	zdtm_init("epoll_closed");
	if (setup() < 0)
		zdtm_skip("setup: %m");
	pid_t kid = fork();
	if (kid == 0) {	/* holds pc[0]: the parent closes its own */
		signal(SIGTERM, SIG_DFL);
		for (;;)
			pause();
	}
	close(pc[0]);
	registrations(ep, before, sizeof(before));
	registrations(inner, inner_before, sizeof(inner_before));
	zdtm_ready();
	zdtm_wait_sigterm();

	registrations(ep, after, sizeof(after));
	zdtm_check(!strcmp(before, after), "registrations changed: %s -> %s", before, after);
	registrations(inner, after, sizeof(after));
	zdtm_check(!strcmp(inner_before, after), "inner registrations changed: %s -> %s", inner_before, after);
	for (int i = 0; i < 3; i++)
		zdtm_check(fcntl(gone[i], F_GETFD) < 0 && errno == EBADF, "closed fd %d is open after restore", gone[i]);
	zdtm_check(fcntl(pc[0], F_GETFD) < 0, "the parent's closed end of the child's pipe is open");
	uint64_t one = 1;
	zdtm_check(write(efd, &one, sizeof(one)) == sizeof(one) && reports(ep, 0x2222), "eventfd at fd N: no event");
	zdtm_check(read(efd, &one, sizeof(one)) == sizeof(one), "read eventfd: %m");
	int tx = socket(AF_INET, SOCK_DGRAM, 0);
	zdtm_check(sendto(tx, "x", 1, 0, (void *)&addr, sizeof(addr)) == 1 && reports(ep, 0x1111), "socket: no event");
	zdtm_check(write(pa[1], "x", 1) == 1 && reports(ep, 0x3333), "pipe (registered through a closed dup): no event");
	zdtm_check(reports(inner, 0x5555), "the nested epoll's registration: no event");
	zdtm_check(reports(ep, 0x6666), "the nested epoll itself: no event");
	zdtm_check(write(pc[1], "x", 1) == 1 && reports(ep, 0x4444), "the child's pipe: no event");
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	zdtm_exit();
}
