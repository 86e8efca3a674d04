// SPDX-License-Identifier: Apache-2.0
// Socket options of inet sockets: a TCP listener with nearly every SOL_SOCKET, IP and TCP option set to
// something else than its default (linger, timeouts, buffers and SO_BUF_LOCK, priority, mark, rcvlowat,
// timestamps, a classic BPF filter locked with SO_LOCK_FILTER, SO_BINDTODEVICE, TOS, TTL, freebind,
// keepalive timers, defer-accept, fastopen, user timeout, congestion control, maxseg, cork...), a
// never-connected TCP socket (v6, bound, v6only, tclass, hops), a never-bound one with options, UDP v4
// (broadcast, no-check, multicast ttl/loop, cork flag, GSO segment, GRO), UDP v6 and UDP-lite (checksum
// coverage), raw ICMP (ICMP_FILTER) and ICMPv6 (ICMPV6_FILTER) sockets. After restore every option of
// every level reads back the same (tests/lib/zdtm_sock.h compares them all by number, set or not), the
// filter is the same program, and the listener still accepts.
#include "zdtm.h"
#include "zdtm_sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <linux/udp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define NSK 9
static int fds[NSK];
static const char *names[NSK];
static struct zs_snap snaps[NSK];
static struct sockaddr_in lsn_addr;

#define SET(fd, lvl, opt, val) do { int v_ = (val); \
	if (setsockopt(fd, lvl, opt, &v_, sizeof(v_)) < 0) zdtm_skip("setsockopt %s: %m", #opt); } while (0)

static int mk(int family, int type, int proto, const char *name, int i)
{
	int fd = socket(family, type, proto);
	if (fd < 0)
		zdtm_skip("socket %s: %m", name);
	fds[i] = fd;
	names[i] = name;
	return fd;
}

static void common_opts(int fd)
{
	struct linger lg = { 1, 5 };
	struct timeval rt = { 3, 500000 }, st = { 1, 0 };
	SET(fd, SOL_SOCKET, SO_RCVBUF, 70000);
	SET(fd, SOL_SOCKET, SO_SNDBUF, 50000);
	SET(fd, SOL_SOCKET, SO_BUF_LOCK, 1);	/* only the send buffer stays locked */
	SET(fd, SOL_SOCKET, SO_PRIORITY, 5);
	SET(fd, SOL_SOCKET, SO_MARK, 42);
	SET(fd, SOL_SOCKET, SO_RCVLOWAT, 3);
	SET(fd, SOL_SOCKET, SO_OOBINLINE, 1);
	SET(fd, SOL_SOCKET, SO_DONTROUTE, 1);
	SET(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1);
	SET(fd, SOL_SOCKET, SO_RXQ_OVFL, 1);
	SET(fd, SOL_SOCKET, SO_BUSY_POLL, 7);
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof(rt)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &st, sizeof(st)) < 0)
		zdtm_skip("setsockopt: %m");
}

static void tcp_opts(int fd)
{
	static const char cc[] = "reno";
	SET(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	SET(fd, IPPROTO_TCP, TCP_CORK, 1);
	SET(fd, IPPROTO_TCP, TCP_KEEPIDLE, 77);
	SET(fd, IPPROTO_TCP, TCP_KEEPINTVL, 11);
	SET(fd, IPPROTO_TCP, TCP_KEEPCNT, 5);
	SET(fd, IPPROTO_TCP, TCP_SYNCNT, 3);
	SET(fd, IPPROTO_TCP, TCP_LINGER2, 17);
	SET(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, 12345);
	SET(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, 4096);
	SET(fd, IPPROTO_TCP, TCP_MAXSEG, 1000);
	SET(fd, IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, 1);
	SET(fd, IPPROTO_TCP, TCP_SAVE_SYN, 1);
	SET(fd, IPPROTO_TCP, TCP_INQ, 1);
	SET(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
	if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, sizeof(cc) - 1) < 0)
		zdtm_skip("TCP_CONGESTION reno: %m");
}

static void listener(void)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 1, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffff),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { 4, code };
	int fd = mk(AF_INET, SOCK_STREAM, 0, "TCP listener", 0);
	common_opts(fd);
	tcp_opts(fd);
	SET(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	SET(fd, IPPROTO_IP, IP_TOS, 0x10);
	SET(fd, IPPROTO_IP, IP_TTL, 33);
	SET(fd, IPPROTO_IP, IP_RECVERR, 1);
	SET(fd, IPPROTO_IP, IP_PKTINFO, 1);
	SET(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
	SET(fd, IPPROTO_IP, IP_FREEBIND, 1);
	SET(fd, IPPROTO_IP, IP_MINTTL, 2);
	SET(fd, IPPROTO_IP, IP_RECVTOS, 1);
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
		zdtm_skip("bindtodevice/filter: %m");
	SET(fd, SOL_SOCKET, SO_LOCK_FILTER, 1);
	lsn_addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(lsn_addr);
	if (bind(fd, (void *)&lsn_addr, l) < 0 || listen(fd, 7) < 0 || getsockname(fd, (void *)&lsn_addr, &l) < 0)
		zdtm_skip("listen: %m");
	SET(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, 3);
	SET(fd, IPPROTO_TCP, TCP_FASTOPEN, 5);
}

static void tcp_unconnected(void)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = mk(AF_INET6, SOCK_STREAM, 0, "TCP v6 bound", 1);
	SET(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	SET(fd, IPPROTO_IPV6, IPV6_TCLASS, 0x20);
	SET(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 9);
	SET(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
	SET(fd, SOL_SOCKET, SO_REUSEPORT, 1);
	SET(fd, IPPROTO_TCP, TCP_QUICKACK, 0);
	SET(fd, IPPROTO_TCP, TCP_WINDOW_CLAMP, 40000);
	if (bind(fd, (void *)&a, sizeof(a)) < 0)
		zdtm_skip("bind [::1]: %m");
	fd = mk(AF_INET, SOCK_STREAM, 0, "TCP v4 never bound", 2);
	tcp_opts(fd);
	common_opts(fd);
}

static void dgram(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = mk(AF_INET, SOCK_DGRAM, 0, "UDP v4", 3);
	common_opts(fd);
	SET(fd, SOL_SOCKET, SO_BROADCAST, 1);
	SET(fd, SOL_SOCKET, SO_NO_CHECK, 1);
	SET(fd, SOL_SOCKET, SO_TIMESTAMP, 1);
	SET(fd, IPPROTO_IP, IP_MULTICAST_TTL, 7);
	SET(fd, IPPROTO_IP, IP_MULTICAST_LOOP, 0);
	SET(fd, IPPROTO_IP, IP_RECVTTL, 1);
	SET(fd, IPPROTO_UDP, UDP_CORK, 1);
	SET(fd, IPPROTO_UDP, 103 /* UDP_SEGMENT */, 1000);
	SET(fd, IPPROTO_UDP, 104 /* UDP_GRO */, 1);
	SET(fd, SOL_SOCKET, SO_PEEK_OFF, 0);
	if (bind(fd, (void *)&a, sizeof(a)) < 0)
		zdtm_skip("bind: %m");
	fd = mk(AF_INET6, SOCK_DGRAM, 0, "UDP v6", 4);
	SET(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 3);
	SET(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0);
	SET(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1);
	SET(fd, IPPROTO_IPV6, IPV6_DONTFRAG, 1);
	SET(fd, IPPROTO_IPV6, IPV6_AUTOFLOWLABEL, 0);
	SET(fd, IPPROTO_UDP, UDP_NO_CHECK6_TX, 1);
	fd = mk(AF_INET, SOCK_DGRAM, 136, "UDP-lite v4", 5);
	SET(fd, 136, 10 /* UDPLITE_SEND_CSCOV */, 20);
	SET(fd, 136, 11 /* UDPLITE_RECV_CSCOV */, 30);
	if (bind(fd, (void *)&a, sizeof(a)) < 0)
		zdtm_skip("bind: %m");
}

static void raw(void)
{
	struct icmp_filter f = { ~(1U << ICMP_ECHOREPLY) };
	struct icmp6_filter f6;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = mk(AF_INET, SOCK_RAW, IPPROTO_ICMP, "raw ICMP", 6);
	if (setsockopt(fd, SOL_RAW, ICMP_FILTER, &f, sizeof(f)) < 0 || bind(fd, (void *)&a, sizeof(a)) < 0)
		zdtm_skip("raw: %m");
	SET(fd, IPPROTO_IP, IP_HDRINCL, 1);
	memset(&f6, 0xff, sizeof(f6));
	f6.data[ICMPV6_ECHO_REPLY >> 5] &= ~(1U << (ICMPV6_ECHO_REPLY & 31));
	fd = mk(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6, "raw ICMPv6", 7);
	if (setsockopt(fd, SOL_ICMPV6, ICMPV6_FILTER, &f6, sizeof(f6)) < 0)
		zdtm_skip("raw6: %m");
	fd = mk(AF_INET, SOCK_RAW, IPPROTO_UDP, "raw UDP", 8);
	SET(fd, IPPROTO_IP, IP_NODEFRAG, 1);
	SET(fd, IPPROTO_IP, IP_TOS, 0x08);
}

int main(void)
{
	zdtm_init("sock_opts_inet");
	listener();
	tcp_unconnected();
	dgram();
	raw();
	for (int i = 0; i < NSK; i++)
		zs_take(fds[i], &snaps[i]);
	zdtm_ready();
	zdtm_wait_sigterm();
	for (int i = 0; i < NSK; i++)
		zs_compare(fds[i], &snaps[i], names[i]);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	zdtm_check(c >= 0 && connect(c, (void *)&lsn_addr, sizeof(lsn_addr)) == 0,
		   "the listener refuses connections after restore: %m");
	zdtm_check(write(c, "x", 1) == 1, "write to the listener's connection: %m");
	int a = accept(fds[0], NULL, NULL);
	char b = 0;
	zdtm_check(a >= 0 && read(a, &b, 1) == 1 && b == 'x', "accept on the restored listener: %m");
	zdtm_exit();
}
