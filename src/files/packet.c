/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AF_PACKET sockets (SOCK_RAW, SOCK_DGRAM, and the old SOCK_PACKET): the protocol and interface they
 * are bound to (sock_diag's packet info, the interface by name), their memberships (promiscuous,
 * multicast, unicast: PACKET_ADD_MEMBERSHIP, counted), their fanout group, copy threshold and every
 * option (version, reserve, auxdata, loss, vnet header, timestamps, filter...), and its mmap rings
 * (PACKET_RX_RING, PACKET_TX_RING), made again empty and mapped again where the task mapped them —
 * so a frame the program still holds (status TP_STATUS_USER, or queued to send) is refused. Refused
 * by name too: frames waiting in the receive queue (they came from the wire) and fanout modes that
 * steer with a BPF program, which cannot be read back.
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <linux/packet_diag.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <unistd.h>
#define LOG_PREFIX "packet: "
#include "common/log.h"
#include "common/cleanup.h"
#include "files/files.h"
#include "files/skdiag.h"
#include "files/sockopt.h"

#ifndef SOL_PACKET
#define SOL_PACKET 263
#endif
#define SOCK_PACKET_ 10

typedef Ferry__PacketSkEntry Psk;

static int packet_match(const struct fd_info *fi, const struct dump_opts *o)
{
	(void)o;
	return sockopt_is_family(fi, AF_PACKET);
}

struct diag {
	uint64_t ino;
	int found, rings;
	struct packet_diag_ring rx, tx;
	int has_rx, has_tx;
	uint32_t num, fanout, has_fanout;
	struct packet_diag_info info;
	struct packet_diag_mclist mc[32];
	size_t nmc;
};

static int take(const struct nlmsghdr *h, void *arg)
{
	struct diag *d = arg;
	size_t len, hl = sizeof(struct packet_diag_msg);
	if (h->nlmsg_len < NLMSG_LENGTH(hl))
		return -EBADMSG;
	const struct packet_diag_msg *m = NLMSG_DATA(h);
	if (m->pdiag_ino != d->ino)
		return 0;
	d->found = 1;
	d->num = m->pdiag_num;	/* host order already */
	const void *p = skdiag_attr(h, hl, PACKET_DIAG_INFO, &len);
	if (p && len >= sizeof(d->info))
		memcpy(&d->info, p, sizeof(d->info));
	if ((p = skdiag_attr(h, hl, PACKET_DIAG_RX_RING, &len)) && len >= sizeof(d->rx)) {
		memcpy(&d->rx, p, sizeof(d->rx));
		d->has_rx = 1;
	}
	if ((p = skdiag_attr(h, hl, PACKET_DIAG_TX_RING, &len)) && len >= sizeof(d->tx)) {
		memcpy(&d->tx, p, sizeof(d->tx));
		d->has_tx = 1;
	}
	if ((p = skdiag_attr(h, hl, PACKET_DIAG_FANOUT, &len)) && len >= 4) {
		memcpy(&d->fanout, p, 4);
		d->has_fanout = 1;
	}
	if ((p = skdiag_attr(h, hl, PACKET_DIAG_MCLIST, &len))) {
		d->nmc = len / sizeof(d->mc[0]) < 32 ? len / sizeof(d->mc[0]) : 32;
		memcpy(d->mc, p, d->nmc * sizeof(d->mc[0]));
	}
	return 1;
}

static int dump_mclist(struct dump_ctx *ctx, const struct diag *d, Psk *p)
{
	p->mclist = ARENA_ARRAY(&ctx->arena, Ferry__PacketMembership *, d->nmc + 1);
	if (!p->mclist)
		return -ENOMEM;
	for (size_t i = 0; i < d->nmc; i++) {
		Ferry__PacketMembership *m = ARENA_NEW(&ctx->arena, Ferry__PacketMembership);
		char name[IF_NAMESIZE];
		if (!m)
			return -ENOMEM;
		ferry__packet_membership__init(m);
		m->ifindex = d->mc[i].pdmc_index;
		m->type = d->mc[i].pdmc_type;
		m->has_addr = m->has_count = 1;
		m->count = d->mc[i].pdmc_count;
		m->addr.len = d->mc[i].pdmc_alen < 32 ? d->mc[i].pdmc_alen : 32;
		m->addr.data = arena_memdup(&ctx->arena, d->mc[i].pdmc_addr, m->addr.len ? m->addr.len : 1);
		if (if_indextoname(m->ifindex, name))
			m->ifname = arena_strdup(&ctx->arena, name);
		p->mclist[p->n_mclist++] = m;
	}
	return 0;
}

/* ------------------------------------------------------------------ rings */

/* Where the task maps the socket (its rings): the start of the mapping, 0 if it maps it nowhere. */
static uint64_t ring_mapping(pid_t pid, uint64_t ino)
{
	char path[64], line[512], want[48];
	unsigned long long start = 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	snprintf(want, sizeof(want), "socket:[%llu]", (unsigned long long)ino);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, want) && sscanf(line, "%llx-", &start) == 1)
			return start;
	return 0;
}

/* The status word of a frame (v1: unsigned long, v2/v3: u32) or a v3 block (block_status). */
static int frame_busy(int mem, uint64_t at, int version, int tx)
{
	uint64_t st = 0;
	off_t off = (off_t)(at + (version == TPACKET_V3 && !tx ? 8 : 0));
	if (pread(mem, &st, version == TPACKET_V1 ? 8 : 4, off) < 0)
		return -errno;
	return tx ? st != TP_STATUS_AVAILABLE : !!(st & TP_STATUS_USER);
}

/*
 * A ring comes back empty, all its frames the kernel's: refused when the task still holds a frame
 * (received and not handed back, or queued to send).
 */
static int ring_idle(struct dump_ctx *ctx, pid_t pid, uint64_t base, const struct packet_diag_ring *r, int version, int tx)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	_cleanup_close_ int mem = open(path, O_RDONLY | O_CLOEXEC);
	if (mem < 0)
		return fe_set(ctx->err, errno, "open %s", path);
	int blocks = version == TPACKET_V3 && !tx;
	uint32_t per = blocks || !r->pdr_frame_size ? 1 : r->pdr_block_size / r->pdr_frame_size;
	uint32_t n = blocks ? r->pdr_block_nr : r->pdr_frame_nr;
	for (uint32_t k = 0; per && k < n; k++) {
		uint64_t at = base + (uint64_t)(k / per) * r->pdr_block_size + (uint64_t)(k % per) * r->pdr_frame_size;
		int busy = frame_busy(mem, at, version, tx);
		if (busy < 0)
			return fe_set(ctx->err, -busy, "read the %s ring", tx ? "TX" : "RX");
		if (busy)
			return fe_msg(ctx->err, EOPNOTSUPP, "%s %u of its %s ring is the program's (%s); not supported",
				      blocks ? "block" : "frame", k, tx ? "TX" : "RX",
				      tx ? "queued to send" : "received, not handed back");
	}
	return 0;
}

static Ferry__PacketRing *save_ring(struct arena *a, const struct packet_diag_ring *r)
{
	Ferry__PacketRing *pr = ARENA_NEW(a, Ferry__PacketRing);
	if (!pr)
		return NULL;
	ferry__packet_ring__init(pr);
	pr->block_size = r->pdr_block_size;
	pr->block_nr = r->pdr_block_nr;
	pr->frame_size = r->pdr_frame_size;
	pr->frame_nr = r->pdr_frame_nr;
	pr->has_retire_tmo = pr->has_sizeof_priv = pr->has_features = 1;
	pr->retire_tmo = r->pdr_retire_tmo;
	pr->sizeof_priv = r->pdr_sizeof_priv;
	pr->features = r->pdr_features;
	return pr;
}

static int dump_rings(struct dump_ctx *ctx, struct dtask *t, int fd, const struct diag *d, Psk *p)
{
	int version = TPACKET_V1, r;
	uint64_t base = ring_mapping(t->pid, d->ino);
	sockopt_get_int(fd, SOL_PACKET, PACKET_VERSION, &version);
	if (d->has_rx && base && (r = ring_idle(ctx, t->pid, base, &d->rx, version, 0)) < 0)
		return r;
	if (d->has_tx && base &&
	    (r = ring_idle(ctx, t->pid, base + (d->has_rx ? (uint64_t)d->rx.pdr_block_size * d->rx.pdr_block_nr : 0),
			   &d->tx, version, 1)) < 0)
		return r;
	if ((d->has_rx && !(p->rx_ring = save_ring(&ctx->arena, &d->rx))) ||
	    (d->has_tx && !(p->tx_ring = save_ring(&ctx->arena, &d->tx))))
		return fe_set(ctx->err, ENOMEM, "rings");
	return 0;
}

int packet_file_for_mapping(struct dump_ctx *ctx, uint64_t ino, uint32_t *id)
{
	for (size_t i = 0; i < ctx->files.n_files; i++) {
		const Ferry__FileEntry *fe = ctx->files.files[i];
		if (fe->kind == FERRY__FILE_KIND__FILE_PACKET_SK && fe->packet_sk && fe->packet_sk->ino == ino) {
			*id = fe->id;
			return 0;
		}
	}
	return -ENOENT;
}

/* What the kernel keeps for the socket that cannot come back: refused by name. */
static int check(struct dump_ctx *ctx, int fd, const struct diag *d)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	int mode = (int)((d->fanout >> 16) & 0xff);
	if (d->has_fanout && (mode == PACKET_FANOUT_CBPF || mode == PACKET_FANOUT_EBPF))
		return fe_msg(ctx->err, EOPNOTSUPP, "its fanout group steers with a BPF program, which cannot be read back");
	/* with an RX ring, frames go to the ring (checked by dump_rings), and POLLIN speaks of it */
	if (poll(&pf, 1, 0) == 1 && (pf.revents & (d->has_rx ? POLLERR : POLLIN | POLLERR)))
		return fe_msg(ctx->err, EOPNOTSUPP, "frames (or an error) wait in its receive queue; not supported");
	return 0;
}

static int fill(struct dump_ctx *ctx, int fd, const struct diag *d, Psk *p)
{
	char name[IF_NAMESIZE];
	p->has_protocol = p->has_ifindex = p->has_copy_thresh = p->has_running = 1;
	p->protocol = d->num;
	p->ifindex = d->info.pdi_index;
	p->copy_thresh = d->info.pdi_copy_thresh;
	p->running = !!(d->info.pdi_flags & PDI_RUNNING);
	if (p->ifindex && if_indextoname(p->ifindex, name))
		p->ifname = arena_strdup(&ctx->arena, name);
	if (p->type == SOCK_PACKET_) {	/* bound by device name; getsockname tells it */
		struct sockaddr sa = { 0 };
		socklen_t l = sizeof(sa);
		char dev[sizeof(sa.sa_data) + 1] = "";
		if (getsockname(fd, &sa, &l) == 0 && sa.sa_data[0]) {
			memcpy(dev, sa.sa_data, sizeof(sa.sa_data));
			p->ifname = arena_strdup(&ctx->arena, dev);
		}
	}
	if (d->has_fanout) {
		p->has_fanout = 1;
		p->fanout = d->fanout;
	}
	return dump_mclist(ctx, d, p) < 0 ? fe_set(ctx->err, ENOMEM, "memberships") : 0;
}

static int packet_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	Psk *p = ARENA_NEW(&ctx->arena, Psk);
	int type, r;
	struct {
		struct nlmsghdr h;
		struct packet_diag_req r;
	} req = { .r = { .sdiag_family = AF_PACKET, .pdiag_ino = (uint32_t)fi->st.st_ino,
			 .pdiag_show = PACKET_SHOW_INFO | PACKET_SHOW_MCLIST | PACKET_SHOW_RING_CFG | PACKET_SHOW_FANOUT } };
	struct diag d = { .ino = fi->st.st_ino };
	if (!p)
		return fe_set(ctx->err, ENOMEM, "socket entry");
	ferry__packet_sk_entry__init(p);
	if (sockopt_get_int(fi->stolen, SOL_SOCKET, SO_TYPE, &type) < 0)
		return fe_set(ctx->err, errno, "packet socket");
	if ((r = skdiag_dump(&req, sizeof(req), take, &d)) < 0 || !d.found)
		return fe_set(ctx->err, r < 0 ? -r : ENOENT, "sock_diag: packet socket %llu", (unsigned long long)d.ino);
	p->has_ino = p->has_type = 1;
	p->ino = fi->st.st_ino;
	p->type = (uint32_t)type;
	if ((r = check(ctx, fi->stolen, &d)) < 0 || (r = fill(ctx, fi->stolen, &d, p)) < 0 ||
	    (r = dump_rings(ctx, t, fi->stolen, &d, p)) < 0 ||
	    (r = sockopt_dump(&ctx->arena, fi->stolen, 0, &p->opts, &p->n_opts, ctx->err)) < 0)
		return fe_wrap(ctx->err, r, "packet socket (protocol %#x, interface %u)", d.num, d.info.pdi_index);
	fe->packet_sk = p;
	return 0;
}

/* ------------------------------------------------------------------ restore */

static int ifindex_of(const char *name, uint32_t saved)
{
	unsigned i = name ? if_nametoindex(name) : 0;
	return (int)(i ? i : saved);
}

static int bind_sock(int fd, const Psk *p, struct ferry_err *err)
{
	if (p->type == SOCK_PACKET_) {
		struct sockaddr sa = { .sa_family = AF_PACKET };
		if (!p->ifname)
			return 0;
		snprintf(sa.sa_data, sizeof(sa.sa_data), "%s", p->ifname);
		return bind(fd, &sa, sizeof(sa)) < 0 ? fe_set(err, errno, "bind to %s", p->ifname) : 0;
	}
	if (!p->ifindex && !p->running)
		return 0;	/* never bound, receiving nothing: as socket() left it */
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons((uint16_t)p->protocol),
				  .sll_ifindex = ifindex_of(p->ifname, p->ifindex) };
	return bind(fd, (struct sockaddr *)&ll, sizeof(ll)) < 0 ?
	       fe_set(err, errno, "bind to interface %s", p->ifname ? p->ifname : "(any)") : 0;
}

static int join(int fd, const Psk *p, struct ferry_err *err)
{
	for (size_t i = 0; i < p->n_mclist; i++) {
		const Ferry__PacketMembership *m = p->mclist[i];
		struct packet_mreq mr = { .mr_ifindex = ifindex_of(m->ifname, m->ifindex), .mr_type = (unsigned short)m->type,
					  .mr_alen = (unsigned short)(m->addr.len < 8 ? m->addr.len : 8) };
		memcpy(mr.mr_address, m->addr.data, mr.mr_alen);
		for (uint32_t k = 0; k < (m->has_count && m->count ? m->count : 1); k++)
			if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
				return fe_set(err, errno, "PACKET_ADD_MEMBERSHIP (type %u)", m->type);
	}
	return 0;
}

static int set_ring(int fd, int which, const Ferry__PacketRing *pr, int version, struct ferry_err *err)
{
	struct tpacket_req3 req = { pr->block_size, pr->block_nr, pr->frame_size, pr->frame_nr, pr->retire_tmo,
				    pr->sizeof_priv, pr->features };
	socklen_t len = version == TPACKET_V3 ? sizeof(req) : sizeof(struct tpacket_req);
	if (setsockopt(fd, SOL_PACKET, which, &req, len) < 0)
		return fe_set(err, errno, "%s", which == PACKET_RX_RING ? "PACKET_RX_RING" : "PACKET_TX_RING");
	return 0;
}

static int setup(int fd, const Psk *p, struct ferry_err *err)
{
	int r = sockopt_restore(fd, p->opts, p->n_opts, SKOPT_EARLY, err), thresh = (int)p->copy_thresh;
	int version = sockopt_int(p->opts, p->n_opts, SOL_PACKET, PACKET_VERSION, TPACKET_V1);
	if (r == 0 && p->rx_ring)
		r = set_ring(fd, PACKET_RX_RING, p->rx_ring, version, err);
	if (r == 0 && p->tx_ring)
		r = set_ring(fd, PACKET_TX_RING, p->tx_ring, version, err);
	if (r < 0 || (r = bind_sock(fd, p, err)) < 0 || (r = join(fd, p, err)) < 0)
		return r;
	if (p->copy_thresh && setsockopt(fd, SOL_PACKET, PACKET_COPY_THRESH, &thresh, sizeof(thresh)) < 0)
		return fe_set(err, errno, "PACKET_COPY_THRESH");
	int fanout = (int)p->fanout;
	if (p->has_fanout && setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &fanout, sizeof(fanout)) < 0)
		return fe_set(err, errno, "PACKET_FANOUT (group %u)", p->fanout & 0xffff);
	return sockopt_restore(fd, p->opts, p->n_opts, SKOPT_ALL, err);
}

static int packet_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	const Psk *p = fe->packet_sk;
	(void)ctx;
	if (!p || !p->has_type)
		return fe_msg(err, EBADMSG, "files.img: packet socket %u without its socket part", fe->id);
	int flags = SOCK_CLOEXEC | ((fe->flags & O_NONBLOCK) ? SOCK_NONBLOCK : 0);
	/* created with protocol 0: it receives nothing until bind() gives it its protocol */
	_cleanup_close_ int fd = socket(AF_PACKET, (int)p->type | flags, p->running ? htons((uint16_t)p->protocol) : 0);
	if (fd < 0)
		return fe_set(err, errno, "packet socket");
	int r = setup(fd, p, err);
	return r < 0 ? fe_wrap(err, r, "packet socket (protocol %#x)", p->protocol) : TAKE_FD(fd);
}

const struct file_ops packet_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_PACKET_SK, .name = "packet socket",
	.match = packet_match, .dump = packet_dump, .open = packet_open,
};
