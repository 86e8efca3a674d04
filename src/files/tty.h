/* SPDX-License-Identifier: Apache-2.0 */
/* What the pty module (tty.c) and the controlling-terminal module (ctty.c) share. */
#pragma once
#include <sys/sysmacros.h>
#include <sys/types.h>
#include "engine/context.h"

static inline int tty_is_ptmx(dev_t rdev)
{
	return major(rdev) == 5 && minor(rdev) == 2;
}

/* Unix98 slaves: major 136 with 20-bit minors on current kernels (137-143 on old ones). */
static inline int tty_is_pts(dev_t rdev)
{
	return major(rdev) >= 136 && major(rdev) <= 143;
}

static inline int tty_pts_index(dev_t rdev)
{
	return (int)((major(rdev) - 136) * 256 + minor(rdev));
}

static inline dev_t tty_pts_rdev(int index)
{
	return makedev(136, index);
}

/* Whether a live task of the tree holds the master (want_master) or a slave of pts index. */
int tty_tree_holds(struct dump_ctx *ctx, int index, int want_master);
/* The master entry of pts index in the image, or NULL. */
const Ferry__FileEntry *tty_master_entry(const Ferry__Files *files, uint32_t index);
/* Whether some session leader of the image has pts index as its controlling terminal. */
int tty_is_ctty(const struct restore_ctx *ctx, uint32_t index);
/* ferry's slave of pts index kept for controlling terminals (-1 if none). */
int tty_ctty_slave(struct restore_ctx *ctx, uint32_t index);
int tty_keep_ctty_slave(struct restore_ctx *ctx, uint32_t index, int slave);
