/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Files root opens in directories others may reach (image and work directories, logs, pidfiles,
 * statistics): never through a symlink, never a FIFO or a device, never truncating a file that is
 * not ours alone, and never visible under its real name before it is whole (O_TMPFILE, linked at
 * commit; a killed run leaves nothing behind). All return an fd or 0, or -errno with err filled.
 */
#pragma once
#include <limits.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "common/error.h"

/*
 * Opens a directory ferry writes into. With create, a missing directory is made (mode 0700; its
 * parents 0755). Refused: a directory owned by another user or writable by its group or others,
 * and a symlink to it owned by another user (say why, and how to fix it).
 */
int safe_dir_open(const char *path, int create, struct ferry_err *err);
/* The same ownership and mode checks on an open directory; path names it in messages. */
int safe_dir_check(int dirfd, const char *path, struct ferry_err *err);

/*
 * Opens name (relative to dirfd, or a path with AT_FDCWD) for reading: not through a symlink,
 * and only a regular file (a FIFO or device is refused at once, never waited on). st may be NULL.
 */
int safe_open_read(int dirfd, const char *name, struct stat *st, struct ferry_err *err);

/*
 * Opens name for writing from its start, creating it with mode: not through a symlink, and only
 * a regular file with a single link that this user owns; truncated only once that is checked.
 * For logs, which are written as the operation goes.
 */
int safe_open_trunc(int dirfd, const char *name, mode_t mode, struct ferry_err *err);

/* A file being written, invisible until committed. */
struct safe_tmp {
	int fd;			/* -1 when none */
	int dirfd;		/* not owned */
	int named;		/* no O_TMPFILE here: an O_EXCL file under the random name tmp */
	char tmp[NAME_MAX + 1];
};

/* A new file in dirfd, mode 0600, with no name yet (for_name only shapes a fallback name). */
int safe_tmp_open(struct safe_tmp *t, int dirfd, const char *for_name, struct ferry_err *err);
/*
 * Publishes it as name, atomically replacing (never following) what is there, and closes it
 * (close checked). With sync the data is fsync'ed first. On failure the file is dropped.
 */
int safe_tmp_commit(struct safe_tmp *t, const char *name, int sync, struct ferry_err *err);
/* Drops it (nothing was ever visible unless the fallback name was). */
void safe_tmp_abort(struct safe_tmp *t);

/* Writes a whole small file at path atomically and safely (pidfile, statistics). */
int safe_write_path(const char *path, const void *buf, size_t len, mode_t mode, struct ferry_err *err);
