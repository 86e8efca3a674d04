/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the inet socket module's files: inet.c (match, dump, restore), inet-diag.c (what
 * NETLINK_SOCK_DIAG and /proc/net/igmp tell: shutdown state, queues, whether a closed TCP socket
 * still holds its port, multicast memberships) and inet-tcp.c (TCP sockets that are not
 * listening: never connected, closed or reset).
 */
#pragma once
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include "files/files.h"

typedef Ferry__InetSkEntry Sk;

union sa {
	struct sockaddr sa;
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
	struct sockaddr_storage ss;
};

/* What inet_diag tells about one socket. */
struct inet_diag_info {
	unsigned state, shutdown;
	uint32_t rqueue, wqueue;
};

/* Looks socket ino up in the sock_diag dump of (family, protocol): 1 found, 0 not, or -errno. */
int inet_diag_find(int family, int protocol, uint64_t ino, struct inet_diag_info *out);
/* The multicast groups socket fd joined, with their source filters, into sk->mcast. 0 or -errno. */
int inet_mcast_dump(struct arena *a, int fd, int family, Sk *sk);
/* Joins fd to sk's groups again; 0 or -errno with err naming the group. */
int inet_mcast_restore(int fd, int family, const Sk *sk, struct ferry_err *err);

/* Image fields <-> sockaddr. sa_split returns the port; sa_join -EBADMSG on a malformed address. */
unsigned sa_split(struct arena *a, const union sa *s, ProtobufCBinaryData *addr, uint32_t *scope);
int sa_join(int v6, const ProtobufCBinaryData *addr, unsigned port, uint32_t scope, union sa *s, socklen_t *len);
/* "addr:port" of the socket's own (peer 0) or peer's (peer 1) address, for messages. */
void inet_fmt(const Sk *sk, int peer, char *buf, size_t size);

/* TCP sockets in state CLOSE: dump (never connected, or a connection that ended) and restore. */
int inet_tcp_dump_closed(struct dump_ctx *ctx, int fd, const struct inet_diag_info *di, int found, Sk *sk);
int inet_tcp_open_closed(const Sk *sk, int sflags, struct ferry_err *err);
/* Binds fd to sk's address; TCP may take a port another socket holds (repair mode). 0 or -errno. */
int inet_bind(int fd, const Sk *sk, int force, struct ferry_err *err);
/*
 * Raw and ping sockets have no sock_diag here: their line in /proc/net/TABLE{,6} (raw, icmp) gives
 * the state (1: connected) and the peer (peer: 4 or 16 bytes). 1 found, 0 not, or -errno.
 */
int inet_procnet_peer(const char *table, int v6, uint64_t ino, unsigned *state, uint8_t *peer, unsigned *port);
/* --tcp-established (inet-repair.c): an established connection read and made again by TCP repair. */
int inet_repair_dump(struct dump_ctx *ctx, int fd, Sk *sk);
int inet_repair_open(int fd, const Sk *sk, struct ferry_err *err);
/* The inode of the TCP socket at the other end of sk's connection on this host (0 if none). */
uint64_t inet_diag_peer(const Sk *sk);
