// SPDX-License-Identifier: Apache-2.0
// epoll refusal (self-checking, runs ferry itself on a child): the child registers a socket through a dup'ed
// fd and closes every fd of it; epoll keeps the registration while the file lives, and it lives only
// because the test (outside the dumped tree) holds it: no task of the tree has the file to replay the
// registration with. `ferry dump -R` of the child must fail naming the fd, and the child must run on with
// the registration still reporting events. The child is gone before zdtm_ready().
#include "zdtm_refuse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t child;
static int ctl[2], gone_fd;
static struct sockaddr_in a_u;

/* Child: epoll on a UDP socket registered through fd gone_fd, then closed. Answers "1" on the socketpair
 * when the registration reports EPOLLIN after the test sends a datagram. */
static int u_outside;

static __attribute__((noreturn)) void child_main(int sock)
{
	int u = u_outside, ep = epoll_create1(0);
	int d = dup(u);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 99 };
	epoll_ctl(ep, EPOLL_CTL_ADD, d, &ev);
	close(d);
	close(u);	/* only the test, outside the dumped tree, keeps the socket */
	if (write(sock, &d, sizeof(d)) < 0)
		_exit(2);
	for (;;) {
		char c;
		if (read(sock, &c, 1) != 1)
			_exit(0);
		int n = epoll_wait(ep, &ev, 1, 2000);
		c = (n == 1 && ev.data.u64 == 99) ? '1' : '0';
		if (write(sock, &c, 1) != 1)
			_exit(2);
	}
}

/* The child's registration still fires: send a datagram, ask, expect '1'. */
static int still_works(void)
{
	char c = 'x';
	int tx = socket(AF_INET, SOCK_DGRAM, 0);
	sendto(tx, "x", 1, 0, (void *)&a_u, sizeof(a_u));
	close(tx);
	int ok = write(ctl[0], &c, 1) == 1 && read(ctl[0], &c, 1) == 1 && c == '1';
	recv(u_outside, &c, 1, MSG_DONTWAIT);
	return ok;
}

static void check(void)
{
	char want[96];
	snprintf(want, sizeof(want), "epoll watches fd %d ", gone_fd);
	zr_expect_refusal(child, "img-refused", NULL, want, "closed", "no task of the tree holds", NULL);
	zdtm_check(still_works(), "the child's registration stopped working after the refused dump");
}

int main(void)
{
	zdtm_init("epoll_closed_target");
	zr_find_ferry();
	socklen_t l = sizeof(a_u);
	a_u = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	u_outside = socket(AF_INET, SOCK_DGRAM, 0);
	if (u_outside < 0 || bind(u_outside, (void *)&a_u, l) < 0 || getsockname(u_outside, (void *)&a_u, &l) < 0)
		zdtm_skip("udp socket: %m");
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, ctl) < 0)
		zdtm_skip("socketpair: %m");
	child = fork();
	if (child == 0) {
		close(ctl[0]);
		dup2(ctl[1], 200);	/* above the epoll fd: the dump meets the epoll first */
		close(ctl[1]);
		child_main(200);
	}
	close(ctl[1]);
	if (read(ctl[0], &gone_fd, sizeof(gone_fd)) != sizeof(gone_fd))
		zdtm_skip("child setup failed");
	zdtm_check(still_works(), "the child's registration does not work before the dump");
	check();
	close(ctl[0]);
	int st;
	waitpid(child, &st, 0);
	zdtm_ready();
	zdtm_wait_sigterm();
	zdtm_exit();
}
