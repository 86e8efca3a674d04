// SPDX-License-Identifier: Apache-2.0
// ICMP datagram ("ping") sockets: a v4 one bound to 127.0.0.1 with its identifier, a v4 one connected to
// 127.0.0.1 (its peer is hidden from getpeername, /proc/net/icmp knows it), a v6 one bound to [::1].
// net.ipv4.ping_group_range must admit our group: the test widens it to group 0 if needed (only root's
// group, which may open raw sockets anyway) and puts it back at the end. After restore: same addresses
// and options, the connected one sends an echo request without an address and gets the reply.
#include "zdtm.h"
#include "zdtm_sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define RANGE "/proc/sys/net/ipv4/ping_group_range"
static char old_range[64];
static int fds[3];
static struct sockaddr_storage self[3];
static struct zs_snap snaps[3];

static void widen_range(void)
{
	unsigned lo = 1, hi = 0;
	if (zdtm_read_line(RANGE, old_range, sizeof(old_range)) < 0 || sscanf(old_range, "%u %u", &lo, &hi) != 2)
		zdtm_skip("no %s", RANGE);
	if (lo <= getegid() && getegid() <= hi) {
		old_range[0] = 0;
		return;
	}
	FILE *f = fopen(RANGE, "w");
	if (!f || fprintf(f, "%u %u\n", getegid(), getegid()) < 0 || fclose(f) != 0)
		zdtm_skip("cannot admit group %u to %s", getegid(), RANGE);
}

static void put_back(void)
{
	FILE *f = old_range[0] ? fopen(RANGE, "w") : NULL;
	if (f) {
		fprintf(f, "%s\n", old_range);
		fclose(f);
	}
}

static int ping(int family, const char *addr, int do_connect)
{
	struct sockaddr_storage ss = { .ss_family = family };
	socklen_t l = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int fd = socket(family, SOCK_DGRAM, family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
	if (family == AF_INET)
		inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr);
	else
		inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr);
	if (fd < 0 || (do_connect ? connect(fd, (void *)&ss, l) : bind(fd, (void *)&ss, l)) < 0) {
		put_back();
		zdtm_skip("ping socket %s: %m", addr);
	}
	return fd;
}

int main(void)
{
	zdtm_init("inet_ping");
	widen_range();
	fds[0] = ping(AF_INET, "127.0.0.1", 0);
	fds[1] = ping(AF_INET, "127.0.0.1", 1);
	fds[2] = ping(AF_INET6, "::1", 0);
	int ttl = 21;
	setsockopt(fds[1], IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
	for (int i = 0; i < 3; i++) {
		socklen_t l = sizeof(self[i]);
		getsockname(fds[i], (void *)&self[i], &l);
		zs_take(fds[i], &snaps[i]);
	}
	zdtm_ready();
	zdtm_wait_sigterm();
	for (int i = 0; i < 3; i++) {
		struct sockaddr_storage a;
		socklen_t l = sizeof(a);
		char what[16];
		snprintf(what, sizeof(what), "ping socket %d", i);
		getsockname(fds[i], (void *)&a, &l);
		zdtm_check(!memcmp(&a, &self[i], l), "%s: address differs after restore", what);
		zs_compare(fds[i], &snaps[i], what);
	}
	struct icmphdr h = { .type = ICMP_ECHO, .un.echo.sequence = htons(7) };
	char b[64];
	struct timeval tv = { 3, 0 };
	setsockopt(fds[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	zdtm_check(send(fds[1], &h, sizeof(h), 0) == sizeof(h), "connected ping socket: send: %m");
	zdtm_check(recv(fds[1], b, sizeof(b), 0) >= (ssize_t)sizeof(h) && ((struct icmphdr *)b)->type == ICMP_ECHOREPLY,
		   "connected ping socket: no echo reply: %m");
	put_back();
	zdtm_exit();
}
