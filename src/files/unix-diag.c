/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NETLINK_SOCK_DIAG for unix sockets: the peer's inode, queue lengths, shutdown state and the
 * pending connections of listeners — what getsockopt() cannot tell. A raw netlink socket; the
 * replies are parsed with bounds checks on every attribute.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include "common/cleanup.h"
#include "files/unix-internal.h"

#define SHOW_ALL (UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS | \
		  UDIAG_SHOW_RQLEN)

static int diag_send(int nl, uint32_t ino, uint32_t states, int dump)
{
	struct {
		struct nlmsghdr h;
		struct unix_diag_req r;
	} req = {
		.h = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
		       .nlmsg_flags = NLM_F_REQUEST | (dump ? NLM_F_DUMP : 0), .nlmsg_seq = 1 },
		.r = { .sdiag_family = AF_UNIX, .udiag_states = states, .udiag_ino = ino,
		       .udiag_show = SHOW_ALL, .udiag_cookie = { ~0U, ~0U } },
	};
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	if (sendto(nl, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return 0;
}

static int parse_attr(struct ux_diag *d, const struct nlattr *a)
{
	const void *p = (const char *)a + NLA_HDRLEN;
	size_t len = a->nla_len - NLA_HDRLEN;
	switch (a->nla_type) {
	case UNIX_DIAG_NAME:
		if (len > sizeof(d->name))
			return -EBADMSG;
		memcpy(d->name, p, len);
		d->namelen = len;
		break;
	case UNIX_DIAG_VFS:
		if (len >= sizeof(struct unix_diag_vfs)) {
			d->vfs_ino = ((const struct unix_diag_vfs *)p)->udiag_vfs_ino;
			d->vfs_dev = ((const struct unix_diag_vfs *)p)->udiag_vfs_dev;
		}
		break;
	case UNIX_DIAG_PEER:
		if (len >= 4)
			memcpy(&d->peer, p, 4);
		break;
	case UNIX_DIAG_ICONS:
		free(d->icons);
		d->nicons = len / 4;
		d->icons = malloc(len + 4);
		if (!d->icons)
			return -ENOMEM;
		memcpy(d->icons, p, d->nicons * 4);
		break;
	case UNIX_DIAG_RQLEN:
		if (len >= sizeof(struct unix_diag_rqlen)) {
			d->rqueue = ((const struct unix_diag_rqlen *)p)->udiag_rqueue;
			d->wqueue = ((const struct unix_diag_rqlen *)p)->udiag_wqueue;
		}
		break;
	case UNIX_DIAG_SHUTDOWN:
		if (len >= 1)
			d->shutdown = *(const uint8_t *)p;
		break;
	}
	return 0;
}

static int parse_msg(const struct nlmsghdr *h, struct ux_diag *d)
{
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
		return -EBADMSG;
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	memset(d, 0, sizeof(*d));
	d->ino = m->udiag_ino;
	d->type = m->udiag_type;
	d->state = m->udiag_state;
	const char *p = (const char *)(m + 1), *end = (const char *)h + h->nlmsg_len;
	while (end - p >= (long)NLA_HDRLEN) {
		const struct nlattr *a = (const struct nlattr *)p;
		if (a->nla_len < NLA_HDRLEN || a->nla_len > end - p)
			return -EBADMSG;
		int r = parse_attr(d, a);
		if (r < 0)
			return r;
		p += NLA_ALIGN(a->nla_len);
	}
	return 0;
}

static int open_diag(void)
{
	int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	return nl < 0 ? -errno : nl;
}

int ux_diag_get(uint32_t ino, struct ux_diag *d)
{
	_cleanup_close_ int nl = open_diag();
	if (nl < 0)
		return nl;
	int r = diag_send(nl, ino, ~0U, 0);
	if (r < 0)
		return r;
	_cleanup_free_ char *buf = malloc(65536);
	if (!buf)
		return -ENOMEM;
	ssize_t n = recv(nl, buf, 65536, 0);
	if (n < 0)
		return -errno;
	const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
	if (!NLMSG_OK(h, n))
		return -EBADMSG;
	if (h->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(h);
		return e->error ? e->error : -ENOENT;
	}
	r = parse_msg(h, d);
	if (r == 0 && d->ino != ino)
		r = -ENOENT;
	return r;
}

void ux_diag_free(struct ux_diag *d)
{
	free(d->icons);
	d->icons = NULL;
	d->nicons = 0;
}

static void check_listener(struct ux_diag *d, uint32_t client, const char *name, size_t len,
			   uint32_t type, uint32_t *listener, uint32_t *named)
{
	for (size_t i = 0; client && i < d->nicons; i++)
		if (d->icons[i] == client)
			*listener = d->ino;
	if (len && d->type == type && d->namelen == len && memcmp(d->name, name, len) == 0)
		*named = d->ino;
}

/* One recv() of a dump; 1 when the dump is over. */
static int walk_batch(int nl, char *buf, size_t size, uint32_t client, const char *name, size_t len,
		      uint32_t type, uint32_t *listener, uint32_t *named)
{
	ssize_t n = recv(nl, buf, size, 0);
	if (n < 0)
		return -errno;
	for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == NLMSG_DONE)
			return 1;
		if (h->nlmsg_type == NLMSG_ERROR)
			return ((const struct nlmsgerr *)NLMSG_DATA(h))->error ?: -EIO;
		struct ux_diag d;
		int r = parse_msg(h, &d);
		if (r == 0)
			check_listener(&d, client, name, len, type, listener, named);
		ux_diag_free(&d);
		if (r < 0)
			return r;
	}
	return n == 0;
}

int ux_diag_listeners(uint32_t client, const char *name, size_t len, uint32_t type,
		      uint32_t *listener, uint32_t *named)
{
	*listener = *named = 0;
	_cleanup_close_ int nl = open_diag();
	if (nl < 0)
		return nl;
	int r = diag_send(nl, 0, 1U << UX_LISTEN, 1);
	_cleanup_free_ char *buf = malloc(65536);
	if (!buf)
		return -ENOMEM;
	while (r == 0)
		r = walk_batch(nl, buf, 65536, client, name, len, type, listener, named);
	return r < 0 ? r : 0;
}
