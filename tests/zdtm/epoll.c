// SPDX-License-Identifier: Apache-2.0
// epoll: one instance watching two UDP sockets (level- and edge-triggered), a TCP listener (EPOLLEXCLUSIVE),
// a dup'ed fd (EPOLLOUT|EPOLLONESHOT) and a second epoll instance. After restore the registrations are the
// same (tfd, events, data), the events fire as registered, and EPOLL_CTL_DEL of a restored one works.
#include "zdtm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define D_LT 0x1111222233334444ULL
#define D_ET 0xfeedfaceULL
#define D_LSN 42
#define D_ONESHOT 7
#define D_NESTED 0xabcULL

static int ep, ep2, u_lt, u_et, lsn, u_dup;
static struct sockaddr_in a_lt, a_et, a_lsn;
static char regs[2048];

static int bound(int type, struct sockaddr_in *a)
{
	socklen_t l = sizeof(*a);
	int fd = socket(AF_INET, type, 0);
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (void *)a, sizeof(*a)) < 0 || getsockname(fd, (void *)a, &l) < 0)
		zdtm_skip("socket: %m");
	return fd;
}

static void add(int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		zdtm_skip("epoll_ctl(%d, %#x): %m", fd, events);
}

/* The "tfd:events:data" triples of ep's fdinfo by tfd (inodes change across a restore: left out). */
static void registrations(char *out, size_t size)
{
	char path[64], text[4096], line[64][64] = { { 0 } };
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ep);
	out[0] = 0;
	if (zdtm_read_file(path, text, sizeof(text)) < 0)
		return;
	for (char *p = text; (p = strstr(p, "tfd:")); p++) {
		int tfd;
		unsigned ev;
		unsigned long long data;
		if (sscanf(p, "tfd: %d events: %x data: %llx", &tfd, &ev, &data) == 3 && tfd >= 0 && tfd < 64)
			snprintf(line[tfd], sizeof(line[tfd]), "%d:%x:%llx ", tfd, ev, data);
	}
	size_t len = 0;
	for (int i = 0; i < 64 && len + 64 < size; i++)
		len += snprintf(out + len, size - len, "%s", line[i]);
}

static void setup(void)
{
	u_lt = bound(SOCK_DGRAM, &a_lt);
	u_et = bound(SOCK_DGRAM, &a_et);
	lsn = bound(SOCK_STREAM, &a_lsn);
	listen(lsn, 4);
	u_dup = dup(u_lt);
	ep = epoll_create1(EPOLL_CLOEXEC);
	ep2 = epoll_create1(0);
	add(u_lt, EPOLLIN, D_LT);
	add(u_et, EPOLLIN | EPOLLET, D_ET);
	add(lsn, EPOLLIN | EPOLLEXCLUSIVE, D_LSN);
	add(u_dup, EPOLLOUT | EPOLLONESHOT, D_ONESHOT);
	add(ep2, EPOLLIN, D_NESTED);
	registrations(regs, sizeof(regs));
}

/* Waits briefly; returns the events reported for data (0 if none), and counts all reported. */
static uint32_t ready(uint64_t data, int *count)
{
	struct epoll_event evs[8];
	uint32_t got = 0;
	int n = epoll_wait(ep, evs, 8, 100);
	for (int i = 0; i < n; i++)
		if (evs[i].data.u64 == data)
			got = evs[i].events;
	if (count)
		*count = n;
	return got;
}

static void verify(void)
{
	char now[2048];
	int n;
	registrations(now, sizeof(now));
	zdtm_check(!strcmp(now, regs), "registrations [%s], want [%s]", now, regs);

	/* the one-shot EPOLLOUT fires once and then is disarmed */
	zdtm_check(ready(D_ONESHOT, &n) == EPOLLOUT && n == 1, "one-shot EPOLLOUT not reported alone (%d events)", n);
	zdtm_check(!ready(D_ONESHOT, &n) && n == 0, "one-shot fired twice, or other events (%d)", n);

	int tx = socket(AF_INET, SOCK_DGRAM, 0);
	sendto(tx, "a", 1, 0, (void *)&a_lt, sizeof(a_lt));
	sendto(tx, "b", 1, 0, (void *)&a_et, sizeof(a_et));
	close(tx);
	zdtm_check(ready(D_LT, &n) == EPOLLIN && n == 2, "level-triggered socket: no EPOLLIN (%d events)", n);
	zdtm_check(ready(D_LT, &n) == EPOLLIN && n == 1, "level-triggered: not reported again, or edge-triggered "
		   "reported twice (%d events)", n);

	int c = socket(AF_INET, SOCK_STREAM, 0);
	zdtm_check(connect(c, (void *)&a_lsn, sizeof(a_lsn)) == 0, "connect: %m");
	zdtm_check(ready(D_LSN, NULL) == EPOLLIN, "listener: no EPOLLIN after a connect");
	close(c);

	zdtm_check(epoll_ctl(ep, EPOLL_CTL_DEL, u_lt, NULL) == 0, "EPOLL_CTL_DEL of a restored registration: %m");
	zdtm_check(!ready(D_LT, NULL), "deleted registration still reports");
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 5 };
	zdtm_check(epoll_ctl(ep, EPOLL_CTL_ADD, u_et, &ev) < 0 && errno == EEXIST,
		   "adding an already restored registration did not fail with EEXIST");
	zdtm_check(epoll_ctl(ep, EPOLL_CTL_MOD, u_et, &ev) == 0, "EPOLL_CTL_MOD of a restored registration: %m");
	zdtm_check(ready(5, NULL) == EPOLLIN, "modified registration: no EPOLLIN");
}

int main(void)
{
	zdtm_init("epoll");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	verify();
	zdtm_exit();
}
