/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Character devices reopened by path (/dev/null, /dev/zero, /dev/urandom…), and terminals:
 * with --shell-job a terminal the task shares with its caller becomes the restorer's terminal;
 * without it, a terminal is refused with a hint.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#define LOG_PREFIX "chr: "
#include "common/log.h"
#include "files/files.h"
#include "files/path.h"

static int is_tty_dev(dev_t rdev)
{
	unsigned maj = major(rdev), min = minor(rdev);
	return (maj >= 136 && maj <= 143) || maj == 4 || (maj == 5 && min <= 2);
}

static int chr_match(const struct fd_info *fi, const struct dump_opts *o)
{
	return S_ISCHR(fi->st.st_mode) && !is_tty_dev(fi->st.st_rdev) && fi->link[0] == '/';
}

static int chr_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	fe->has_rdev = 1;
	fe->rdev = fi->st.st_rdev;
	return path_dump(ctx, t, fi, fe);	/* the path; a removed node is made again (files/ghost.c) */
}

static int chr_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	struct stat st;
	if (fe->deleted)
		return path_open(ctx, fe, 0, err);
	if (stat(fe->path, &st) < 0)
		return fe_set(err, errno, "device %s", fe->path);
	if (!S_ISCHR(st.st_mode) || (fe->has_rdev && st.st_rdev != fe->rdev))
		return fe_msg(err, ENODEV, "%s is no longer the device it was (%u:%u)", fe->path,
			      major(fe->rdev), minor(fe->rdev));
	int fd = open(fe->path, files_open_flags(fe->flags));
	return fd < 0 ? fe_set(err, errno, "open %s", fe->path) : fd;
}

static int tty_match(const struct fd_info *fi, const struct dump_opts *o)
{
	return S_ISCHR(fi->st.st_mode) && is_tty_dev(fi->st.st_rdev);
}

static int tty_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	if (!ctx->opts->shell_job)
		return fe_msg(ctx->err, EOPNOTSUPP, "a terminal: dump with --shell-job to hand it over to the restorer's terminal");
	fe->path = arena_strdup(&ctx->arena, fi->link);
	fe->has_rdev = 1;
	fe->rdev = fi->st.st_rdev;
	return 0;
}

static int tty_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	if (!ctx->opts->shell_job || ctx->tty_fd < 0)
		return fe_msg(err, ENOTTY, "the image holds a terminal (%s): restore with --shell-job from a terminal",
			      fe->path ? fe->path : "tty");
	int fd = dup(ctx->tty_fd);
	if (fd < 0)
		return fe_set(err, errno, "dup the terminal");
	return fd;
}

const struct file_ops chr_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_CHR, .name = "character device",
	.match = chr_match, .dump = chr_dump, .open = chr_open,
};

const struct file_ops tty_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_TTY, .name = "terminal",
	.match = tty_match, .dump = tty_dump, .open = tty_open,
};
