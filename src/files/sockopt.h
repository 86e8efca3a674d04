/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Socket options, for every socket module: what a program can read back with getsockopt() —
 * SOL_SOCKET (buffers, timeouts, linger, filter, device, marks, timestamps…), IP, IPv6, TCP, UDP,
 * UDP-lite, raw, netlink and packet options — saved as getsockopt() returned them and set again
 * where a new socket differs. A table in sockopt.c says which options exist and when they go in.
 */
#pragma once
#include <stddef.h>
#include "common/arena.h"
#include "common/error.h"
#include "image/image.h"

enum sockopt_phase {
	SKOPT_EARLY,	/* before bind/connect: reuse, device, freebind, v6only, buffers, mss… */
	SKOPT_ALL,	/* once the socket is bound, connected and its queue refilled: every option */
};

#define SKOPT_NO_CONN 1	/* a connection that will not come back: skip what it set (mss, clamp…) */
/*
 * Reads every option of fd that its kind has into *opts (allocated in a). A state that cannot be
 * carried (an eBPF filter) is refused: -EOPNOTSUPP with err naming it.
 */
int sockopt_dump(struct arena *a, int fd, int flags, Ferry__SockOpt ***opts, size_t *n, struct ferry_err *err);
/* Sets the saved options of this phase where fd differs; 0 or -errno with err naming the option. */
int sockopt_restore(int fd, Ferry__SockOpt *const *opts, size_t n, enum sockopt_phase phase,
		    struct ferry_err *err);
/* The saved value of (level, name) as an int; def when it was not saved. */
int sockopt_int(Ferry__SockOpt *const *opts, size_t n, int level, int name, int def);
/* A socket's buffer size as getsockopt reports it (doubled): forced as root, else asked. */
void sockopt_set_buf(int fd, int name, int reported);

/* getsockopt of an int; 0 or -errno. */
int sockopt_get_int(int fd, int level, int name, int *val);
/* A socket fd of family (match() of the socket modules). */
struct fd_info;
int sockopt_is_family(const struct fd_info *fi, int family);
