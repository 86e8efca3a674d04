// SPDX-License-Identifier: Apache-2.0
// Netlink sockets: a NETLINK_ROUTE socket bound to a port id of its own choosing, joined to groups by bind()
// and past the first 32 by NETLINK_ADD_MEMBERSHIP (groups that stay quiet on this machine), with options
// (NETLINK_EXT_ACK, NO_ENOBUFS, PKTINFO...); a second route socket connected to the first; an autobound one
// that has talked to the kernel; a NETLINK_GENERIC datagram socket never bound; a NETLINK_KOBJECT_UEVENT
// socket. After restore: the same port ids, peers, memberships and every option, and the kernel still
// answers requests. Refused by name (tests/lib/zdtm_refuse.h style, run first): a socket with a reply
// waiting in its queue.
#include "zdtm.h"
#include "zdtm_refuse.h"
#include "zdtm_sock.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

enum { BOUND, CONNECTED, AUTO, GENL, UEVENT, N };
static const char *names[N] = { "bound route socket", "connected route socket", "autobound route socket",
				"generic socket", "uevent socket" };
static int fds[N];
static struct sockaddr_nl self[N], peer[N];
static uint32_t groups[N][4];
static socklen_t glen[N];
static struct zs_snap snaps[N];
static int queued;

static void set1(int fd, int opt)
{
	int one = 1;
	if (setsockopt(fd, SOL_NETLINK, opt, &one, sizeof(one)) < 0)
		zdtm_skip("netlink option %d: %m", opt);
}

/* Asks the kernel for loopback's link; 1 when an answer comes. */
static int ask(int fd, int wait)
{
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
	} req = { .h = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST, .nlmsg_seq = 7 },
		  .i = { .ifi_family = AF_UNSPEC, .ifi_index = 1 } };
	struct sockaddr_nl k = { .nl_family = AF_NETLINK };
	char b[8192];
	if (sendto(fd, &req, sizeof(req), 0, (void *)&k, sizeof(k)) < 0)
		return 0;
	if (!wait)
		return 1;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 3000) == 1 && recv(fd, b, sizeof(b), 0) > 0;
}

static void setup(void)
{
	struct sockaddr_nl a = { .nl_family = AF_NETLINK, .nl_pid = 0x7e000000u | (uint32_t)getpid(),
				 .nl_groups = 1u << (RTNLGRP_DCB - 1) };
	fds[BOUND] = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	if (fds[BOUND] < 0 || bind(fds[BOUND], (void *)&a, sizeof(a)) < 0)
		zdtm_skip("bind route: %m");
	int g = RTNLGRP_MCTP_IFADDR;
	if (setsockopt(fds[BOUND], SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof(g)) < 0)
		zdtm_skip("NETLINK_ADD_MEMBERSHIP %d: %m", g);
	set1(fds[BOUND], NETLINK_EXT_ACK);
	set1(fds[BOUND], NETLINK_NO_ENOBUFS);
	set1(fds[BOUND], NETLINK_PKTINFO);
	fds[CONNECTED] = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	struct sockaddr_nl to = { .nl_family = AF_NETLINK, .nl_pid = a.nl_pid };
	if (connect(fds[CONNECTED], (void *)&to, sizeof(to)) < 0)
		zdtm_skip("connect: %m");
	fds[AUTO] = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	if (!ask(fds[AUTO], 1))
		zdtm_skip("the kernel does not answer RTM_GETLINK");
	fds[GENL] = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_GENERIC);
	set1(fds[GENL], NETLINK_CAP_ACK);
	set1(fds[GENL], NETLINK_GET_STRICT_CHK);
	fds[UEVENT] = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_KOBJECT_UEVENT);
	int rcv = 300000;
	setsockopt(fds[UEVENT], SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	for (int i = 0; i < N; i++) {
		socklen_t l = sizeof(self[i]);
		if (fds[i] < 0)
			zdtm_skip("%s: %m", names[i]);
		getsockname(fds[i], (void *)&self[i], &l);
		l = sizeof(peer[i]);
		getpeername(fds[i], (void *)&peer[i], &l);
		glen[i] = sizeof(groups[i]);
		getsockopt(fds[i], SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, groups[i], &glen[i]);
		zs_take(fds[i], &snaps[i]);
	}
}

static int queued_setup(void)
{
	queued = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	if (queued < 0 || !ask(queued, 0))
		return -1001;
	struct pollfd p = { .fd = queued, .events = POLLIN };
	return poll(&p, 1, 3000) == 1 ? queued : -1002;	/* the reply waits, unread */
}

static int queued_check(void)
{
	char b[8192];
	return recv(queued, b, sizeof(b), MSG_DONTWAIT) > 0 ? 0 : 1;
}

static const struct zr_case refused = { "queued", queued_setup, queued_check,
					{ "wait in its receive queue", "%pid", "%fd" } };

int main(void)
{
	zdtm_init("sock_netlink");
	zr_find_ferry();
	zr_run(&refused);
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	for (int i = 0; i < N; i++) {
		struct sockaddr_nl a, p;
		uint32_t g[4];
		socklen_t l = sizeof(a), pl = sizeof(p), gl = sizeof(g);
		getsockname(fds[i], (void *)&a, &l);
		getpeername(fds[i], (void *)&p, &pl);
		zdtm_check(a.nl_pid == self[i].nl_pid && a.nl_groups == self[i].nl_groups,
			   "%s: port %u groups %#x, was %u %#x", names[i], a.nl_pid, a.nl_groups, self[i].nl_pid, self[i].nl_groups);
		zdtm_check(p.nl_pid == peer[i].nl_pid && p.nl_groups == peer[i].nl_groups, "%s: peer differs", names[i]);
		getsockopt(fds[i], SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, g, &gl);
		zdtm_check(gl == glen[i] && !memcmp(g, groups[i], gl), "%s: memberships differ", names[i]);
		zs_compare(fds[i], &snaps[i], names[i]);
	}
	zdtm_check(ask(fds[AUTO], 1), "the kernel no longer answers the autobound socket");
	zdtm_check(ask(fds[BOUND], 1), "the kernel no longer answers the bound socket");
	zdtm_exit();
}
