/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What getsockopt() cannot tell about an inet socket. NETLINK_SOCK_DIAG: its shutdown state, queue
 * lengths, and whether a TCP socket in state CLOSE still holds its port (the kernel lists such
 * sockets as "bound inactive"). Multicast memberships: every group some interface joined is in
 * /proc/net/igmp{,6}; MCAST_MSFILTER asks the socket whether it is a member of (group, interface),
 * and with which source filter, without changing anything.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define LOG_PREFIX "inet: "
#include "common/log.h"
#include "common/cleanup.h"
#include "files/inet-internal.h"
#include "files/skdiag.h"

#define MAX_SOURCES 64

struct find_ino {
	uint64_t ino;
	struct inet_diag_info *out;
};

static int match(const struct nlmsghdr *h, void *arg)
{
	struct find_ino *f = arg;
	size_t len;
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
		return -EBADMSG;
	const struct inet_diag_msg *m = NLMSG_DATA(h);
	if (m->idiag_inode != f->ino)
		return 0;
	f->out->state = m->idiag_state;
	f->out->rqueue = m->idiag_rqueue;
	f->out->wqueue = m->idiag_wqueue;
	const uint8_t *sd = skdiag_attr(h, sizeof(*m), INET_DIAG_SHUTDOWN, &len);
	f->out->shutdown = sd && len ? *sd : 0;
	return 1;
}

int inet_diag_find(int family, int protocol, uint64_t ino, struct inet_diag_info *out)
{
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
	} req = { .r = { .sdiag_family = (uint8_t)family, .sdiag_protocol = (uint8_t)protocol, .idiag_states = ~0U } };
	struct find_ino f = { ino, out };
	return skdiag_dump(&req, sizeof(req), match, &f);
}

struct find_peer {
	const Sk *sk;
	uint64_t ino;
};

/* The socket whose local address is sk's peer and whose peer is sk's local address. */
static int match_peer(const struct nlmsghdr *h, void *arg)
{
	struct find_peer *f = arg;
	const Sk *sk = f->sk;
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
		return -EBADMSG;
	const struct inet_diag_msg *m = NLMSG_DATA(h);
	size_t alen = sk->family == FERRY__INET_FAMILY__INET_V6 ? 16 : 4;
	if (ntohs(m->id.idiag_sport) != sk->dst_port || ntohs(m->id.idiag_dport) != sk->src_port ||
	    sk->dst_addr.len != alen || sk->src_addr.len != alen ||
	    memcmp(m->id.idiag_src, sk->dst_addr.data, alen) || memcmp(m->id.idiag_dst, sk->src_addr.data, alen))
		return 0;
	f->ino = m->idiag_inode;
	return 1;
}

uint64_t inet_diag_peer(const Sk *sk)
{
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
	} req = { .r = { .sdiag_family = sk->family == FERRY__INET_FAMILY__INET_V6 ? AF_INET6 : AF_INET,
			 .sdiag_protocol = IPPROTO_TCP, .idiag_states = 1U << 1 /* TCP_ESTABLISHED */ } };
	struct find_peer f = { sk, 0 };
	return skdiag_dump(&req, sizeof(req), match_peer, &f) < 0 ? 0 : f.ino;
}

/* ---------------------------------------------------------------- multicast */

/* Is fd a member of group on ifindex? 1 and its filter in m, 0 if not. */
static int probe(struct arena *a, int fd, int level, int family, const void *group, unsigned ifindex,
		 Ferry__InetMcast *m)
{
	size_t size = GROUP_FILTER_SIZE(MAX_SOURCES);
	_cleanup_free_ struct group_filter *gf = calloc(1, size);
	if (!gf)
		return -ENOMEM;
	gf->gf_interface = ifindex;
	gf->gf_numsrc = MAX_SOURCES;
	gf->gf_group.ss_family = (sa_family_t)family;
	size_t alen = family == AF_INET6 ? 16 : 4;
	if (family == AF_INET6)
		memcpy(&((struct sockaddr_in6 *)&gf->gf_group)->sin6_addr, group, 16);
	else
		memcpy(&((struct sockaddr_in *)&gf->gf_group)->sin_addr, group, 4);
	socklen_t len = (socklen_t)size;
	if (getsockopt(fd, level, MCAST_MSFILTER, gf, &len) < 0)
		return errno == EADDRNOTAVAIL || errno == EINVAL || errno == ENOPROTOOPT ? 0 : -errno;
	if (gf->gf_numsrc > MAX_SOURCES)
		return -E2BIG;
	ferry__inet_mcast__init(m);
	m->group.len = alen;
	m->group.data = arena_memdup(a, group, alen);
	m->ifindex = ifindex;
	char name[IF_NAMESIZE];
	if (if_indextoname(ifindex, name))
		m->ifname = arena_strdup(a, name);
	m->has_fmode = 1;
	m->fmode = gf->gf_fmode;
	m->sources = ARENA_ARRAY(a, ProtobufCBinaryData, gf->gf_numsrc + 1);
	if (!m->group.data || !m->sources)
		return -ENOMEM;
	for (uint32_t i = 0; i < gf->gf_numsrc; i++) {
		const struct sockaddr_storage *s = &gf->gf_slist[i];
		const void *addr = family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)s)->sin6_addr
						      : (const void *)&((const struct sockaddr_in *)s)->sin_addr;
		m->sources[i].len = alen;
		if (!(m->sources[i].data = arena_memdup(a, addr, alen)))
			return -ENOMEM;
	}
	m->n_sources = gf->gf_numsrc;
	return 1;
}

static int add_member(struct arena *a, Sk *sk, size_t *cap, Ferry__InetMcast *m)
{
	if (sk->n_mcast == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		Ferry__InetMcast **n = ARENA_ARRAY(a, Ferry__InetMcast *, *cap);
		if (!n)
			return -ENOMEM;
		if (sk->n_mcast)
			memcpy(n, sk->mcast, sk->n_mcast * sizeof(*n));
		sk->mcast = n;
	}
	sk->mcast[sk->n_mcast++] = m;
	return 0;
}

/* One line of /proc/net/igmp{,6}: the interface and a group it joined; 0 if the line holds none. */
static int parse_group(char *line, int v6, unsigned *ifindex, uint8_t *group)
{
	if (v6) {
		char hex[33];
		if (sscanf(line, "%u %*s %32s", ifindex, hex) != 2 || strlen(hex) != 32)
			return 0;
		for (int i = 0; i < 16; i++)
			sscanf(hex + 2 * i, "%2hhx", &group[i]);
		return 1;
	}
	unsigned idx, g;
	if (sscanf(line, "%u", &idx) == 1 && line[0] != '\t') {
		*ifindex = idx;	/* an interface line; its groups follow, indented */
		return 0;
	}
	if (sscanf(line, " %x", &g) != 1 || line[0] != '\t')
		return 0;
	memcpy(group, &g, 4);	/* printed as the raw network-order word */
	return 1;
}

static int scan_groups(struct arena *a, int fd, int level, int family, Sk *sk, size_t *cap)
{
	int v6 = family == AF_INET6;
	_cleanup_fclose_ FILE *f = fopen(v6 ? "/proc/net/igmp6" : "/proc/net/igmp", "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	char line[256];
	unsigned ifindex = 0;
	uint8_t group[16];
	while (fgets(line, sizeof(line), f)) {
		if (!parse_group(line, v6, &ifindex, group))
			continue;
		Ferry__InetMcast *m = ARENA_NEW(a, Ferry__InetMcast);
		int r = m ? probe(a, fd, level, family, group, ifindex, m) : -ENOMEM;
		if (r > 0)
			r = add_member(a, sk, cap, m);
		if (r < 0)
			return r;
	}
	return 0;
}

int inet_mcast_dump(struct arena *a, int fd, int family, Sk *sk)
{
	size_t cap = 0;
	int r = scan_groups(a, fd, IPPROTO_IP, AF_INET, sk, &cap);
	if (r == 0 && family == AF_INET6)
		r = scan_groups(a, fd, IPPROTO_IPV6, AF_INET6, sk, &cap);
	return r;
}

static void fill_ss(struct sockaddr_storage *ss, const ProtobufCBinaryData *addr)
{
	memset(ss, 0, sizeof(*ss));
	if (addr->len == 16) {
		ss->ss_family = AF_INET6;
		memcpy(&((struct sockaddr_in6 *)ss)->sin6_addr, addr->data, 16);
	} else {
		ss->ss_family = AF_INET;
		memcpy(&((struct sockaddr_in *)ss)->sin_addr, addr->data, 4);
	}
}

static int join_one(int fd, const Ferry__InetMcast *m, struct ferry_err *err)
{
	char g[INET6_ADDRSTRLEN] = "?";
	int v6 = m->group.len == 16, level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
	unsigned ifindex = m->ifname ? if_nametoindex(m->ifname) : 0;
	if (!ifindex)
		ifindex = m->ifindex;
	if ((m->group.len != 4 && !v6) || m->n_sources > MAX_SOURCES)
		return fe_msg(err, EBADMSG, "files.img: bad multicast group");
	inet_ntop(v6 ? AF_INET6 : AF_INET, m->group.data, g, sizeof(g));
	struct group_req gr = { .gr_interface = ifindex };
	fill_ss(&gr.gr_group, &m->group);
	if (setsockopt(fd, level, MCAST_JOIN_GROUP, &gr, sizeof(gr)) < 0)
		return fe_set(err, errno, "join multicast group %s on %s", g, m->ifname ? m->ifname : "?");
	if (m->fmode == MCAST_EXCLUDE && !m->n_sources)
		return 0;
	size_t size = GROUP_FILTER_SIZE(m->n_sources ? m->n_sources : 1);
	_cleanup_free_ struct group_filter *gf = calloc(1, size);
	if (!gf)
		return fe_set(err, ENOMEM, "multicast filter");
	gf->gf_interface = ifindex;
	gf->gf_group = gr.gr_group;
	gf->gf_fmode = m->fmode;
	gf->gf_numsrc = (uint32_t)m->n_sources;
	for (size_t i = 0; i < m->n_sources; i++) {
		if (m->sources[i].len != m->group.len)
			return fe_msg(err, EBADMSG, "files.img: bad multicast source");
		fill_ss(&gf->gf_slist[i], &m->sources[i]);
	}
	if (setsockopt(fd, level, MCAST_MSFILTER, gf, (socklen_t)size) < 0)
		return fe_set(err, errno, "source filter of multicast group %s", g);
	return 0;
}

int inet_mcast_restore(int fd, int family, const Sk *sk, struct ferry_err *err)
{
	(void)family;
	for (size_t i = 0; i < sk->n_mcast; i++) {
		int r = join_one(fd, sk->mcast[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---------------------------------------------------------------- /proc/net/{raw,icmp}{,6} */

/* An address as /proc/net prints it: each 32-bit word of the network-order address in hex. */
static int parse_hexaddr(const char *hex, uint8_t *out, size_t len)
{
	if (strlen(hex) != len * 2)
		return -1;
	for (size_t w = 0; w < len / 4; w++) {
		char word[9];
		memcpy(word, hex + 8 * w, 8);
		word[8] = 0;
		uint32_t v = (uint32_t)strtoul(word, NULL, 16);
		memcpy(out + 4 * w, &v, 4);
	}
	return 0;
}

int inet_procnet_peer(const char *table, int v6, uint64_t ino, unsigned *state, uint8_t *peer, unsigned *port)
{
	char path[64], line[512], la[40], ra[40];
	snprintf(path, sizeof(path), "/proc/net/%s%s", table, v6 ? "6" : "");
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned lp, rp, st;
		unsigned long inode;
		if (sscanf(line, " %*d: %39[0-9A-Fa-f]:%x %39[0-9A-Fa-f]:%x %x %*x:%*x %*x:%*x %*x %*u %*d %lu",
			   la, &lp, ra, &rp, &st, &inode) != 6 || inode != ino)
			continue;
		*state = st;
		*port = rp;
		return parse_hexaddr(ra, peer, v6 ? 16 : 4) < 0 ? -EBADMSG : 1;
	}
	return 0;
}
