// SPDX-License-Identifier: Apache-2.0
// AF_PACKET sockets on loopback with an ethertype nobody else uses (0x88b5, local experimental): two SOCK_RAW
// sockets bound to lo in one fanout group (hash), one with TPACKET_V2, a reserve, auxdata, origdev,
// timestamps and a multicast membership on lo (visible in /proc/net/dev_mcast); a SOCK_DGRAM socket never
// bound; a SOCK_PACKET socket bound to "lo" by name; a TPACKET_V3 socket with RX and TX rings mapped. After
// restore: the same addresses, fanout, options (every level, by number), the membership again, a frame
// sent on lo reaches the group, and the rings are mapped where they were, empty and the kernel's. Refused by
// name first (tests/lib/zdtm_refuse.h): an RX ring holding a frame the program has not handed back, and a
// socket with a frame waiting in its queue.
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
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROTO 0x88b5
enum { RAW1, RAW2, DGRAM, SPKT, RING, N };
static const char *names[N] = { "raw (fanout, v2)", "raw (fanout)", "dgram, unbound", "SOCK_PACKET",
				"v3 with rings" };
static unsigned char *ring;
#define RING_BLOCK 4096
#define RING_SIZE (2 * RING_BLOCK + 4 * 2048)
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

	/* TPACKET_V3: an RX ring of 2 blocks and a TX ring of 4 frames, mapped; every frame the kernel's */
	struct tpacket_req3 rx = { .tp_block_size = RING_BLOCK, .tp_block_nr = 2, .tp_frame_size = 2048, .tp_frame_nr = 4,
				   .tp_retire_blk_tov = 60 };
	struct tpacket_req3 tx = { .tp_block_size = RING_BLOCK, .tp_block_nr = 2, .tp_frame_size = 2048, .tp_frame_nr = 4 };
	fds[RING] = socket(AF_PACKET, SOCK_RAW, 0);
	set(fds[RING], PACKET_VERSION, TPACKET_V3);
	if (setsockopt(fds[RING], SOL_PACKET, PACKET_RX_RING, &rx, sizeof(rx)) < 0 ||
	    setsockopt(fds[RING], SOL_PACKET, PACKET_TX_RING, &tx, sizeof(tx)) < 0)
		zdtm_skip("rings: %m");
	ring = mmap(NULL, 2 * RING_BLOCK + 2 * RING_BLOCK, PROT_READ | PROT_WRITE, MAP_SHARED, fds[RING], 0);
	if (ring == MAP_FAILED)
		zdtm_skip("mmap the rings: %m");
	for (int i = 0; i < N; i++) {
		slen[i] = sizeof(self[i]);
		getsockname(fds[i], (void *)&self[i], &slen[i]);
		zs_take(fds[i], &snaps[i]);
	}
}

/* A v2 RX ring whose first frame holds a frame the program has not handed back. */
static int ring_setup(void)
{
	struct tpacket_req req = { .tp_block_size = 4096, .tp_block_nr = 2, .tp_frame_size = 2048, .tp_frame_nr = 4 };
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(PROTO), .sll_ifindex = lo, .sll_halen = 6 };
	int v = TPACKET_V2;
	unsigned char frame[60] = { 0 };
	sk = socket(AF_PACKET, SOCK_RAW, htons(PROTO));
	if (sk < 0 || setsockopt(sk, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) < 0 ||
	    setsockopt(sk, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0 || bind(sk, (void *)&ll, sizeof(ll)) < 0)
		return -1001;
	volatile struct tpacket2_hdr *h = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, sk, 0);
	int tx = socket(AF_PACKET, SOCK_DGRAM, 0);
	if (h == MAP_FAILED || sendto(tx, frame, sizeof(frame), 0, (void *)&ll, sizeof(ll)) < 0)
		return -1002;
	for (int i = 0; i < 300 && !(h->tp_status & TP_STATUS_USER); i++)
		usleep(10000);
	return h->tp_status & TP_STATUS_USER ? sk : -1003;
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
	{ "rx-ring", ring_setup, still, { "ring is the program's", "%pid", "%fd" } },
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
	struct tpacket_block_desc *bd = (void *)ring;
	struct tpacket3_hdr *t3 = (void *)(ring + 2 * RING_BLOCK);
	zdtm_check(bd->version == TPACKET_V3 && !(bd->hdr.bh1.block_status & TP_STATUS_USER),
		   "the RX ring's first block is not an empty v3 block (version %u, status %#x)", bd->version,
		   bd->hdr.bh1.block_status);
	zdtm_check(t3->tp_status == TP_STATUS_AVAILABLE, "the TX ring's first frame is not available (%#x)", t3->tp_status);
	zdtm_exit();
}
