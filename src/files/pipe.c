/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pipes and FIFOs. Each end (open file description) is a FileEntry; the entries of one pipe share
 * its inode. The bytes in flight are peeked at dump with tee() (from ferry's own read end, opened
 * through /proc, when the task holds only the write end) and travel in the first entry seen.
 * At restore the first entry opened creates the pipe (pipe2, or an O_RDWR open of the FIFO's path),
 * refills it and stashes the ends; later entries take theirs or reopen the pipe by /proc/self/fd.
 * Ends nobody took are closed by the engine once every file is open, so a pipe with one end in
 * the image keeps its bytes with the other end closed (a reader gets the bytes, then EOF; a writer
 * EPIPE) unless --inherit-fd fd[N]:pipe:[INO] supplies the end (its bytes are then the caller's).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#define LOG_PREFIX "pipe: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "files/files.h"
#include "files/path.h"

/* glibc defines O_LARGEFILE as 0 on x86_64; open(2) still sets the kernel's bit, pipe2(2) does not. */
#define K_O_LARGEFILE 0100000
/* What F_SETFL can change on a pipe end. */
#define PIPE_SETFL_MASK (O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME)
#define PIPE_MAX_DATA (64u << 20)

static int pipe_match(const struct fd_info *fi, const struct dump_opts *o)
{
	return S_ISFIFO(fi->st.st_mode);
}

/* Ends kept in the stash between entries: the two ends from pipe2(), or a FIFO's O_RDWR holder. */
enum { END_RD, END_WR, END_HOLD };

/* The stash key of one end of a pipe: tagged so it cannot meet another module's keys. */
static uint64_t end_key(const Ferry__PipeEntry *p, int end)
{
	uint64_t id = p->fifo ? p->ino ^ (p->dev * 0x9e3779b97f4a7c15ULL) : p->ino;
	return ((p->fifo ? 0x46ULL : 0x50ULL) << 56) | ((id << 2) & 0xfffffffffffffcULL) | (uint64_t)end;
}

static int same_pipe(const Ferry__FileEntry *a, const Ferry__PipeEntry *p)
{
	return a->kind == FERRY__FILE_KIND__FILE_PIPE && a->pipe && a->pipe->ino == p->ino &&
	       !a->pipe->fifo == !p->fifo && (!p->fifo || a->pipe->dev == p->dev);
}

/* An entry of the same pipe that already carries its data, or NULL. */
static const Ferry__FileEntry *data_entry(Ferry__FileEntry *const *files, size_t n, const Ferry__PipeEntry *p)
{
	for (size_t i = 0; i < n; i++)
		if (same_pipe(files[i], p) && files[i]->pipe->has_data)
			return files[i];
	return NULL;
}

/* A new open file description of the pipe behind fd, by /proc/self/fd (as open(2) makes it). */
static int reopen(int fd, uint32_t flags)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int r = open(path, (flags & O_ACCMODE) | O_NONBLOCK | O_CLOEXEC);
	return r < 0 ? -errno : r;
}

/* ---------------------------------------------------------------- dump */

/* Copies the n buffered bytes of the pipe readable through rd without consuming them. */
static int tee_bytes(int rd, uint32_t capacity, uint8_t *buf, int n)
{
	int sc[2];
	if (pipe2(sc, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	_cleanup_close_ int in = sc[0], out = sc[1];
	if (capacity > 65536 && fcntl(out, F_SETPIPE_SZ, capacity) < 0)
		return -errno;
	ssize_t got = tee(rd, out, n, SPLICE_F_NONBLOCK);
	if (got < 0)
		return -errno;
	if (got != n)
		return -EAGAIN;
	return read_full(in, buf, n);
}

static int peek_data(struct dump_ctx *ctx, const struct fd_info *fi, Ferry__PipeEntry *p)
{
	_cleanup_close_ int own = -1;
	int rd = fi->stolen;
	if ((fi->flags & O_ACCMODE) == O_WRONLY) {
		own = reopen(fi->stolen, O_RDONLY);	/* a read end of our own, to tee from */
		if (own < 0)
			return fe_set(ctx->err, -own, "open a read end of %s to peek its data", fi->link);
		rd = own;
	}
	for (int tries = 0; tries < 3; tries++) {
		int n = 0;
		if (ioctl(fi->stolen, FIONREAD, &n) < 0)
			return fe_set(ctx->err, errno, "FIONREAD on %s", fi->link);
		if ((unsigned)n > PIPE_MAX_DATA)
			return fe_msg(ctx->err, EFBIG, "%s holds %d bytes, too many to carry", fi->link, n);
		p->has_data = 1;
		p->data.len = n;
		if (!n)
			return 0;
		p->data.data = arena_alloc(&ctx->arena, n);
		if (!p->data.data)
			return fe_set(ctx->err, ENOMEM, "data of %s", fi->link);
		int r = tee_bytes(rd, p->capacity, p->data.data, n);
		if (r == 0)
			return 0;
		if (r != -EAGAIN)
			return fe_set(ctx->err, -r, "peek the %d bytes in %s", n, fi->link);
	}
	return fe_msg(ctx->err, EBUSY, "the data in %s keeps changing (a process outside the tree uses it)", fi->link);
}

static int pipe_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	Ferry__PipeEntry *p = ARENA_NEW(&ctx->arena, Ferry__PipeEntry);
	if (!p)
		return fe_set(ctx->err, ENOMEM, "pipe entry");
	ferry__pipe_entry__init(p);
	p->has_ino = p->has_dev = p->has_fifo = p->has_capacity = 1;
	p->ino = fi->st.st_ino;
	p->dev = fi->st.st_dev;
	p->fifo = fi->link[0] == '/';
	int r = 0;
	if (p->fifo)	/* by path: checked at restore; a removed FIFO is made again (files/ghost.c) */
		r = path_dump(ctx, t, fi, fe);
	else
		fe->path = arena_strdup(&ctx->arena, fi->link);	/* "pipe:[INO]" */
	if (r < 0)
		return r;
	int cap = fcntl(fi->stolen, F_GETPIPE_SZ);
	if (cap < 0 || !fe->path)
		return fe_set(ctx->err, cap < 0 ? errno : ENOMEM, "capacity of %s", fi->link);
	p->capacity = cap;
	fe->has_mode = 1;
	fe->mode = fi->st.st_mode;
	fe->pipe = p;
	if (data_entry(ctx->files.files, ctx->files.n_files, p))
		return 0;	/* another end of this pipe already carries the data */
	return peek_data(ctx, fi, p);
}

/* ---------------------------------------------------------------- restore */

/* Sets the capacity and writes the dumped bytes back through wr (a writable end). */
static int fill(struct restore_ctx *ctx, const Ferry__FileEntry *fe, int wr, struct ferry_err *err)
{
	const Ferry__PipeEntry *p = fe->pipe;
	if (p->capacity && fcntl(wr, F_GETPIPE_SZ) != (int)p->capacity &&
	    fcntl(wr, F_SETPIPE_SZ, p->capacity) < 0)
		return fe_set(err, errno, "set the capacity of %s to %u bytes", fe->path, p->capacity);
	const Ferry__FileEntry *d = data_entry(ctx->files->files, ctx->files->n_files, p);
	if (!d || !d->pipe->data.len)
		return 0;
	size_t len = d->pipe->data.len;
	if (len > PIPE_MAX_DATA || (p->capacity && len > p->capacity))
		return fe_msg(err, EBADMSG, "files.img: %s carries %zu bytes, more than its capacity", fe->path, len);
	int r = write_full(wr, d->pipe->data.data, len);
	return r < 0 ? fe_set(err, -r, "write %zu bytes back into %s", len, fe->path) : 0;
}

/* ferry's descriptor of an entry of the same pipe opened earlier, or -1. */
static int peer_fd(struct restore_ctx *ctx, const Ferry__FileEntry *fe)
{
	for (size_t i = 0; i < ctx->files->n_files; i++) {
		const Ferry__FileEntry *o = ctx->files->files[i];
		if (o != fe && same_pipe(o, fe->pipe)) {
			int fd = files_master_fd(ctx, o->id);
			if (fd >= 0)
				return fd;
		}
	}
	return -1;
}

/* Some descriptor of this pipe that ferry already holds (borrowed), or -1 if it is not created yet. */
static int anchor_fd(struct restore_ctx *ctx, const Ferry__FileEntry *fe)
{
	int fd = peer_fd(ctx, fe);
	for (int end = END_RD; fd < 0 && end <= END_HOLD; end++) {
		uint64_t key = end_key(fe->pipe, end);
		fd = files_stash_take(ctx, key);
		if (fd >= 0 && files_stash_put(ctx, key, fd) < 0) {
			close(fd);
			fd = -1;
		}
	}
	return fd;
}

/* Stashes fd under end (taking it over: closed on failure). */
static int keep_end(struct restore_ctx *ctx, const Ferry__FileEntry *fe, int end, int fd, struct ferry_err *err)
{
	int r = files_stash_put(ctx, end_key(fe->pipe, end), fd);
	if (r < 0) {
		close(fd);
		return fe_set(err, -r, "keep an end of %s", fe->path);
	}
	return 0;
}

static int pipe_create(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) < 0)
		return fe_set(err, errno, "create %s", fe->path);
	int r = fill(ctx, fe, pfd[1], err);
	if (r < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return r;
	}
	r = keep_end(ctx, fe, END_RD, pfd[0], err);
	if (r < 0) {
		close(pfd[1]);
		return r;
	}
	return keep_end(ctx, fe, END_WR, pfd[1], err);
}

/* A FIFO: an O_RDWR holder opens the pipe instance without blocking and keeps it until all are open. */
static int fifo_create(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	_cleanup_close_ int hold = path_open(ctx, fe, O_RDWR | O_NONBLOCK, err);
	struct stat st;
	if (hold < 0)
		return fe_wrap(err, hold, "open FIFO %s", fe->path);
	if (fstat(hold, &st) < 0 || !S_ISFIFO(st.st_mode))
		return fe_msg(err, ENOENT, "%s is no longer a FIFO", fe->path);
	int r = fill(ctx, fe, hold, err);
	return r < 0 ? r : keep_end(ctx, fe, END_HOLD, TAKE_FD(hold), err);
}

/*
 * This entry's own open file description: the pipe2() end of its access mode when it looks like
 * one (no O_LARGEFILE: pipe2 does not set it, open does), else a new open of the pipe.
 */
static int own_end(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	uint32_t acc = fe->flags & O_ACCMODE;
	if (!fe->pipe->fifo && acc != O_RDWR && !(fe->flags & K_O_LARGEFILE)) {
		int fd = files_stash_take(ctx, end_key(fe->pipe, acc == O_WRONLY ? END_WR : END_RD));
		if (fd >= 0)
			return fd;
	}
	int anchor = anchor_fd(ctx, fe);
	if (anchor < 0)
		return fe_msg(err, EBADF, "no end of %s is open in ferry", fe->path);
	int fd = reopen(anchor, fe->flags);
	return fd < 0 ? fe_set(err, -fd, "open %s (%s)", fe->path, acc == O_WRONLY ? "write end" : "read end") : fd;
}

static int set_flags(int fd, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	if (fcntl(fd, F_SETFL, fe->flags & PIPE_SETFL_MASK) < 0) {
		int e = errno;
		close(fd);
		return fe_set(err, e, "set flags %#o on %s", fe->flags, fe->path);
	}
	return fd;
}

static int pipe_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	const Ferry__PipeEntry *p = fe->pipe;
	if (!p || !p->has_ino || !fe->path)
		return fe_msg(err, EBADMSG, "files.img: pipe file %u lacks its inode or name", fe->id);
	if (p->fifo && fe->path[0] != '/')
		return fe_msg(err, EBADMSG, "files.img: FIFO file %u has no absolute path", fe->id);
	if (anchor_fd(ctx, fe) < 0) {
		int r = p->fifo ? fifo_create(ctx, fe, err) : pipe_create(ctx, fe, err);
		if (r < 0)
			return r;
	}
	int fd = own_end(ctx, fe, err);
	return fd < 0 ? fd : set_flags(fd, fe, err);
}

const struct file_ops pipe_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_PIPE, .name = "pipe",
	.match = pipe_match, .dump = pipe_dump, .open = pipe_open,
};
