// SPDX-License-Identifier: Apache-2.0
// AF_PACKET sockets on loopback with an ethertype nobody else uses (0x88b5, local experimental): two SOCK_RAW
// sockets bound to lo in one fanout group (hash), one with TPACKET_V2, a reserve, auxdata, origdev,
// timestamps and a multicast membership on lo (visible in /proc/net/dev_mcast); a SOCK_DGRAM socket never
// bound; a SOCK_PACKET socket bound to "lo" by name. After restore: the same addresses, fanout, options
// (every level, by number), the membership again, and a frame sent on lo reaches the group. Refused by name
// first (tests/lib/zdtm_refuse.h): a socket with an RX ring, and one with a frame waiting in its queue.
#include "zdtm.h"
#include "zdtm_refuse.h"
#include "zdtm_sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/net_tstamp.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROTO 0x88b5
enum { RAW1, RAW2, DGRAM, SPKT, N };
static const char *names[N] = { "raw (fanout, v2)", "raw (fanout)", "dgram, unbound", "SOCK_PACKET" };
static int fds[N], lo, sk;
static struct sockaddr_storage self[N];
static socklen_t slen[N];
static struct zs_snap snaps[N];
static const unsigned char mcaddr[6] = { 0x01, 0x00, 0x5e, 0x7f, 0x0a, 0x0b };

static int bound(int type, int idx)
{
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(PROTO), .sll_ifindex = lo };
	int fd = socket(AF_PACKET, type, htons(PROTO));
	if (fd < 0 || bind(fd, (void *)&ll, sizeof(ll)) < 0)
		zdtm_skip("packet socket: %m");
	fds[idx] = fd;
	return fd;
}

static void set(int fd, int opt, int v)
{
	if (setsockopt(fd, SOL_PACKET, opt, &v, sizeof(v)) < 0)
		zdtm_skip("PACKET option %d: %m", opt);
}

static int in_dev_mcast(void)
{
	char buf[8192], want[32];
	snprintf(want, sizeof(want), "%02x%02x%02x%02x%02x%02x", mcaddr[0], mcaddr[1], mcaddr[2], mcaddr[3], mcaddr[4],
		 mcaddr[5]);
	return zdtm_read_file("/proc/net/dev_mcast", buf, sizeof(buf)) > 0 && strstr(buf, want) != NULL;
}

static void setup(void)
{
	int fanout = (getpid() & 0xffff) | (PACKET_FANOUT_HASH << 16);
	int r1 = bound(SOCK_RAW, RAW1);
	set(r1, PACKET_VERSION, TPACKET_V2);
	set(r1, PACKET_RESERVE, 32);
	set(r1, PACKET_AUXDATA, 1);
	set(r1, PACKET_ORIGDEV, 1);
	set(r1, PACKET_TIMESTAMP, SOF_TIMESTAMPING_SOFTWARE);
	struct packet_mreq mr = { .mr_ifindex = lo, .mr_type = PACKET_MR_MULTICAST, .mr_alen = 6 };
	memcpy(mr.mr_address, mcaddr, 6);
	if (setsockopt(r1, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
		zdtm_skip("PACKET_ADD_MEMBERSHIP: %m");
	set(r1, PACKET_FANOUT, fanout);
	set(bound(SOCK_RAW, RAW2), PACKET_FANOUT, fanout);
	fds[DGRAM] = socket(AF_PACKET, SOCK_DGRAM, 0);
	fds[SPKT] = socket(AF_PACKET, SOCK_PACKET, htons(PROTO));
	struct sockaddr sa = { .sa_family = AF_PACKET };
	strcpy(sa.sa_data, "lo");
	if (fds[DGRAM] < 0 || fds[SPKT] < 0 || bind(fds[SPKT], &sa, sizeof(sa)) < 0)
		zdtm_skip("SOCK_PACKET: %m");
	if (!in_dev_mcast())
		zdtm_skip("the membership does not show in /proc/net/dev_mcast");
	for (int i = 0; i < N; i++) {
		slen[i] = sizeof(self[i]);
		getsockname(fds[i], (void *)&self[i], &slen[i]);
		zs_take(fds[i], &snaps[i]);
	}
}

static int ring_setup(void)
{
	struct tpacket_req req = { .tp_block_size = 4096, .tp_block_nr = 2, .tp_frame_size = 2048, .tp_frame_nr = 4 };
	sk = socket(AF_PACKET, SOCK_RAW, 0);
	return sk >= 0 && setsockopt(sk, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) == 0 ? sk : -1001;
}

static int queued_setup(void)
{
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(PROTO), .sll_ifindex = lo, .sll_halen = 6 };
	unsigned char frame[60] = { 0 };
	sk = socket(AF_PACKET, SOCK_DGRAM, htons(PROTO));
	if (sk < 0 || bind(sk, (void *)&ll, sizeof(ll)) < 0 || sendto(sk, frame, sizeof(frame), 0, (void *)&ll, sizeof(ll)) < 0)
		return -1001;
	struct pollfd p = { .fd = sk, .events = POLLIN };
	return poll(&p, 1, 3000) == 1 ? sk : -1002;
}

static int still(void)
{
	return 0;
}

static const struct zr_case refusals[] = {
	{ "rx-ring", ring_setup, still, { "mmap rings", "%pid", "%fd" } },
	{ "queued", queued_setup, still, { "wait in its receive queue", "%pid", "%fd" } },
};

int main(void)
{
	zdtm_init("sock_packet");
	lo = (int)if_nametoindex("lo");
	zr_find_ferry();
	for (int i = 0; i < 2; i++)
		zr_run(&refusals[i]);
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	for (int i = 0; i < N; i++) {
		struct sockaddr_storage a;
		socklen_t l = sizeof(a);
		getsockname(fds[i], (void *)&a, &l);
		zdtm_check(l == slen[i] && !memcmp(&a, &self[i], l), "%s: address differs after restore", names[i]);
		zs_compare(fds[i], &snaps[i], names[i]);
	}
	zdtm_check(in_dev_mcast(), "the multicast membership on lo is gone");
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(PROTO), .sll_ifindex = lo, .sll_halen = 6 };
	unsigned char frame[60] = { 0 }, b[128];
	int tx = socket(AF_PACKET, SOCK_DGRAM, 0);
	zdtm_check(sendto(tx, frame, sizeof(frame), 0, (void *)&ll, sizeof(ll)) > 0, "send a frame on lo: %m");
	struct pollfd p[2] = { { .fd = fds[RAW1], .events = POLLIN }, { .fd = fds[RAW2], .events = POLLIN } };
	zdtm_check(poll(p, 2, 3000) > 0, "the frame reached neither socket of the fanout group");
	zdtm_check(recv(fds[SPKT], b, sizeof(b), MSG_DONTWAIT) > 0, "the SOCK_PACKET socket did not see the frame");
	zdtm_exit();
}
