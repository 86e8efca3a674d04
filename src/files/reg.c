/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Regular files and directories, by path, flags and offset. A file deleted while open travels
 * in the image (ghost-ID.img) and is recreated at restore under its old name, opened, and
 * unlinked again, so the task sees the same content behind a deleted name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define LOG_PREFIX "reg: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "files/files.h"
#include "image/blob.h"

static int reg_match(const struct fd_info *fi, const struct dump_opts *o)
{
	return S_ISREG(fi->st.st_mode) && fi->link[0] == '/';
}

/* The content, streamed into the blob store with its holes. */
static int dump_ghost(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	char path[64], what[4200];
	/* Through /proc, so that a write-only descriptor can be read too (and its offset stays). */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fi->stolen);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fe_set(ctx->err, errno, "reopen deleted file");
	fe->has_ghost_id = 1;
	fe->ghost_id = ++ctx->next_ghost_id;
	snprintf(what, sizeof(what), "deleted file %s", fe->path);
	return blob_write(ctx->sink, fe->ghost_id, fd, (uint64_t)fi->st.st_size, what, ctx->err);
}

static int reg_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	const char *del = strstr(fi->link, " (deleted)");
	size_t len = del ? (size_t)(del - fi->link) : strlen(fi->link);
	fe->path = arena_memdup(&ctx->arena, fi->link, len + 1);
	fe->path[len] = 0;
	fe->has_mode = fe->has_size = fe->has_ino = 1;
	fe->mode = fi->st.st_mode;
	fe->size = fi->st.st_size;
	fe->ino = fi->st.st_ino;
	if (del || fi->st.st_nlink == 0) {
		fe->has_deleted = 1;
		fe->deleted = 1;
		return dump_ghost(ctx, t, fi, fe);
	}
	return 0;
}

static int open_at_pos(const Ferry__FileEntry *fe, const char *path, struct ferry_err *err)
{
	int fd = open(path, files_open_flags(fe->flags));
	if (fd < 0)
		return fe_set(err, errno, "open %s", path);
	if (fe->has_pos && lseek(fd, (off_t)fe->pos, SEEK_SET) < 0 && errno != ESPIPE) {
		int e = errno;
		close(fd);
		return fe_set(err, e, "seek %s to %llu", path, (unsigned long long)fe->pos);
	}
	return fd;
}

/* Recreates the deleted file's content under its old name (or a free name beside it). */
static int open_ghost(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s", fe->path);
	_cleanup_close_ int wfd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, fe->mode & 07777);
	for (int i = 0; wfd < 0 && errno == EEXIST && i < 100; i++) {
		snprintf(path, sizeof(path), "%s.ferry-ghost-%u-%d", fe->path, fe->ghost_id, i);
		wfd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, fe->mode & 07777);
	}
	if (wfd < 0)
		return fe_set(err, errno, "recreate deleted file %s", fe->path);
	uint64_t size;
	int r = blob_read(&ctx->src, fe->ghost_id, fe->has_size ? fe->size : UINT64_MAX, blob_put_fd, &wfd, &size, err);
	if (r == 0 && ftruncate(wfd, (off_t)size) < 0)
		r = fe_set(err, errno, "size deleted file %s", path);
	if (r < 0) {
		unlink(path);
		return fe_wrap(err, r, "recreate deleted file %s", fe->path);
	}
	int fd = open_at_pos(fe, path, err);
	unlink(path);
	return fd;
}

static int reg_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	if (fe->deleted)
		return open_ghost(ctx, fe, err);
	struct stat st;
	if (stat(fe->path, &st) < 0)
		return fe_set(err, errno, "file %s", fe->path);
	if (fe->has_size && (uint64_t)st.st_size != fe->size)
		pr_warn("%s changed size since the dump (%lld bytes, was %llu)\n", fe->path,
			(long long)st.st_size, (unsigned long long)fe->size);
	return open_at_pos(fe, fe->path, err);
}

static int dir_match(const struct fd_info *fi, const struct dump_opts *o)
{
	return S_ISDIR(fi->st.st_mode) && fi->link[0] == '/';
}

static int dir_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	if (strstr(fi->link, " (deleted)"))
		return fe_msg(ctx->err, EOPNOTSUPP, "an open directory that was removed is not supported");
	fe->path = arena_strdup(&ctx->arena, fi->link);
	fe->has_mode = 1;
	fe->mode = fi->st.st_mode;
	return 0;
}

static int dir_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	return open_at_pos(fe, fe->path, err);
}

const struct file_ops reg_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_REG, .name = "regular file",
	.match = reg_match, .dump = reg_dump, .open = reg_open,
};

const struct file_ops dir_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_DIR, .name = "directory",
	.match = dir_match, .dump = dir_dump, .open = dir_open,
};
