/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the unix socket module's files: unix.c (match, dump), unix-diag.c (NETLINK_SOCK_DIAG
 * queries), unix-queue.c (receive queues: peeking them with senders, credentials and descriptors in
 * flight, and sending them again), unix-helper.c (doing a socket call as another pid with other
 * credentials, or where a removed path still leads) and unix-restore.c (recreating every socket).
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

typedef Ferry__UnixSkEntry Usk;

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

/* "path", "@abstract" or "unnamed" for messages; buf must hold 2 * 108 bytes. */
const char *ux_name_str(const uint8_t *name, size_t len, char *buf, size_t size);
/* "unix socket INO (NAME)" for messages. */
const char *ux_str(const Usk *u, char *buf, size_t size);

/* SO_PEERCRED and SO_PEERGROUPS of sk: who connected, listened or made the pair (NULL: nobody). */
int ux_dump_cred(struct dump_ctx *ctx, int sk, Ferry__UnixCred **out);

/* ---- queues (unix-queue.c) */

/*
 * Peeks every message (or run of stream bytes) waiting in sk's receive queue, from offset 0 (the
 * task's peek offset is put back), with senders, credentials (SO_PASSCRED on for the moment) and
 * descriptors in flight (dumped through files_dump_held in task t's name). 0 or -errno with
 * ctx->err set; -EOPNOTSUPP for what cannot be carried (an out-of-band byte).
 */
int uq_peek(struct dump_ctx *ctx, struct dtask *t, int sk, int type, Ferry__UnixMsg ***msgs, size_t *n, int *reset);

struct ux_world;
/*
 * Sends msgs from writer (connected to the receiver, or to=its address with tolen, which leads to
 * it in mount namespace ns, -1: ferry's), each with its credentials and descriptors; for a stream
 * the receiver's queue then holds the same bytes in the same runs. 0 or -errno with err set.
 */
int uq_send(struct ux_world *w, Ferry__UnixMsg *const *msgs, size_t n, int writer, int type,
	    const struct sockaddr_un *to, socklen_t tolen, int ns, struct ferry_err *err);

/* ---- running a socket call as someone else (unix-helper.c) */

struct ux_op {
	enum { UXOP_SOCKETPAIR, UXOP_CONNECT, UXOP_LISTEN, UXOP_BIND, UXOP_SENDMSG } kind;
	int fd, type, backlog;
	struct sockaddr_un addr;
	socklen_t alen;
	const char *cwd;		/* relative names resolve from here */
	struct msghdr *msg;		/* UXOP_SENDMSG */
	int out[2];			/* UXOP_SOCKETPAIR: the new descriptors */
};

/*
 * Runs op as process pid with euid/egid/groups of cred (NULL: as ferry), in mount namespace ns
 * (-1: ferry's), sharing ferry's descriptor table. A socket's SO_PEERCRED records who connected,
 * listened or made the pair; SCM_CREDENTIALS names a pid that must exist when it is sent. When pid
 * is taken by another process, or is ferry's, the call runs in ferry. 0 or -errno.
 */
int uxh_run(const Ferry__UnixCred *cred, int ns, struct ux_op *op);
/*
 * Binds fd to its path where no path leads: in a mount namespace of its own, on a tmpfs over the
 * file's directory (or its nearest existing parent); a relative name from cwd. Returns that
 * namespace's fd (calls that must reach the socket by name run there), or -errno.
 */
int uxh_bind_hidden(int fd, const struct sockaddr_un *sa, socklen_t len, const char *cwd);
/* Keeps pid existing (a process waiting) until uxh_release_pid; 0, or -errno when it cannot. */
int uxh_hold_pid(pid_t pid);
void uxh_release_pids(void);

/* ---- restore (unix-restore.c) */
int unix_sk_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err);
/* A unix socket of the image being restored, by inode: ferry's fd for it (-1 if not made). */
int ux_world_fd(struct ux_world *w, uint64_t ino);
struct restore_ctx *ux_world_ctx(struct ux_world *w);
