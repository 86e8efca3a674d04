/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NETLINK_SOCK_DIAG dumps, for every socket module (inet, netlink, packet): send one request, walk
 * the replies with bounds checks, find an attribute.
 */
#pragma once
#include <linux/netlink.h>
#include <stddef.h>

/*
 * Sends req (a SOCK_DIAG_BY_FAMILY dump request of len bytes, header included) and calls fn for
 * each reply until fn returns non-zero. Returns fn's last value, 0 at the end, or -errno.
 */
int skdiag_dump(void *req, size_t len, int (*fn)(const struct nlmsghdr *h, void *arg), void *arg);
/* The payload of attribute type after a hdrlen-byte message header (NULL if absent); *len its size. */
const void *skdiag_attr(const struct nlmsghdr *h, size_t hdrlen, int type, size_t *len);
