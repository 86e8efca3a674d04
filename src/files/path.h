/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Files reached by path: regular files, directories, O_PATH descriptors, device nodes and FIFOs,
 * and the working and root directories. reg.c resolves a path at dump (is it still this inode?
 * through which mount?) and checks it again at restore; ghost.c makes inodes that were removed
 * while open again, under their old names, and removes those names again.
 */
#pragma once
#include <stdint.h>
#include "files/files.h"

/* The kernel's O_TMPFILE bit: glibc's O_TMPFILE is this and O_DIRECTORY, both kept in the flags. */
#define K_O_TMPFILE 020000000

/*
 * Dump: fills fe->path (without " (deleted)"), fe->reg (inode, owner, mount), fe->mode/ino and,
 * for an inode removed while open, fe->deleted and what restore needs to make it again (ghost.c).
 * Refuses a file whose path no longer leads to it or whose mount is gone. Errors name the file.
 */
int path_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe);

/*
 * Restore: a new open file description for fe with flags (open(2) flags; 0: fe's own), by its
 * path after checking that the path still names the dumped file (refused otherwise unless
 * --allow-changed-files), or the removed inode made again. Positioned at fe->pos.
 */
int path_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, int flags, struct ferry_err *err);

/*
 * A file whose path is longer than PATH_MAX (reading the link proc, /proc/PID/...: ENAMETOOLONG):
 * refused, named as well as can be (what: "fd 3", "working directory"). Returns -ENAMETOOLONG.
 */
int path_refuse_long(struct dump_ctx *ctx, struct dtask *t, const char *proc, const char *what);

/* The flags to reopen fe with (open(2)'s, O_TMPFILE taken out). */
int path_open_flags(const Ferry__FileEntry *fe);
/* Whether this restore runs on the boot the dump was made in (inode numbers compare). */
int path_same_boot(struct restore_ctx *ctx);
/*
 * Does st (what path names now) look like the file fe dumped: same type always; same inode on
 * the same boot, size and mode unless --allow-changed-files. Messages name path.
 */
int path_check(struct restore_ctx *ctx, const Ferry__FileEntry *fe, const char *path, const struct stat *st,
	       struct ferry_err *err);

/* ---------------------------------------------------------------- ghost.c */

/* Dump: what makes the removed inode of fe again (content, a name still linking it, target...). */
int ghost_dump(struct dump_ctx *ctx, const struct fd_info *fi, Ferry__FileEntry *fe);
/* Restore: fe's own descriptor on its removed inode, made again with every entry sharing it. */
int ghost_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, int flags, struct ferry_err *err);
/* A failed dump: removes the hidden links it made. */
void ghost_dump_abort(struct dump_ctx *ctx);
/* The end of a restore: on success the hidden links of --link-remap go; then frees the state. */
void ghost_restore_finish(struct restore_ctx *ctx, int ok);

/* The fs object (files/fs.c): working and root directories, as entries of files.img. */
extern const struct task_obj_ops fs_obj;

/* Per-dump state (arena-allocated): the mount ids of the namespace looked at last, hidden links made. */
struct path_dump {
	uint64_t mnt_ns;
	uint64_t *mnt_ids;
	size_t n_mnt_ids;
	char **remaps;
	size_t n_remaps, cap_remaps;
};

/* Per-restore state (malloc'd, freed by ghost_restore_finish). */
struct path_restore {
	int same_boot;		/* -1: not read yet */
	char **remaps;		/* hidden links to remove once the restore succeeded */
	size_t n_remaps;
	unsigned seq;		/* temporary names */
};

/* The state, created on first use (NULL only when out of memory). */
struct path_dump *path_dump_state(struct dump_ctx *ctx);
struct path_restore *path_restore_state(struct restore_ctx *ctx);
