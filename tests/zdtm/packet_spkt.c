// SPDX-License-Identifier: Apache-2.0
// SOCK_PACKET sockets (the obsolete packet interface, AF_PACKET with a device name as address): one
// bound to "lo", one never bound. After restore getsockname() gives the same family and device name
// (empty for the unbound one), and the bound one still receives a frame sent on lo.
#include "zdtm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROTO 0x88b6	/* local experimental ethertype: nobody else's traffic */

static int name_is(int sk, const char *dev)
{
	struct sockaddr a = { 0 };
	socklen_t l = sizeof(a);
	return getsockname(sk, &a, &l) == 0 && a.sa_family == AF_PACKET && !strcmp(a.sa_data, dev);
}

int main(void)
{
	zdtm_init("packet_spkt");
	int s1 = socket(AF_PACKET, SOCK_PACKET, htons(PROTO));
	int s2 = socket(AF_PACKET, SOCK_PACKET, htons(PROTO));
	if (s1 < 0 || s2 < 0)
		zdtm_skip("SOCK_PACKET: %m");
	struct sockaddr a = { .sa_family = AF_PACKET };
	strcpy(a.sa_data, "lo");
	if (bind(s1, &a, sizeof(a)) < 0)
		zdtm_skip("bind SOCK_PACKET to lo: %m");
	zdtm_check(name_is(s1, "lo") && name_is(s2, ""), "names differ before the dump");
	zdtm_ready();
	zdtm_wait_sigterm();

	zdtm_check(name_is(s1, "lo"), "the bound socket lost its device");
	zdtm_check(name_is(s2, ""), "the unbound socket has a device");
	int type = 0;
	socklen_t l = sizeof(type);
	zdtm_check(getsockopt(s1, SOL_SOCKET, SO_TYPE, &type, &l) == 0 && type == SOCK_PACKET, "type %d", type);
	unsigned char frame[64] = { 0 };
	memset(frame, 0xff, 6);
	frame[12] = PROTO >> 8;
	frame[13] = PROTO & 0xff;
	memcpy(frame + 14, "spkt", 4);
	zdtm_check(sendto(s2, frame, sizeof(frame), 0, &a, sizeof(a)) == sizeof(frame), "send on lo: %m");
	unsigned char in[128];
	int got = 0;
	for (int i = 0; i < 50 && !got; i++) {
		ssize_t n = recv(s1, in, sizeof(in), MSG_DONTWAIT);
		if (n >= 18 && !memcmp(in + 14, "spkt", 4))
			got = 1;
		else if (n < 0)
			usleep(20000);
	}
	zdtm_check(got, "the bound socket received nothing");
	zdtm_exit();
}
