/* SPDX-License-Identifier: Apache-2.0 */
/* The descriptor table: dump by /proc/PID/fd(info), restore by open + dup3 in the new task. */
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

static const struct file_ops *const file_kinds[] = {
	&reg_file_ops, &dir_file_ops, &tty_file_ops, &chr_file_ops, NULL,
};

int files_open_flags(uint32_t flags)
{
	return (int)(flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_CLOEXEC));
}

static const struct file_ops *kind_ops(Ferry__FileKind kind)
{
	for (int i = 0; file_kinds[i]; i++)
		if (file_kinds[i]->kind == kind)
			return file_kinds[i];
	return NULL;
}

static int read_fdinfo(pid_t pid, int fd, struct fd_info *fi)
{
	char path[64];
	_cleanup_free_ char *text = NULL;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	int r = read_file(path, &text, NULL);
	if (r < 0)
		return r;
	const char *pos = proc_field(text, "pos"), *flags = proc_field(text, "flags");
	if (!pos || !flags)
		return -EIO;
	fi->pos = strtoull(pos, NULL, 10);
	uint32_t f = strtoul(flags, NULL, 8);
	fi->cloexec = !!(f & O_CLOEXEC);
	fi->flags = f & ~O_CLOEXEC;
	return 0;
}

/* Another fd of this task that shares fd's open file description, found with kcmp(). */
static int shared_with(pid_t pid, Ferry__FdTable *tab, const struct stat *st, const struct stat *sts, int fd)
{
	for (size_t i = 0; i < tab->n_fds; i++) {
		if (sts[i].st_ino != st->st_ino || sts[i].st_dev != st->st_dev)
			continue;
		if (syscall(SYS_kcmp, pid, pid, 0 /* KCMP_FILE */, tab->fds[i]->fd, fd) == 0)
			return (int)i;
	}
	return -1;
}

static int dump_one_fd(struct dump_ctx *ctx, struct dtask *t, int fd, struct stat *sts)
{
	char path[64];
	_cleanup_free_ char *link = NULL;
	struct fd_info fi = { .fd = fd };
	Ferry__FdTable *tab = t->fds;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", t->pid, fd);
	if (read_link(path, &link) < 0 || stat(path, &fi.st) < 0 || read_fdinfo(t->pid, fd, &fi) < 0)
		return fe_set(ctx->err, errno ? errno : EIO, "pid %d: inspect fd %d", t->pid, fd);
	fi.link = link;

	Ferry__FdEntry *e = ARENA_NEW(&ctx->arena, Ferry__FdEntry);
	ferry__fd_entry__init(e);
	e->fd = fd;
	e->has_cloexec = 1;
	e->cloexec = fi.cloexec;
	int same = shared_with(t->pid, tab, &fi.st, sts, fd);
	if (same >= 0) {
		e->file_id = tab->fds[same]->file_id;
	} else {
		const struct file_ops *ops = NULL;
		for (int i = 0; file_kinds[i] && !ops; i++)
			if (file_kinds[i]->match(&fi, ctx->opts))
				ops = file_kinds[i];
		if (!ops)
			return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: fd %d is %s, which this version cannot checkpoint",
				      t->pid, fd, link);
		Ferry__FileEntry *fe = ARENA_NEW(&ctx->arena, Ferry__FileEntry);
		ferry__file_entry__init(fe);
		fe->id = ++ctx->next_file_id;
		fe->kind = ops->kind;
		fe->flags = fi.flags;
		fe->has_pos = 1;
		fe->pos = fi.pos;
		int r = ops->dump(ctx, t, &fi, fe);
		if (r < 0)
			return fe_wrap(ctx->err, r, "pid %d: fd %d (%s)", t->pid, fd, link);
		ctx->files.files[ctx->files.n_files++] = fe;
		e->file_id = fe->id;
	}
	sts[tab->n_fds] = fi.st;
	tab->fds[tab->n_fds++] = e;
	return 0;
}

static int files_dump(struct dump_ctx *ctx, struct dtask *t)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", t->pid);
	_cleanup_closedir_ DIR *d = opendir(path);
	if (!d)
		return fe_set(ctx->err, errno, "open %s", path);
	int fds[65536];
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < ARRAY_SIZE(fds))
		if (de->d_name[0] >= '0' && de->d_name[0] <= '9')
			fds[n++] = atoi(de->d_name);
	t->fds->pid = t->pid;
	t->fds->fds = ARENA_ARRAY(&ctx->arena, Ferry__FdEntry *, n + 1);
	Ferry__FileEntry **more = ARENA_ARRAY(&ctx->arena, Ferry__FileEntry *, ctx->files.n_files + n + 1);
	_cleanup_free_ struct stat *sts = calloc(n + 1, sizeof(*sts));
	if (!t->fds->fds || !more || !sts)
		return fe_set(ctx->err, ENOMEM, "fd table");
	if (ctx->files.n_files)
		memcpy(more, ctx->files.files, ctx->files.n_files * sizeof(*more));
	ctx->files.files = more;
	for (size_t i = 0; i < n; i++) {
		int r = dump_one_fd(ctx, t, fds[i], sts);
		if (r < 0)
			return r;
	}
	return 0;
}

int files_validate(const Ferry__Files *files, struct ferry_err *err)
{
	for (size_t i = 0; i < files->n_files; i++) {
		const Ferry__FileEntry *fe = files->files[i];
		if (!kind_ops(fe->kind))
			return fe_msg(err, EBADMSG, "files.img: file %u has unknown kind %d", fe->id, fe->kind);
		if (fe->kind != FERRY__FILE_KIND__FILE_TTY && (!fe->path || fe->path[0] != '/'))
			return fe_msg(err, EBADMSG, "files.img: file %u has no absolute path", fe->id);
	}
	return 0;
}

int files_max_fd(const Ferry__FdTable *fds)
{
	int max = -1;
	for (size_t i = 0; i < fds->n_fds; i++)
		if (fds->fds[i]->fd > max)
			max = fds->fds[i]->fd;
	return max;
}

static const Ferry__FileEntry *find_file(const Ferry__Files *files, uint32_t id)
{
	for (size_t i = 0; i < files->n_files; i++)
		if (files->files[i]->id == id)
			return files->files[i];
	return NULL;
}

/* An --inherit-fd whose key names this file, or -1. */
static int inherited(struct restore_ctx *ctx, const Ferry__FileEntry *fe)
{
	for (size_t i = 0; i < ctx->opts->n_inherit; i++)
		if (fe->path && strcmp(ctx->inherit_moved[i].key, fe->path) == 0)
			return ctx->inherit_moved[i].fd;
	return -1;
}

/*
 * In the new task, whose descriptors ≥ base are ferry's own (moved there before this runs):
 * open each file once, place it at every fd number that shared it, then drop the temporaries.
 */
static int files_restore_self(struct restore_ctx *ctx, struct rtask *t, struct ferry_err *err)
{
	const Ferry__FdTable *tab = t->fds;
	for (size_t i = 0; i < tab->n_fds; i++) {
		const Ferry__FdEntry *e = tab->fds[i];
		if (e->fd < 0 || e->fd >= 1 << 20)
			return fe_msg(err, EBADMSG, "fds-%d.img: bad fd number %d", t->pid, e->fd);
		/* Was this file opened for an earlier fd? Then share that open file description. */
		int src = -1;
		for (size_t k = 0; k < i; k++)
			if (tab->fds[k]->file_id == e->file_id) {
				src = tab->fds[k]->fd;
				break;
			}
		int fd;
		if (src >= 0) {
			fd = dup(src);
		} else {
			const Ferry__FileEntry *fe = find_file(ctx->files, e->file_id);
			if (!fe)
				return fe_msg(err, EBADMSG, "fds-%d.img: fd %d names missing file %u", t->pid, e->fd, e->file_id);
			int inh = inherited(ctx, fe);
			fd = inh >= 0 ? dup(inh) : kind_ops(fe->kind)->open(ctx, fe, err);
			if (fd < 0)
				return fe_wrap(err, fd == -1 ? -errno : fd, "fd %d", e->fd);
		}
		if (fd < 0)
			return fe_set(err, errno, "share fd %d", e->fd);
		if (fd != e->fd) {
			if (dup3(fd, e->fd, e->cloexec ? O_CLOEXEC : 0) < 0)
				return fe_set(err, errno, "place fd %d", e->fd);
			close(fd);
		} else if (e->cloexec) {
			fcntl(fd, F_SETFD, FD_CLOEXEC);
		}
	}
	return 0;
}

const struct task_obj_ops files_obj = {
	.name = "files",
	.dump = files_dump,
	.restore_self = files_restore_self,
};
