/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Character devices reopened by path (/dev/null, /dev/urandom, a vt, /dev/console, a serial
 * line…; terminals with O_NOCTTY: a session leader's terminal is ctty.c's), /dev/tty (opened again
 * inside the task, where it names the task's own controlling terminal), and the caller's terminal:
 * with --shell-job a pty slave whose master is outside the tree becomes the restorer's terminal;
 * without it, it is refused with a hint (tty.c hands those over).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>
#define LOG_PREFIX "chr: "
#include "common/log.h"
#include "files/files.h"
#include "files/path.h"
#include "files/tty.h"

static int is_dev_tty(dev_t rdev)
{
	return major(rdev) == 5 && minor(rdev) == 0;
}

static int chr_match(const struct fd_info *fi, const struct dump_opts *o)
{
	dev_t rdev = fi->st.st_rdev;
	return S_ISCHR(fi->st.st_mode) && fi->link[0] == '/' && !tty_is_pts(rdev) && !tty_is_ptmx(rdev) &&
	       !is_dev_tty(rdev);
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
	if (fe->deleted)	/* made again (files/ghost.c), opened with O_NOCTTY like any device */
		return path_open(ctx, fe, 0, err);
	if (stat(fe->path, &st) < 0)
		return fe_set(err, errno, "device %s", fe->path);
	if (!S_ISCHR(st.st_mode) || (fe->has_rdev && st.st_rdev != fe->rdev))
		return fe_msg(err, ENODEV, "%s is no longer the device it was (%u:%u)", fe->path,
			      major(fe->rdev), minor(fe->rdev));
	int fd = open(fe->path, files_open_flags(fe->flags) | O_NOCTTY);
	return fd < 0 ? fe_set(err, errno, "open %s", fe->path) : fd;
}

/* Only tty.c hands a terminal over (a pty slave whose master is outside the tree). */
static int tty_match(const struct fd_info *fi, const struct dump_opts *o)
{
	return 0;
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

static int ctty_match(const struct fd_info *fi, const struct dump_opts *o)
{
	return S_ISCHR(fi->st.st_mode) && is_dev_tty(fi->st.st_rdev) && fi->link[0] == '/';
}

/* In the task: its controlling terminal is restored before its files (ctty.c). */
static int ctty_open_task(struct restore_ctx *ctx, struct rtask *t, const Ferry__FileEntry *fe, long *remote)
{
	struct injector *inj = &t->threads[0].inj;
	size_t len = fe->path ? strlen(fe->path) + 1 : 0;
	uint64_t at = len && len < 1024 ? inj_scratch_put(inj, 1024, fe->path, len) : 0;
	if (!at)
		return fe_msg(ctx->err, EBADMSG, "files.img: /dev/tty file %u has a bad path", fe->id);
	int r = RINJ(ctx, inj, remote, "open its controlling terminal", SYS_open, at,
		     (files_open_flags(fe->flags) & ~(O_APPEND | O_NONBLOCK)) | O_NOCTTY | O_CLOEXEC);
	return r < 0 ? fe_wrap(ctx->err, r, "%s", fe->path) : 0;
}

/*
 * /dev/tty names the terminal the opener had then; restore opens it again for the one the task
 * has, so a task that has none any more (or a hung-up one) is refused.
 */
static int ctty_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	dev_t tty = 0;
	int tpgid;
	struct termios tio;
	if (strstr(fi->link, " (deleted)"))	/* reopened by name inside the task: a removed node cannot be */
		return fe_msg(ctx->err, EOPNOTSUPP, "%s: a /dev/tty node that was removed is not supported (it is opened "
			      "again by its name inside the task)", fi->link);
	if (tty_read_ctty(t->pid, &tty, &tpgid) < 0 || !tty)
		return fe_msg(ctx->err, EOPNOTSUPP, "/dev/tty opened for a controlling terminal the task no longer has: "
			      "not supported");
	if (tcgetattr(fi->stolen, &tio) < 0 && errno == EIO)
		return fe_msg(ctx->err, EOPNOTSUPP, "/dev/tty of a terminal that was hung up: not supported");
	unsigned int dev = 0;
	if (ioctl(fi->stolen, TIOCGDEV, &dev) == 0 && (dev_t)dev != tty)
		return fe_msg(ctx->err, EOPNOTSUPP, "/dev/tty opened for terminal %u:%u, while the task's controlling "
			      "terminal is %u:%u now: not supported", major(dev), minor(dev), major(tty), minor(tty));
	fe->has_rdev = 1;
	fe->rdev = fi->st.st_rdev;
	fe->path = arena_strdup(&ctx->arena, fi->link);
	return fe->path ? 0 : fe_set(ctx->err, ENOMEM, "file entry");
}

const struct file_ops ctty_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_CTTY, .name = "controlling terminal (/dev/tty)",
	.match = ctty_match, .dump = ctty_dump, .open_task = ctty_open_task,
};

const struct file_ops chr_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_CHR, .name = "character device",
	.match = chr_match, .dump = chr_dump, .open = chr_open,
};

const struct file_ops tty_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_TTY, .name = "terminal", .callers = 1,
	.match = tty_match, .dump = tty_dump, .open = tty_open,
};
