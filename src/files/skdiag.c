/* SPDX-License-Identifier: Apache-2.0 */
/* NETLINK_SOCK_DIAG dumps: one request, replies walked with bounds checks (skdiag.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/sock_diag.h>
#include "common/cleanup.h"
#include "files/skdiag.h"

#define DIAG_BUF 65536

/* One recv() of the dump: fn's non-zero value, 2 at its end, 0 to go on, or -errno. */
static int walk(int nl, char *buf, int (*fn)(const struct nlmsghdr *h, void *arg), void *arg)
{
	ssize_t n = recv(nl, buf, DIAG_BUF, 0);
	if (n < 0)
		return -errno;
	if (n == 0)
		return 2;
	for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == NLMSG_DONE)
			return 2;
		if (h->nlmsg_type == NLMSG_ERROR)
			return ((const struct nlmsgerr *)NLMSG_DATA(h))->error ?: -EIO;
		int r = fn(h, arg);
		if (r)
			return r;
	}
	return 0;
}

int skdiag_dump(void *req, size_t len, int (*fn)(const struct nlmsghdr *h, void *arg), void *arg)
{
	struct nlmsghdr *h = req;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	_cleanup_close_ int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	_cleanup_free_ char *buf = malloc(DIAG_BUF);
	if (nl < 0 || !buf)
		return nl < 0 ? -errno : -ENOMEM;
	h->nlmsg_len = (uint32_t)len;
	h->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	h->nlmsg_seq = 1;
	if (sendto(nl, req, len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	int r;
	while ((r = walk(nl, buf, fn, arg)) == 0)
		;
	return r == 2 ? 0 : r;
}

const void *skdiag_attr(const struct nlmsghdr *h, size_t hdrlen, int type, size_t *len)
{
	if (h->nlmsg_len < NLMSG_LENGTH(hdrlen))
		return NULL;
	const char *p = (const char *)NLMSG_DATA(h) + NLMSG_ALIGN(hdrlen), *end = (const char *)h + h->nlmsg_len;
	while (end - p >= (long)NLA_HDRLEN) {
		const struct nlattr *a = (const struct nlattr *)p;
		if (a->nla_len < NLA_HDRLEN || a->nla_len > end - p)
			return NULL;
		if ((a->nla_type & NLA_TYPE_MASK) == type) {
			*len = a->nla_len - NLA_HDRLEN;
			return p + NLA_HDRLEN;
		}
		p += NLA_ALIGN(a->nla_len);
	}
	return NULL;
}
