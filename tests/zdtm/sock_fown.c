// SPDX-License-Identifier: Apache-2.0
// Status flags and signal-driven I/O on every kind of socket (files.c sets the status flags and fown.c the
// owner for every kind, the socket modules neither): a unix stream listener, a unix datagram socket, a
// UDP socket, a TCP listener, a UDP-lite socket, a netlink socket and a packet socket, each with O_ASYNC,
// an F_SETOWN_EX owner (the process) and its own F_SETSIG signal, half of them O_NONBLOCK; a unix
// seqpacket socket with O_NONBLOCK only and no owner. After restore O_NONBLOCK, O_ASYNC, the owner and the
// signal read back as set on each, no signal came before any I/O, and I/O on the unix, UDP and TCP ones
// brings their signal with si_fd naming the same descriptor.
#include "zdtm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef IPPROTO_UDPLITE
#define IPPROTO_UDPLITE 136
#endif

enum { K_ULSN, K_UDGRAM, K_UDP, K_TCP, K_UDPLITE, K_NETLINK, K_PACKET, NK };
static const char *const names[NK] = { "unix listener", "unix datagram", "UDP", "TCP listener", "UDP-lite",
				       "netlink", "packet" };
static int fds[NK], seq = -1;
static volatile int got_fd[NK], got[NK];
static struct sockaddr_un ua, da;
static socklen_t ual, dal;
static struct sockaddr_in udp_a, tcp_a;

static void on_io(int sig, siginfo_t *si, void *uc)
{
	int k = sig - SIGRTMIN - 1;
	(void)uc;
	if (k < 0 || k >= NK)
		return;
	got_fd[k] = si->si_fd;
	got[k]++;
}

static socklen_t abstract(struct sockaddr_un *a, const char *name)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	return offsetof(struct sockaddr_un, sun_path) + 1 + snprintf(a->sun_path + 1, 100, "ferry-fown-%s-%d", name, getpid());
}

static int bound_inet(int type, int proto, struct sockaddr_in *a)
{
	socklen_t l = sizeof(*a);
	int s = socket(AF_INET, type, proto);
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || bind(s, (void *)a, sizeof(*a)) < 0 || getsockname(s, (void *)a, &l) < 0)
		return -1;
	return s;
}

static int own(int k)
{
	struct f_owner_ex o = { .type = F_OWNER_PID, .pid = getpid() };
	int fl = fcntl(fds[k], F_GETFL) | O_ASYNC | (k % 2 ? O_NONBLOCK : 0);
	return fcntl(fds[k], F_SETOWN_EX, &o) < 0 || fcntl(fds[k], F_SETSIG, SIGRTMIN + 1 + k) < 0 ||
	       fcntl(fds[k], F_SETFL, fl) < 0 ? -1 : 0;
}

static void setup(void)
{
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	ual = abstract(&ua, "lsn");
	dal = abstract(&da, "dgram");
	fds[K_ULSN] = socket(AF_UNIX, SOCK_STREAM, 0);
	fds[K_UDGRAM] = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (fds[K_ULSN] < 0 || bind(fds[K_ULSN], (void *)&ua, ual) < 0 || listen(fds[K_ULSN], 4) < 0 ||
	    fds[K_UDGRAM] < 0 || bind(fds[K_UDGRAM], (void *)&da, dal) < 0)
		zdtm_skip("unix: %m");
	fds[K_UDP] = bound_inet(SOCK_DGRAM, 0, &udp_a);
	fds[K_TCP] = bound_inet(SOCK_STREAM, 0, &tcp_a);
	if (fds[K_UDP] < 0 || fds[K_TCP] < 0 || listen(fds[K_TCP], 4) < 0)
		zdtm_skip("inet: %m");
	struct sockaddr_in lite;
	fds[K_UDPLITE] = bound_inet(SOCK_DGRAM, IPPROTO_UDPLITE, &lite);
	fds[K_NETLINK] = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	fds[K_PACKET] = socket(AF_PACKET, SOCK_DGRAM, 0);
	if (fds[K_UDPLITE] < 0 || fds[K_NETLINK] < 0 || bind(fds[K_NETLINK], (void *)&nl, sizeof(nl)) < 0 ||
	    fds[K_PACKET] < 0)
		zdtm_skip("UDP-lite, netlink or packet socket: %m");
	seq = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0);
	if (seq < 0)
		zdtm_skip("seqpacket: %m");
	for (int k = 0; k < NK; k++)
		if (own(k) < 0)
			zdtm_skip("%s: F_SETOWN_EX/F_SETSIG/O_ASYNC: %m", names[k]);
}

static void check_flags(void)
{
	for (int k = 0; k < NK; k++) {
		struct f_owner_ex o = { 0 };
		int fl = fcntl(fds[k], F_GETFL);
		zdtm_check(fl >= 0 && (fl & O_ASYNC), "%s: O_ASYNC lost", names[k]);
		zdtm_check(fl >= 0 && !!(fl & O_NONBLOCK) == k % 2, "%s: O_NONBLOCK is %s", names[k], k % 2 ? "lost" : "set");
		zdtm_check(fcntl(fds[k], F_GETOWN_EX, &o) == 0 && o.type == F_OWNER_PID && o.pid == getpid(),
			   "%s: owner type %d pid %d, want the process %d", names[k], o.type, o.pid, getpid());
		zdtm_check(fcntl(fds[k], F_GETSIG) == SIGRTMIN + 1 + k, "%s: signal %d, want %d", names[k],
			   fcntl(fds[k], F_GETSIG), SIGRTMIN + 1 + k);
		zdtm_check(got[k] == 0, "%s: a signal came before any I/O", names[k]);
	}
	int fl = fcntl(seq, F_GETFL);
	struct f_owner_ex o = { 0 };
	zdtm_check(fl >= 0 && (fl & O_NONBLOCK) && !(fl & O_ASYNC), "seqpacket socket: flags %#x, want O_NONBLOCK only", fl);
	zdtm_check(fcntl(seq, F_GETOWN_EX, &o) == 0 && o.pid == 0, "seqpacket socket: an owner %d appeared", o.pid);
}

static void expect(int k)
{
	for (int i = 0; i < 300 && got[k] == 0; i++)
		usleep(10000);
	zdtm_check(got[k] > 0, "%s: no signal after I/O", names[k]);
	zdtm_check(got_fd[k] == fds[k], "%s: si_fd %d, want %d", names[k], got_fd[k], fds[k]);
}

static void check_io(void)
{
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	zdtm_check(c >= 0 && connect(c, (void *)&ua, ual) == 0, "connect to the unix listener: %m");
	expect(K_ULSN);
	int d = socket(AF_UNIX, SOCK_DGRAM, 0);
	zdtm_check(d >= 0 && sendto(d, "x", 1, 0, (void *)&da, dal) == 1, "send to the unix datagram socket: %m");
	expect(K_UDGRAM);
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	zdtm_check(u >= 0 && sendto(u, "x", 1, 0, (void *)&udp_a, sizeof(udp_a)) == 1, "send to the UDP socket: %m");
	expect(K_UDP);
	int t = socket(AF_INET, SOCK_STREAM, 0);
	zdtm_check(t >= 0 && connect(t, (void *)&tcp_a, sizeof(tcp_a)) == 0, "connect to the TCP listener: %m");
	expect(K_TCP);
}

int main(void)
{
	struct sigaction sa = { .sa_sigaction = on_io, .sa_flags = SA_SIGINFO | SA_RESTART };
	zdtm_init("sock_fown");
	for (int k = 0; k < NK; k++)
		sigaction(SIGRTMIN + 1 + k, &sa, NULL);
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	check_flags();
	check_io();
	zdtm_exit();
}
