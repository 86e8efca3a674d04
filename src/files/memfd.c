/* SPDX-License-Identifier: Apache-2.0 */
/*
 * memfd: anonymous files with a name, content and seals. The content travels once per memfd
 * (inode), whether the tree holds it through descriptors, mappings, or both — a memfd that is
 * only mapped (its fd closed) is found through /proc/PID/map_files. Restore creates one memfd
 * per inode in ferry, fills it, seals it, and derives every description from it; memory restore
 * maps the same object (files_kept).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#define LOG_PREFIX "memfd: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "files/files.h"
#include "image/blob.h"
#include "mem/mem.h"

#define SECRETMEM "/secretmem (deleted)"
#define HUGETLBFS_MAGIC 0x958458f6
/*
 * Seals added once every task has mapped the memfd (memfd_seal_deferred): F_SEAL_FUTURE_WRITE
 * forbids new writable shared mappings but keeps those made before it.
 */
#define SEALS_LATE (F_SEAL_FUTURE_WRITE | F_SEAL_SEAL)

static int memfd_match(const struct fd_info *fi, const struct dump_opts *o)
{
	return S_ISREG(fi->st.st_mode) && (strncmp(fi->link, "/memfd:", 7) == 0 || strcmp(fi->link, SECRETMEM) == 0);
}

/* A memfd_secret() object met through a mapping only (memfd_dump_secret_mapping): where it is. */
static __thread struct dtask *secret_task;	/* per thread, as operations are */
static __thread const Ferry__Vma *secret_vma;

/*
 * Content of secret memory: copied by the task into a memfd of ferry's, through its fd or
 * through its mapping (no fd can be reopened), then streamed into the blob store from there.
 */
static int save_secret(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	uint64_t size = fi->st.st_size;
	if (size > BLOB_MAX_SIZE)
		return fe_msg(ctx->err, EFBIG, "secret memory of %llu bytes is too large to carry in the image",
			      (unsigned long long)size);
	_cleanup_close_ int copy = memfd_create("ferry-secretmem", MFD_CLOEXEC);
	if (copy < 0 || ftruncate(copy, (off_t)size) < 0)
		return fe_set(ctx->err, errno, "a buffer for secret memory");
	int r = 0;
	if (fi->fd >= 0) {
		r = secretmem_read_fd(ctx, t, fi->fd, size, copy);
	} else if (secret_vma && secret_vma->pgoff < size) {
		uint64_t len = secret_vma->end - secret_vma->start;
		len = len < size - secret_vma->pgoff ? len : size - secret_vma->pgoff;
		r = secretmem_read(ctx, secret_task, secret_vma->start, len, copy, secret_vma->pgoff);
	}
	if (r < 0)
		return r;
	fe->has_ghost_id = 1;
	fe->ghost_id = ++ctx->next_ghost_id;
	fe->memfd->has_content = fe->memfd->content = 1;
	return blob_write(ctx->sink, fe->ghost_id, copy, size, "secret memory", ctx->err);
}

int memfd_dump_secret_mapping(struct dump_ctx *ctx, struct dtask *t, const Ferry__Vma *v, uint32_t *id)
{
	for (size_t i = 0; i < ctx->files.n_files; i++) {
		const Ferry__FileEntry *fe = ctx->files.files[i];
		if (fe->kind == FERRY__FILE_KIND__FILE_MEMFD && fe->memfd && fe->memfd->secret && fe->memfd->ino == v->ino) {
			*id = fe->id;
			return 0;
		}
	}
	char path[96];
	struct fd_info fi = { .fd = -1, .stolen = -1, .link = SECRETMEM, .flags = O_RDWR };
	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", t->pid, (unsigned long long)v->start,
		 (unsigned long long)v->end);
	if (stat(path, &fi.st) < 0)
		return fe_set(ctx->err, errno, "stat %s", path);
	secret_task = t;
	secret_vma = v;
	int r = files_dump_object(ctx, t, &fi, id);
	secret_vma = NULL;
	return r;
}

const Ferry__FileEntry *memfd_find_by_ino(const Ferry__Files *files, uint64_t ino, int with_content)
{
	for (size_t i = 0; i < files->n_files; i++) {
		const Ferry__FileEntry *fe = files->files[i];
		if (fe->kind == FERRY__FILE_KIND__FILE_MEMFD && fe->memfd && fe->memfd->ino == ino &&
		    (!with_content || fe->memfd->content))
			return fe;
	}
	return NULL;
}

/* The content, streamed into the blob store (holes kept), read through a description of our own. */
static int save_content(struct dump_ctx *ctx, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	char path[64], what[300];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fi->stolen);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fe_set(ctx->err, errno, "reopen memfd %s to read it", fe->memfd->name);
	fe->has_ghost_id = 1;
	fe->ghost_id = ++ctx->next_ghost_id;
	fe->memfd->has_content = 1;
	fe->memfd->content = 1;
	snprintf(what, sizeof(what), "memfd %s", fe->memfd->name);
	return blob_write(ctx->sink, fe->ghost_id, fd, (uint64_t)fi->st.st_size, what, ctx->err);
}

static int memfd_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	struct statfs sfs;
	if (fstatfs(fi->stolen, &sfs) == 0 && sfs.f_type == HUGETLBFS_MAGIC)
		return fe_msg(ctx->err, EOPNOTSUPP, "%s is a memfd of huge pages (MFD_HUGETLB), which this version cannot checkpoint",
			      fi->link);
	Ferry__MemfdEntry *m = ARENA_NEW(&ctx->arena, Ferry__MemfdEntry);
	if (!m)
		return fe_set(ctx->err, ENOMEM, "memfd");
	ferry__memfd_entry__init(m);
	fe->memfd = m;
	const char *name = fi->link + 7, *del = strstr(name, " (deleted)");
	size_t nlen = del ? (size_t)(del - name) : strlen(name);
	m->name = arena_memdup(&ctx->arena, name, nlen + 1);
	m->name[nlen] = 0;
	fe->path = arena_strdup(&ctx->arena, fi->link);
	m->has_ino = m->has_size = m->has_seals = m->has_mode = 1;
	m->ino = fi->st.st_ino;
	m->size = fi->st.st_size;
	m->mode = fi->st.st_mode & 07777;
	if (strcmp(fi->link, SECRETMEM) == 0) {
		m->has_secret = m->secret = 1;
		m->name[0] = 0;
		fe->has_pos = 0;
		return memfd_find_by_ino(&ctx->files, m->ino, 1) ? 0 : save_secret(ctx, t, fi, fe);
	}
	int seals = fcntl(fi->stolen, F_GET_SEALS);
	m->seals = seals < 0 ? 0 : (uint32_t)seals;
	if (memfd_find_by_ino(&ctx->files, m->ino, 1))
		return 0;
	return save_content(ctx, fi, fe);
}

/* Memfd entries carrying a content, by inode (not NULL, so a malformed entry finds nothing). */
static uint64_t content_key(const void *arr, size_t i)
{
	const Ferry__FileEntry *fe = ((const Ferry__Files *)arr)->files[i];
	int has = fe->kind == FERRY__FILE_KIND__FILE_MEMFD && fe->memfd && fe->memfd->content;
	return has ? fe->memfd->ino : UINT64_MAX - i;
}

/* *out: the entry carrying the content of memfd inode ino, or NULL (an index built on first use). */
static int content_of(struct restore_ctx *ctx, uint64_t ino, const Ferry__FileEntry **out, struct ferry_err *err)
{
	uint64_t dup;
	int r = ctx->memfd_idx.v ? 0 : idx_build(&ctx->memfd_idx, ctx->files->n_files, content_key, ctx->files, &dup);
	if (r == -EEXIST)
		return fe_msg(err, EBADMSG, "files.img: the content of memfd inode %llu appears twice",
			      (unsigned long long)dup);
	if (r < 0)
		return fe_set(err, r, "memfd index");
	long i = ino >= UINT64_MAX - ctx->files->n_files ? -1 : idx_find(&ctx->memfd_idx, ino);
	*out = i < 0 ? NULL : ctx->files->files[i];
	return 0;
}

/* One memfd per inode, created, filled and sealed in ferry the first time it is asked for. */
int memfd_primary(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	int fd = files_kept(ctx, MEMFD_KEY(fe->memfd->ino));
	if (fd >= 0)
		return fd;
	const Ferry__FileEntry *src = NULL;
	int r = content_of(ctx, fe->memfd->ino, &src, err);
	if (r < 0)
		return r;
	if (!src || !src->has_ghost_id)
		return fe_msg(err, EBADMSG, "files.img: no content for memfd %s (inode %llu)", fe->memfd->name,
			      (unsigned long long)fe->memfd->ino);
	if (src->memfd->secret) {
		if ((fd = secretmem_create(ctx, src->ghost_id, src->memfd->size, err)) < 0)
			return fd;
		if ((r = files_keep(ctx, MEMFD_KEY(fe->memfd->ino), fd)) < 0) {
			close(fd);
			return fe_set(err, r, "secret memory");
		}
		return fd;
	}
	fd = memfd_create(src->memfd->name ? src->memfd->name : "", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return fe_set(err, errno, "memfd_create(%s)", src->memfd->name);
	uint64_t size;
	r = blob_read(&ctx->src, src->ghost_id, src->memfd->has_size ? src->memfd->size : UINT64_MAX, blob_put_fd,
			  &fd, &size, err);
	if (r < 0) {
		close(fd);
		return r;
	}
	if ((ftruncate(fd, (off_t)size) < 0 && (r = -errno)) ||
	    (src->memfd->mode && fchmod(fd, src->memfd->mode) < 0 && (r = -errno)) ||
	    ((src->memfd->seals & ~SEALS_LATE) && fcntl(fd, F_ADD_SEALS, src->memfd->seals & ~SEALS_LATE) < 0 && (r = -errno)) ||
	    ((src->memfd->seals & F_SEAL_SEAL) && !(src->memfd->seals & F_SEAL_FUTURE_WRITE) &&
	     fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL) < 0 && (r = -errno))) {
		close(fd);
		return fe_set(err, r, "fill memfd %s", src->memfd->name);
	}
	if ((r = files_keep(ctx, MEMFD_KEY(fe->memfd->ino), fd)) < 0) {
		close(fd);
		return fe_set(err, r, "memfd");
	}
	return fd;
}

int memfd_seal_deferred(struct restore_ctx *ctx)
{
	for (size_t i = 0; i < ctx->files->n_files; i++) {
		const Ferry__FileEntry *fe = ctx->files->files[i];
		int fd = fe->kind == FERRY__FILE_KIND__FILE_MEMFD && fe->memfd && fe->memfd->content ?
				 files_kept(ctx, MEMFD_KEY(fe->memfd->ino)) : -1;
		if (fd < 0 || !(fe->memfd->seals & F_SEAL_FUTURE_WRITE) || (fcntl(fd, F_GET_SEALS) & F_SEAL_FUTURE_WRITE))
			continue;
		if (fcntl(fd, F_ADD_SEALS, fe->memfd->seals & SEALS_LATE) < 0)
			return fe_set(ctx->err, errno, "seal memfd %s", fe->memfd->name);
	}
	return 0;
}

/*
 * Its first read-write description is the memfd_create() one: unlike a reopened one it is no
 * writer to the kernel (an execveat() of the memfd is no ETXTBSY with it open), so ferry's own
 * memfd is handed over for it. Any other description is a fresh open, with its own flags.
 */
static int first_rw(const Ferry__Files *files, const Ferry__FileEntry *fe)
{
	for (size_t i = 0; i < files->n_files; i++) {
		const Ferry__FileEntry *o = files->files[i];
		if (o->kind == FERRY__FILE_KIND__FILE_MEMFD && o->memfd && o->memfd->ino == fe->memfd->ino &&
		    (o->flags & O_ACCMODE) == O_RDWR)
			return o == fe;
	}
	return 0;
}

static int memfd_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	if (!fe->memfd)
		return fe_msg(err, EBADMSG, "files.img: memfd entry %u without its details", fe->id);
	int p = memfd_primary(ctx, fe, err);
	if (p < 0)
		return p;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", p);
	/* secret memory cannot be reopened: its descriptions are all one */
	int same = first_rw(ctx->files, fe) || fe->memfd->secret;
	int fd = same ? fcntl(p, F_DUPFD_CLOEXEC, 0) : open(path, files_open_flags(fe->flags) | O_CLOEXEC);
	if (fd >= 0 && same &&
	    fcntl(fd, F_SETFL, files_open_flags(fe->flags) & (O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME)) < 0) {
		close(fd);
		return fe_set(err, errno, "set the flags of memfd %s", fe->memfd->name);
	}
	if (fd < 0)
		return fe_set(err, errno, "reopen memfd %s", fe->memfd->name);
	if (fe->has_pos && lseek(fd, (off_t)fe->pos, SEEK_SET) < 0) {
		close(fd);
		return fe_set(err, errno, "seek memfd %s", fe->memfd->name);
	}
	return fd;
}

const struct file_ops memfd_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_MEMFD, .name = "memfd",
	.match = memfd_match, .dump = memfd_dump, .open = memfd_open,
};
