/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Socket checks that need the whole tree dumped first (sktree.c): is a unix socket's peer, listener
 * or pending client in the image (held by a task, or in flight)? What is not is external: restored
 * by CRIU's --ext-unix-sk rules, or refused naming the socket, pid and fd. Connections a listener has
 * not accepted are read then (by accepting them: only when the tree dies after the dump).
 */
#pragma once
#include "files/files.h"

/*
 * Registers a dumped unix socket (where it came from, for messages); unread: a listener whose
 * pending connections hold data to read once all is dumped. 0 or -errno.
 */
int sk_note(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe, int unread);

/* Is socket ino in some dumped task's descriptor table? */
int sk_tree_holds(struct dump_ctx *ctx, uint64_t ino);

extern const struct task_obj_ops sockets_obj;
