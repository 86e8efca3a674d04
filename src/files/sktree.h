/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Socket checks that need the whole tree dumped first (sktree.c): is a unix socket's peer, listener
 * or pending client in the image (held by a task, or in flight)? What is not is external: restored
 * by CRIU's --ext-unix-sk rules, or refused naming the socket, pid and fd. Connections a listener has
 * not accepted are read at the very end of the dump (by accepting them: only when the tree dies
after the dump), into unix-pending.img.
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

/*
 * Dump, its last step before the inventory (engine/dump.c): once every other image file is
 * durable, accepts the connections listeners have not accepted and writes what they hold into
 * unix-pending.img. Only when the tree dies after the dump (else refused by the sockets object).
 */
int sk_dump_pending(struct dump_ctx *ctx);
/*
 * The dump's end (r: its result): closes the descriptors kept from queues. A failed dump that had
 * accepted pending connections says so, naming each listener (pid, fd): r, wrapped.
 */
int sk_dump_end(struct dump_ctx *ctx, int r);

/* Restore: reads unix-pending.img, if any, and adds its files to files.img's (before validation). */
int sk_restore_read(struct restore_ctx *ctx);
void sk_restore_free(struct restore_ctx *ctx);
/* What connection index of listener held at dump, or NULL (not read). */
const Ferry__UnixPendingConn *sk_pending_conn(struct restore_ctx *ctx, uint64_t listener, size_t index);

extern const struct task_obj_ops sockets_obj;
