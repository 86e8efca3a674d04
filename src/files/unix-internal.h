/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the unix socket module's files: unix.c (match, dump), unix-diag.c (NETLINK_SOCK_DIAG
 * queries) and unix-restore.c (recreating sockets, pairs, listeners and their queues in ferry).
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "files/files.h"

#define UX_ESTABLISHED 1	/* the kernel's TCP_ESTABLISHED, TCP_CLOSE and TCP_LISTEN */
#define UX_CLOSE 7
#define UX_LISTEN 10
#define UX_SHUT_RCV 1
#define UX_SHUT_SEND 2

/* What sock_diag tells about one unix socket. */
struct ux_diag {
	uint32_t ino, type, state;
	uint32_t peer;			/* 0: none, closed, or a connection not accepted yet */
	uint32_t rqueue, wqueue;	/* listener: queued connections and backlog */
	uint32_t shutdown;
	uint32_t vfs_ino, vfs_dev;	/* bound path: the socket file */
	char name[sizeof(((struct sockaddr_un *)0)->sun_path)];
	size_t namelen;			/* 0: unbound */
	uint32_t *icons;		/* listener: client ends of pending connections (malloc'd) */
	size_t nicons;
};

/* Queries one socket by inode; 0, -ENOENT when the kernel does not know it, or -errno. */
int ux_diag_get(uint32_t ino, struct ux_diag *d);
void ux_diag_free(struct ux_diag *d);
/*
 * Walks every listening unix socket of ferry's network namespace: *listener is set to the one
 * whose pending connections include client ino (0 if none), *named to one bound to the same
 * name as (name, len) and of this type (0 if none). 0 or -errno.
 */
int ux_diag_listeners(uint32_t client, const char *name, size_t len, uint32_t type,
		      uint32_t *listener, uint32_t *named);

/* Restore: the module's open(). */
int unix_sk_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err);

/* "path", "@abstract" or "unnamed" for messages; buf must hold 2 * 108 bytes. */
const char *ux_name_str(const uint8_t *name, size_t len, char *buf, size_t size);
