/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Netlink sockets (NETLINK_ROUTE, GENERIC, KOBJECT_UEVENT, ...): protocol and type, the port id it is
 * bound to, every multicast group it joined (NETLINK_LIST_MEMBERSHIPS, past the 32 of bind()), the
 * peer it is connected to, and its options. Messages waiting in its queue cannot be walked with a
 * peek (netlink has no peek offset) nor sent again as the kernel sent them, and a dump the kernel is
 * still feeding (sock_diag: callback running) cannot be continued: both are refused by name.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/netlink_diag.h>
#include <linux/sock_diag.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#define LOG_PREFIX "netlink: "
#include "common/log.h"
#include "common/cleanup.h"
#include "files/files.h"
#include "files/skdiag.h"
#include "files/sockopt.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

typedef Ferry__NetlinkSkEntry Nsk;

static int netlink_match(const struct fd_info *fi, const struct dump_opts *o)
{
	(void)o;
	return sockopt_is_family(fi, AF_NETLINK);
}

struct diag_flags {
	uint64_t ino;
	uint32_t flags;
	int found;
};

static int match_flags(const struct nlmsghdr *h, void *arg)
{
	struct diag_flags *f = arg;
	size_t len;
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct netlink_diag_msg)))
		return -EBADMSG;
	if (((const struct netlink_diag_msg *)NLMSG_DATA(h))->ndiag_ino != f->ino)
		return 0;
	const uint32_t *fl = skdiag_attr(h, sizeof(struct netlink_diag_msg), NETLINK_DIAG_FLAGS, &len);
	f->flags = fl && len >= 4 ? *fl : 0;
	f->found = 1;
	return 1;
}

/* Refuses what cannot come back: queued messages, a pending error, a kernel dump under way. */
static int check_idle(struct dump_ctx *ctx, int fd, const Nsk *n)
{
	struct {
		struct nlmsghdr h;
		struct netlink_diag_req r;
	} req = { .r = { .sdiag_family = AF_NETLINK, .sdiag_protocol = (uint8_t)n->protocol,
			 .ndiag_ino = (uint32_t)n->ino, .ndiag_show = NDIAG_SHOW_FLAGS } };
	struct diag_flags f = { .ino = n->ino };
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = skdiag_dump(&req, sizeof(req), match_flags, &f);
	if (r < 0)
		return fe_set(ctx->err, -r, "sock_diag");
	if (f.found && (f.flags & NDIAG_FLAG_CB_RUNNING))
		return fe_msg(ctx->err, EOPNOTSUPP, "a dump the kernel is still sending is under way; not supported");
	if (poll(&p, 1, 0) == 1 && (p.revents & POLLERR))
		return fe_msg(ctx->err, EOPNOTSUPP, "an error (a lost message: ENOBUFS) is pending; not supported");
	if (p.revents & POLLIN)
		return fe_msg(ctx->err, EOPNOTSUPP, "messages wait in its receive queue, which cannot be read back; "
			      "not supported");
	return 0;
}

static int dump_groups(struct dump_ctx *ctx, int fd, Nsk *n)
{
	uint32_t bits[64] = { 0 };
	socklen_t len = sizeof(bits);
	if (getsockopt(fd, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, bits, &len) < 0)
		return fe_set(ctx->err, errno, "NETLINK_LIST_MEMBERSHIPS");
	if (len > sizeof(bits))
		return fe_msg(ctx->err, EOPNOTSUPP, "member of more than %zu groups", sizeof(bits) * 8);
	n->groups = ARENA_ARRAY(&ctx->arena, uint32_t, len * 8 + 1);
	if (!n->groups)
		return fe_set(ctx->err, ENOMEM, "groups");
	for (uint32_t g = 0; g < len * 8; g++)
		if (bits[g / 32] & (1U << (g % 32)))
			n->groups[n->n_groups++] = g + 1;
	return 0;
}

static int netlink_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	Nsk *n = ARENA_NEW(&ctx->arena, Nsk);
	struct sockaddr_nl sa;
	socklen_t l = sizeof(sa);
	int proto, type, r;
	(void)t;
	if (!n)
		return fe_set(ctx->err, ENOMEM, "socket entry");
	ferry__netlink_sk_entry__init(n);
	if (sockopt_get_int(fi->stolen, SOL_SOCKET, SO_PROTOCOL, &proto) < 0 || sockopt_get_int(fi->stolen, SOL_SOCKET, SO_TYPE, &type) < 0 ||
	    getsockname(fi->stolen, (struct sockaddr *)&sa, &l) < 0)
		return fe_set(ctx->err, errno, "netlink socket");
	n->has_ino = n->has_protocol = n->has_type = n->has_portid = 1;
	n->ino = fi->st.st_ino;
	n->protocol = (uint32_t)proto;
	n->type = (uint32_t)type;
	n->portid = sa.nl_pid;
	l = sizeof(sa);
	if (getpeername(fi->stolen, (struct sockaddr *)&sa, &l) == 0 && (sa.nl_pid || sa.nl_groups)) {
		n->has_dst_portid = n->has_dst_group = 1;
		n->dst_portid = sa.nl_pid;
		n->dst_group = sa.nl_groups;
	}
	if ((r = check_idle(ctx, fi->stolen, n)) < 0 || (r = dump_groups(ctx, fi->stolen, n)) < 0 ||
	    (r = sockopt_dump(&ctx->arena, fi->stolen, 0, &n->opts, &n->n_opts, ctx->err)) < 0)
		return fe_wrap(ctx->err, r, "netlink socket (protocol %d, port %u)", proto, n->portid);
	fe->netlink_sk = n;
	return 0;
}

static int setup(int fd, const Nsk *n, struct ferry_err *err)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_pid = n->portid };
	int r = sockopt_restore(fd, n->opts, n->n_opts, SKOPT_EARLY, err);
	if (r < 0)
		return r;
	if (n->portid && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return fe_set(err, errno, "bind to port %u", n->portid);
	for (size_t i = 0; i < n->n_groups; i++) {
		int g = (int)n->groups[i];
		if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof(g)) < 0)
			return fe_set(err, errno, "join group %d", g);
	}
	sa.nl_pid = n->dst_portid;
	sa.nl_groups = n->dst_group;
	if (n->has_dst_portid && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return fe_set(err, errno, "connect to port %u", n->dst_portid);
	return sockopt_restore(fd, n->opts, n->n_opts, SKOPT_ALL, err);
}

static int netlink_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	const Nsk *n = fe->netlink_sk;
	(void)ctx;
	if (!n || !n->has_protocol || !n->has_type)
		return fe_msg(err, EBADMSG, "files.img: netlink socket %u without its socket part", fe->id);
	int flags = SOCK_CLOEXEC | ((fe->flags & O_NONBLOCK) ? SOCK_NONBLOCK : 0);
	_cleanup_close_ int fd = socket(AF_NETLINK, (int)n->type | flags, (int)n->protocol);
	if (fd < 0)
		return fe_set(err, errno, "netlink socket (protocol %u)", n->protocol);
	int r = setup(fd, n, err);
	return r < 0 ? fe_wrap(err, r, "netlink socket (protocol %u, port %u)", n->protocol, n->portid) : TAKE_FD(fd);
}

const struct file_ops netlink_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_NETLINK_SK, .name = "netlink socket",
	.match = netlink_match, .dump = netlink_dump, .open = netlink_open,
};
