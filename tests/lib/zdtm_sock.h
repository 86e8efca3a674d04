// SPDX-License-Identifier: Apache-2.0
// zdtm socket helpers (header only): a snapshot of everything getsockopt() reads back from a socket
// — every option of every level its family has, read by number so that options the test never set
// are compared too — taken before the dump and compared after the restore.
#ifndef FERRY_TESTS_ZDTM_SOCK_H
#define FERRY_TESTS_ZDTM_SOCK_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/filter.h>
#include "zdtm.h"

#define ZS_MAXOPT 512
#define ZS_VAL 64

struct zs_opt {
	int level, name;
	int err;			/* getsockopt's errno, 0 when it answered */
	socklen_t len;
	unsigned char val[ZS_VAL];
};

struct zs_snap {
	int n;
	struct zs_opt o[ZS_MAXOPT];
	struct sock_filter filter[64];	/* SO_GET_FILTER */
	socklen_t nfilter;
};

/* Options whose value changes by itself, or whose reading changes the socket. */
static inline int zs_skip(int level, int name)
{
	if (level == SOL_SOCKET)
		return name == 4 /* SO_ERROR */ || name == 26 /* SO_GET_FILTER: compared apart */ ||
		       name == 55 /* SO_MEMINFO */ || name == 56 /* SO_INCOMING_NAPI_ID */ ||
		       name == 57 /* SO_COOKIE */ || name == 49 /* SO_INCOMING_CPU */ ||
		       name == 17 || name == 59 || name == 31 /* SO_PEERCRED/GROUPS/SEC: compared apart */ ||
		       name == 77 /* SO_PEERPIDFD */ || name == 71 /* SO_NETNS_COOKIE */;
	if (level == 6 /* TCP */)
		return name == 11 /* TCP_INFO */ || name == 24 /* TCP_TIMESTAMP */ || name == 26 /* CC_INFO */ ||
		       name == 28 /* SAVED_SYN */ || name == 35 /* ZEROCOPY_RECEIVE */ || name == 29 ||
		       name == 42 /* TCP_AO_INFO */ || name == 43 || name == 38 || name == 39 || name == 40;
	if (level == 0 /* IP */)
		return name == 14 /* IP_MTU: the route's */ || name == 9 /* PKTOPTIONS */ || name == 48;
	if (level == 41 /* IPV6 */)
		return name == 24 /* IPV6_MTU */ || name == 6 /* 2292PKTOPTIONS */ || name == 61 /* PATHMTU */ ||
		       name == 48;
	return 0;
}

/* Reads every option 0..name_max of each level that applies; what fails is recorded as its errno. */
static inline void zs_take(int fd, struct zs_snap *s)
{
	static const int levels[][2] = { { SOL_SOCKET, 80 }, { 0, 60 }, { 41, 80 }, { 6, 48 }, { 17, 110 },
					 { 136, 12 }, { 255, 4 }, { 58, 4 }, { 270, 16 }, { 263, 30 } };
	memset(s, 0, sizeof(*s));
	for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++) {
		for (int name = 0; name <= levels[l][1] && s->n < ZS_MAXOPT; name++) {
			if (zs_skip(levels[l][0], name))
				continue;
			struct zs_opt *o = &s->o[s->n++];
			o->level = levels[l][0];
			o->name = name;
			o->len = ZS_VAL;
			o->err = getsockopt(fd, o->level, name, o->val, &o->len) < 0 ? errno : 0;
			if (o->err)
				o->len = 0;
		}
	}
	s->nfilter = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, NULL, &s->nfilter) == 0 && s->nfilter && s->nfilter <= 64)
		getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, s->filter, &s->nfilter);
}

/* Compares fd with the snapshot; each difference is a failure naming what (and the option). */
static inline int zs_compare(int fd, const struct zs_snap *before, const char *what)
{
	static struct zs_snap now;
	int bad = 0;
	zs_take(fd, &now);
	for (int i = 0; i < before->n && i < now.n; i++) {
		const struct zs_opt *a = &before->o[i], *b = &now.o[i];
		if (a->err == b->err && a->len == b->len && !memcmp(a->val, b->val, a->len))
			continue;
		zdtm_fail("%s: option %d/%d reads back %s%d (%u bytes: %02x%02x%02x%02x) before, %s%d (%u bytes: %02x%02x%02x%02x) after",
			  what, a->level, a->name, a->err ? "errno " : "", a->err ? a->err : 0, a->len, a->val[0], a->val[1],
			  a->val[2], a->val[3], b->err ? "errno " : "", b->err ? b->err : 0, b->len, b->val[0], b->val[1],
			  b->val[2], b->val[3]);
		bad++;
	}
	if (before->nfilter != now.nfilter || memcmp(before->filter, now.filter, now.nfilter * sizeof(now.filter[0]))) {
		zdtm_fail("%s: socket filter of %u instructions before, %u after", what, before->nfilter, now.nfilter);
		bad++;
	}
	return bad;
}

#endif
