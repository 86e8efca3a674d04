/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Files and the descriptor table. Each kind of file is a module with an ops table (reg.c: regular
 * files, directories and files deleted while open; chr.c: character devices and the caller's
 * terminal). files.c walks /proc/PID/fd, asks each module whether the fd is its kind, keeps
 * descriptors that share one open file description together, and rebuilds the table at restore.
 */
#pragma once
#include <sys/stat.h>
#include "engine/context.h"

struct fd_info {
	int fd;
	const char *link;	/* readlink of /proc/PID/fd/N */
	struct stat st;		/* stat of the open file */
	uint64_t pos;
	uint32_t flags;		/* fdinfo flags, O_CLOEXEC removed */
	int cloexec;
};

struct file_ops {
	Ferry__FileKind kind;
	const char *name;
	int (*match)(const struct fd_info *fi, const struct dump_opts *o);
	/* Fills fe (path, flags, pos…) and saves whatever content must travel (ghost files). */
	int (*dump)(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe);
	/* In the new task: opens the file as it was and returns the descriptor (any number). */
	int (*open)(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err);
};

extern const struct file_ops reg_file_ops, dir_file_ops, chr_file_ops, tty_file_ops;
extern const struct task_obj_ops files_obj;

/* Validates the file table of an image. */
int files_validate(const Ferry__Files *files, struct ferry_err *err);
/* Highest descriptor number the task had (-1 when none). */
int files_max_fd(const Ferry__FdTable *fds);
/* Strips flags that must not be replayed by open(2). */
int files_open_flags(uint32_t flags);
