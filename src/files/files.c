/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The descriptor table. Dump: /proc/PID/fd(info) plus a stolen duplicate of every fd; open file
 * descriptions shared within or across tasks (kcmp) get one file id. Restore: every description
 * is created once in ferry (files_open_all), then each task fetches its own with pidfd_getfd()
 * by injection and places it at its fd number (files_install_injected).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#define LOG_PREFIX "files: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "files/files.h"
#include "files/path.h"

/* Weak: a module that is not linked in simply is not offered. */
#define OPTIONAL_OPS(name) extern const struct file_ops name __attribute__((weak))
OPTIONAL_OPS(pipe_file_ops);
OPTIONAL_OPS(unix_file_ops);
OPTIONAL_OPS(inet_file_ops);
OPTIONAL_OPS(eventfd_file_ops);
OPTIONAL_OPS(signalfd_file_ops);
OPTIONAL_OPS(timerfd_file_ops);
OPTIONAL_OPS(epoll_file_ops);
OPTIONAL_OPS(inotify_file_ops);
OPTIONAL_OPS(pty_file_ops);
OPTIONAL_OPS(memfd_file_ops);
OPTIONAL_OPS(opath_file_ops);

static const struct file_ops *const file_kinds[] = {
	&opath_file_ops, &memfd_file_ops, &reg_file_ops, &dir_file_ops, &pty_file_ops, &tty_file_ops, &chr_file_ops,
	&pipe_file_ops, &unix_file_ops, &inet_file_ops, &eventfd_file_ops,
	&signalfd_file_ops, &timerfd_file_ops, &epoll_file_ops, &inotify_file_ops,
};

int files_open_flags(uint32_t flags)
{
	return (int)(flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_CLOEXEC));
}

static const struct file_ops *kind_ops(Ferry__FileKind kind)
{
	for (size_t i = 0; i < ARRAY_SIZE(file_kinds); i++)
		if (file_kinds[i] && file_kinds[i]->kind == kind)
			return file_kinds[i];
	return NULL;
}

const char *fdinfo_field(const struct fd_info *fi, const char *key)
{
	return fi->fdinfo ? proc_field(fi->fdinfo, key) : NULL;
}

static int read_fdinfo(pid_t pid, int fd, struct fd_info *fi, char **text)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	int r = read_file(path, text, NULL);
	if (r < 0)
		return r;
	const char *pos = proc_field(*text, "pos"), *flags = proc_field(*text, "flags");
	if (!pos || !flags)
		return -EIO;
	fi->fdinfo = *text;
	fi->pos = strtoull(pos, NULL, 10);
	uint32_t f = strtoul(flags, NULL, 8);
	fi->cloexec = !!(f & O_CLOEXEC);
	fi->flags = f & ~O_CLOEXEC;
	return 0;
}

/* The file id of an earlier fd (this task or another) sharing fd's open file description. */
static int shared_id(struct dump_ctx *ctx, pid_t pid, int fd, const struct stat *st, uint32_t *id)
{
	for (size_t i = 0; i < ctx->nseen; i++) {
		const struct fd_seen *s = &ctx->seen[i];
		if (s->ino != st->st_ino || s->dev != st->st_dev)
			continue;
		if (syscall(SYS_kcmp, s->pid, pid, 0 /* KCMP_FILE */, s->fd, fd) == 0) {
			*id = s->file_id;
			return 1;
		}
	}
	return 0;
}

static int remember(struct dump_ctx *ctx, pid_t pid, int fd, const struct stat *st, uint32_t id)
{
	if (ctx->nseen == ctx->capseen) {
		size_t cap = ctx->capseen ? ctx->capseen * 2 : 64;
		struct fd_seen *n = realloc(ctx->seen, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		ctx->seen = n;
		ctx->capseen = cap;
	}
	ctx->seen[ctx->nseen++] = (struct fd_seen){ pid, fd, st->st_dev, st->st_ino, id };
	return 0;
}

static int add_file(struct dump_ctx *ctx, Ferry__FileEntry *fe)
{
	if (ctx->files.n_files == ctx->cap_files) {
		size_t cap = ctx->cap_files ? ctx->cap_files * 2 : 64;
		Ferry__FileEntry **n = ARENA_ARRAY(&ctx->arena, Ferry__FileEntry *, cap);
		if (!n)
			return -ENOMEM;
		if (ctx->files.n_files)
			memcpy(n, ctx->files.files, ctx->files.n_files * sizeof(*n));
		ctx->files.files = n;
		ctx->cap_files = cap;
	}
	ctx->files.files[ctx->files.n_files++] = fe;
	return 0;
}

int files_dump_object(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, uint32_t *id)
{
	const struct file_ops *ops = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(file_kinds) && !ops; i++)
		if (file_kinds[i] && file_kinds[i]->match(fi, ctx->opts))
			ops = file_kinds[i];
	if (!ops)
		return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: fd %d is %s, which this version cannot checkpoint",
			      t->pid, fi->fd, fi->link);
	Ferry__FileEntry *fe = ARENA_NEW(&ctx->arena, Ferry__FileEntry);
	if (!fe)
		return fe_set(ctx->err, ENOMEM, "file entry");
	ferry__file_entry__init(fe);
	fe->id = ++ctx->next_file_id;
	fe->kind = ops->kind;
	fe->flags = fi->flags;
	fe->has_pos = 1;
	fe->pos = fi->pos;
	int r = ops->dump(ctx, t, fi, fe);
	if (r < 0)
		return fe_wrap(ctx->err, r, "pid %d: fd %d (%s)", t->pid, fi->fd, fi->link);
	if (add_file(ctx, fe) < 0)
		return fe_set(ctx->err, ENOMEM, "file table");
	*id = fe->id;
	return 0;
}

static int dump_one_fd(struct dump_ctx *ctx, struct dtask *t, int fd)
{
	char path[64];
	_cleanup_free_ char *link = NULL, *info = NULL;
	struct fd_info fi = { .fd = fd, .stolen = -1 };
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", t->pid, fd);
	if (read_link(path, &link) < 0 || stat(path, &fi.st) < 0 || read_fdinfo(t->pid, fd, &fi, &info) < 0)
		return fe_set(ctx->err, errno ? errno : EIO, "pid %d: inspect fd %d", t->pid, fd);
	fi.link = link;

	Ferry__FdEntry *e = ARENA_NEW(&ctx->arena, Ferry__FdEntry);
	if (!e)
		return fe_set(ctx->err, ENOMEM, "fd table");
	ferry__fd_entry__init(e);
	e->fd = fd;
	e->has_cloexec = 1;
	e->cloexec = fi.cloexec;
	int r = 0;
	if (!shared_id(ctx, t->pid, fd, &fi.st, &e->file_id)) {
		fi.stolen = syscall(SYS_pidfd_getfd, t->pidfd, fd, 0);
		if (fi.stolen < 0)
			return fe_set(ctx->err, errno, "pid %d: take a look at fd %d (pidfd_getfd)", t->pid, fd);
		r = files_dump_object(ctx, t, &fi, &e->file_id);
		close(fi.stolen);
	}
	if (r == 0 && remember(ctx, t->pid, fd, &fi.st, e->file_id) < 0)
		r = fe_set(ctx->err, ENOMEM, "fd table");
	if (r == 0)
		t->fds->fds[t->fds->n_fds++] = e;
	return r;
}

static int files_dump(struct dump_ctx *ctx, struct dtask *t)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", t->pid);
	_cleanup_closedir_ DIR *d = opendir(path);
	if (!d)
		return fe_set(ctx->err, errno, "open %s", path);
	size_t n = 0, cap = 256;
	_cleanup_free_ int *fds = malloc(cap * sizeof(int));
	struct dirent *de;
	while (fds && (de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		if (n == cap) {
			int *nf = realloc(fds, (cap *= 2) * sizeof(int));
			if (!nf)
				return fe_set(ctx->err, ENOMEM, "fd list");
			fds = nf;
		}
		fds[n++] = atoi(de->d_name);
	}
	t->fds->pid = t->pid;
	t->fds->fds = ARENA_ARRAY(&ctx->arena, Ferry__FdEntry *, n + 1);
	if (!fds || !t->fds->fds)
		return fe_set(ctx->err, ENOMEM, "fd table");
	for (size_t i = 0; i < n; i++) {
		int r = dump_one_fd(ctx, t, fds[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static uint64_t file_id_key(const void *arr, size_t i)
{
	return ((const Ferry__Files *)arr)->files[i]->id;
}

static uint64_t fd_key(const void *arr, size_t i)
{
	return (uint64_t)(int64_t)((const Ferry__FdTable *)arr)->fds[i]->fd;
}

int files_validate(const Ferry__Files *files, struct id_index *ix, struct ferry_err *err)
{
	uint64_t dup;
	if (files->n_files > FILES_MAX)
		return fe_msg(err, EBADMSG, "files.img: %zu open files, more than %u", files->n_files, FILES_MAX);
	for (size_t i = 0; i < files->n_files; i++)
		if (!kind_ops(files->files[i]->kind))
			return fe_msg(err, EBADMSG, "files.img: file %u has a kind (%d) this ferry cannot restore",
				      files->files[i]->id, files->files[i]->kind);
	int r = idx_build(ix, files->n_files, file_id_key, files, &dup);
	if (r == -EEXIST)
		return fe_msg(err, EBADMSG, "files.img: file id %llu appears twice", (unsigned long long)dup);
	return r < 0 ? fe_set(err, r, "index files.img") : 0;
}

int files_validate_fds(const struct id_index *ix, const Ferry__FdTable *fds, int pid, struct ferry_err *err)
{
	struct id_index fx;
	uint64_t dup;
	if (fds->n_fds > FDS_MAX)
		return fe_msg(err, EBADMSG, "fds-%d.img: %zu descriptors, more than %u", pid, fds->n_fds, FDS_MAX);
	for (size_t i = 0; i < fds->n_fds; i++) {
		const Ferry__FdEntry *e = fds->fds[i];
		if (e->fd < 0 || e->fd >= (int)FDS_MAX)
			return fe_msg(err, EBADMSG, "fds-%d.img: descriptor number %d is out of range", pid, e->fd);
		if (idx_find(ix, e->file_id) < 0)
			return fe_msg(err, EBADMSG, "fds-%d.img: fd %d names file %u, which files.img does not hold",
				      pid, e->fd, e->file_id);
	}
	int r = idx_build(&fx, fds->n_fds, fd_key, fds, &dup);
	idx_free(&fx);
	if (r == -EEXIST)
		return fe_msg(err, EBADMSG, "fds-%d.img: fd %lld appears twice", pid, (long long)dup);
	return r < 0 ? fe_set(err, r, "index fds-%d.img", pid) : 0;
}

int files_max_fd(const Ferry__FdTable *fds)
{
	int max = -1;
	for (size_t i = 0; i < fds->n_fds; i++)
		if (fds->fds[i]->fd > max)
			max = fds->fds[i]->fd;
	return max;
}

const Ferry__FileEntry *files_find(const Ferry__Files *files, uint32_t id)
{
	for (size_t i = 0; i < files->n_files; i++)
		if (files->files[i]->id == id)
			return files->files[i];
	return NULL;
}

int files_master_fd(struct restore_ctx *ctx, uint32_t id)
{
	long i = ctx->master ? idx_find(&ctx->file_idx, id) : -1;
	return i < 0 ? -1 : ctx->master[i];
}

const Ferry__FileEntry *files_find_id(struct restore_ctx *ctx, uint32_t id)
{
	long i = idx_find(&ctx->file_idx, id);
	return i < 0 ? NULL : ctx->files->files[i];
}

int files_stash_put(struct restore_ctx *ctx, uint64_t key, int fd)
{
	struct stash_ent *n = realloc(ctx->stash, (ctx->nstash + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	ctx->stash = n;
	ctx->stash[ctx->nstash++] = (struct stash_ent){ key, fd };
	return 0;
}

int files_stash_take(struct restore_ctx *ctx, uint64_t key)
{
	for (size_t i = 0; i < ctx->nstash; i++)
		if (ctx->stash[i].key == key) {
			int fd = ctx->stash[i].fd;
			ctx->stash[i] = ctx->stash[--ctx->nstash];
			return fd;
		}
	return -1;
}

int files_keep(struct restore_ctx *ctx, uint64_t key, int fd)
{
	struct stash_ent *n = realloc(ctx->kept, (ctx->nkept + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	ctx->kept = n;
	ctx->kept[ctx->nkept++] = (struct stash_ent){ key, fd };
	return 0;
}

int files_kept(struct restore_ctx *ctx, uint64_t key)
{
	for (size_t i = 0; i < ctx->nkept; i++)
		if (ctx->kept[i].key == key)
			return ctx->kept[i].fd;
	return -1;
}

/* An --inherit-fd whose key names this file, or -1. */
static int inherited(struct restore_ctx *ctx, const Ferry__FileEntry *fe)
{
	for (size_t i = 0; i < ctx->opts->n_inherit; i++)
		if (fe->path && strcmp(ctx->opts->inherit[i].key, fe->path) == 0)
			return ctx->opts->inherit[i].fd;
	return -1;
}

int files_open_all(struct restore_ctx *ctx)
{
	size_t n = ctx->files->n_files;
	ctx->master = malloc((n + 1) * sizeof(int));
	if (!ctx->master)
		return fe_set(ctx->err, ENOMEM, "file table");
	for (size_t i = 0; i < n; i++)
		ctx->master[i] = -1;
	for (size_t i = 0; i < n; i++) {
		const Ferry__FileEntry *fe = ctx->files->files[i];
		int inh = inherited(ctx, fe), fd;
		if (inh >= 0) {
			fd = fcntl(inh, F_DUPFD_CLOEXEC, 3);
			if (fd < 0)
				return fe_set(ctx->err, errno, "--inherit-fd fd[%d]", inh);
		} else {
			fd = kind_ops(fe->kind)->open(ctx, fe, ctx->err);
			if (fd < 0)
				return fe_wrap(ctx->err, fd, "file %u (%s)", fe->id, fe->path ? fe->path : kind_ops(fe->kind)->name);
		}
		ctx->master[i] = fd;
	}
	for (size_t i = 0; i < ctx->nstash; i++)	/* ends nobody took: their peers were not in the tree */
		close(ctx->stash[i].fd);
	ctx->nstash = 0;
	return 0;
}

void files_close_all(struct restore_ctx *ctx)
{
	ghost_restore_finish(ctx, 0);
	for (size_t i = 0; ctx->master && i < ctx->files->n_files; i++)
		if (ctx->master[i] >= 0)
			close(ctx->master[i]);
	free(ctx->master);
	ctx->master = NULL;
	for (size_t i = 0; i < ctx->nstash; i++)
		close(ctx->stash[i].fd);
	free(ctx->stash);
	ctx->stash = NULL;
	ctx->nstash = 0;
	for (size_t i = 0; i < ctx->nkept; i++)
		close(ctx->kept[i].fd);
	free(ctx->kept);
	ctx->kept = NULL;
	ctx->nkept = 0;
}

/*
 * By injection into t: drop every inherited descriptor, then fetch each of t's files from ferry
 * with pidfd_getfd() and move it to its number. The pidfd itself lives above the table.
 */
int files_install_injected(struct restore_ctx *ctx, struct rtask *t)
{
	struct injector *inj = &t->threads[0].inj;
	long ret, pidfd, tmp;
	int top = files_max_fd(t->fds) + 1, r;
	if ((r = RINJ(ctx, inj, &ret, "close inherited descriptors", SYS_close_range, 0, ~0U, 0)) < 0 ||
	    (r = RINJ(ctx, inj, &tmp, "pidfd_open(ferry)", SYS_pidfd_open, ctx->restorer_pid, 0)) < 0 ||
	    (r = RINJ(ctx, inj, &pidfd, "move the pidfd", SYS_fcntl, tmp, F_DUPFD_CLOEXEC, top)) < 0 ||
	    (r = RINJ(ctx, inj, &ret, "close", SYS_close, tmp)) < 0)
		return r;
	for (size_t i = 0; i < t->fds->n_fds; i++) {
		const Ferry__FdEntry *e = t->fds->fds[i];
		int master = files_master_fd(ctx, e->file_id);
		if (master < 0 || e->fd < 0 || e->fd >= top)
			return fe_msg(ctx->err, EBADMSG, "fds-%d.img: fd %d names missing file %u", t->pid, e->fd, e->file_id);
		r = RINJ(ctx, inj, &tmp, "fetch a file from the restorer", SYS_pidfd_getfd, pidfd, master, 0);
		if (r < 0)
			return fe_wrap(ctx->err, r, "fd %d", e->fd);
		if (tmp != e->fd) {
			r = RINJ(ctx, inj, &ret, "dup3", SYS_dup3, tmp, e->fd, e->cloexec ? O_CLOEXEC : 0);
			if (r == 0)
				r = RINJ(ctx, inj, &ret, "close", SYS_close, tmp);
		} else if (!e->cloexec) {
			r = RINJ(ctx, inj, &ret, "clear close-on-exec", SYS_fcntl, tmp, F_SETFD, 0);
		}
		if (r < 0)
			return fe_wrap(ctx->err, r, "fd %d", e->fd);
	}
	return RINJ(ctx, inj, &ret, "close", SYS_close, pidfd);
}

int files_dump_mapping(struct dump_ctx *ctx, struct dtask *t, int fd, const char *link, uint32_t *file_id)
{
	struct fd_info fi = { .fd = -1, .link = link, .stolen = fd, .flags = O_RDWR };
	if (fstat(fd, &fi.st) < 0)
		return fe_set(ctx->err, errno, "stat the file mapped as %s", link);
	for (size_t i = 0; i < ctx->files.n_files; i++) {
		const Ferry__FileEntry *fe = ctx->files.files[i];
		if ((fe->kind == FERRY__FILE_KIND__FILE_MEMFD && fe->memfd && fe->memfd->ino == fi.st.st_ino) ||
		    (fe->kind == FERRY__FILE_KIND__FILE_REG && fe->deleted && fe->ino == fi.st.st_ino &&
		     (!fe->reg || fe->reg->dev == fi.st.st_dev))) {
			*file_id = fe->id;
			return 0;
		}
	}
	return files_dump_object(ctx, t, &fi, file_id);
}

int files_object_for_mapping(struct restore_ctx *ctx, uint32_t file_id, int writable, struct ferry_err *err)
{
	const Ferry__FileEntry *fe = files_find_id(ctx, file_id);
	int base = -1;
	if (fe && fe->kind == FERRY__FILE_KIND__FILE_MEMFD && fe->memfd)
		base = memfd_primary(ctx, fe, err);
	else if (fe && fe->kind == FERRY__FILE_KIND__FILE_REG && fe->deleted)
		base = files_master_fd(ctx, file_id);
	else
		return fe_msg(err, EBADMSG, "mm image maps file %u, which is not a memfd or deleted file", file_id);
	if (base < 0)
		return base;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", base);
	int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	return fd < 0 ? fe_set(err, errno, "reopen %s for mapping", fe->path ? fe->path : "a file") : fd;
}

int files_fetch(struct restore_ctx *ctx, struct injector *inj, int fd, long *remote)
{
	long pidfd, ret;
	int r = RINJ(ctx, inj, &pidfd, "pidfd_open(ferry)", SYS_pidfd_open, ctx->restorer_pid, 0);
	if (r < 0)
		return r;
	r = RINJ(ctx, inj, remote, "fetch a descriptor from the restorer", SYS_pidfd_getfd, pidfd, fd, 0);
	RINJ(ctx, inj, &ret, "close", SYS_close, pidfd);
	return r;
}

int files_install_hooks(struct restore_ctx *ctx, struct rtask *t)
{
	for (size_t i = 0; i < t->fds->n_fds; i++) {
		const Ferry__FdEntry *e = t->fds->fds[i];
		const Ferry__FileEntry *fe = files_find_id(ctx, e->file_id);
		const struct file_ops *ops = fe ? kind_ops(fe->kind) : NULL;
		if (ops && ops->install) {
			int r = ops->install(ctx, t, e, fe);
			if (r < 0)
				return fe_wrap(ctx->err, r, "pid %d: fd %d", t->pid, e->fd);
		}
	}
	return 0;
}

static int files_restore_inject(struct restore_ctx *ctx, struct rtask *t)
{
	int r = files_install_injected(ctx, t);
	return r < 0 ? r : files_install_hooks(ctx, t);
}

const struct task_obj_ops files_obj = {
	.name = "files",
	.dump = files_dump,
	.restore_inject = files_restore_inject,
};
