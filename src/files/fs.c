/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The working and root directories of each process, and of each thread that has its own (it left
 * the process's fs with unshare(CLONE_FS)), kept as entries of files.img (FILE_DIR, O_PATH): a
 * removed one is made again with everything else that held it (ghost.c), so a removed working
 * directory is still removed, and is the very directory an open descriptor, a mapping or a watch
 * names. At restore the process, and such a thread, gets both by injection: fchdir(root),
 * chroot("."), fchdir(cwd).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#define LOG_PREFIX "fs: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "files/path.h"
#include "task/task.h"

#define KCMP_FS 3

/* A directory entry cwd/root can be: one reached by path, or one under /proc/PID of the tree (proc.c). */
static int is_dir_entry(const Ferry__FileEntry *e)
{
	return e && (e->kind == FERRY__FILE_KIND__FILE_DIR ||
		     (e->kind == FERRY__FILE_KIND__FILE_PROC && e->has_mode && S_ISDIR(e->mode)));
}

/*
 * The entry of the directory /proc/PID[/task/TID]/<what> names: one already dumped for that
 * inode, or a new one. tid 0: the process's own.
 */
static int dump_dir(struct dump_ctx *ctx, struct dtask *t, pid_t tid, const char *what, uint32_t *id)
{
	char proc[96], desc[64];
	struct fd_info fi = { .fd = -1, .flags = O_PATH | O_DIRECTORY };
	if (tid)
		snprintf(proc, sizeof(proc), "/proc/%d/task/%d/%s", t->pid, tid, what);
	else
		snprintf(proc, sizeof(proc), "/proc/%d/%s", t->pid, what);
	const char *which = strcmp(what, "cwd") ? "root" : "working";
	if (tid)
		snprintf(desc, sizeof(desc), "thread %d's %s directory", tid, which);
	else
		snprintf(desc, sizeof(desc), "%s directory", which);
	_cleanup_close_ int fd = open(proc, O_PATH | O_DIRECTORY | O_CLOEXEC);
	_cleanup_free_ char *l = NULL;
	int r = fd < 0 || fstat(fd, &fi.st) < 0 ? -errno : read_link(proc, &l);
	if (r == -ENAMETOOLONG)
		return path_refuse_long(ctx, t, proc, desc);
	if (r < 0)
		return fe_set(ctx->err, -r, "pid %d: read its %s", t->pid, desc);
	for (size_t i = 0; i < ctx->files.n_files; i++) {
		const Ferry__FileEntry *e = ctx->files.files[i];
		if (e->kind == FERRY__FILE_KIND__FILE_DIR && e->reg && e->ino == fi.st.st_ino && e->reg->dev == fi.st.st_dev) {
			*id = e->id;
			return 0;
		}
	}
	fi.link = l;
	fi.stolen = fd;
	r = files_dump_object(ctx, t, &fi, id);
	return r < 0 ? fe_wrap(ctx->err, r, "%s", desc) : 0;
}

/* A thread that left the process's fs (unshare(CLONE_FS)): its directories, in its ThreadFs. */
static int dump_thread_dirs(struct dump_ctx *ctx, struct dtask *t, struct dthread *th)
{
	if (syscall(SYS_kcmp, t->pid, th->tid, KCMP_FS, 0, 0) == 0)
		return 0;
	Ferry__ThreadAttrs *a = task_thread_attrs(ctx, th);
	if (a && !a->fs && (a->fs = ARENA_NEW(&ctx->arena, Ferry__ThreadFs)))
		ferry__thread_fs__init(a->fs);	/* misc.c fills in its paths and umask */
	if (!a || !a->fs)
		return fe_set(ctx->err, ENOMEM, "thread fs");
	int r = dump_dir(ctx, t, th->tid, "cwd", &a->fs->cwd_file);
	if (r == 0)
		r = dump_dir(ctx, t, th->tid, "root", &a->fs->root_file);
	a->fs->has_cwd_file = a->fs->has_root_file = r == 0;
	return r;
}

/* TaskCore's cwd and root strings stay misc.c's (task/), as do a thread's; these are the directories. */
static int fs_dump(struct dump_ctx *ctx, struct dtask *t)
{
	Ferry__TaskCore *c = t->core;
	int r = dump_dir(ctx, t, 0, "cwd", &c->cwd_file);
	if (r == 0)
		r = dump_dir(ctx, t, 0, "root", &c->root_file);
	c->has_cwd_file = c->has_root_file = r == 0;
	for (size_t i = 1; r == 0 && i < t->nthreads; i++)
		r = dump_thread_dirs(ctx, t, &t->threads[i]);
	return r;
}

/* Gives the task ferry's descriptor of file id and calls nr(fd) in it. */
static int with_dir(struct restore_ctx *ctx, struct injector *inj, uint32_t id, const char *what, long nr)
{
	const Ferry__FileEntry *fe = files_find_id(ctx, id);
	int mine = files_master_fd(ctx, id);
	long fd, ret;
	if (!is_dir_entry(fe) || mine < 0)
		return fe_msg(ctx->err, EBADMSG, "core image: the %s directory is file %u, not a directory of files.img", what, id);
	char desc[64];
	snprintf(desc, sizeof(desc), "change into the %s directory", what);
	int r = files_fetch(ctx, inj, mine, &fd);
	if (r < 0)
		return r;
	r = RINJ(ctx, inj, &ret, desc, nr, fd);
	RINJ(ctx, inj, &ret, "close", SYS_close, fd);
	return r < 0 ? fe_wrap(ctx->err, r, "%s", fe->path) : 0;
}

/* Through inj (a thread of the fs_struct to set): fchdir(root), chroot("."), fchdir(cwd). */
static int set_dirs(struct restore_ctx *ctx, struct injector *inj, int has_root, uint32_t root_id, uint32_t cwd_id)
{
	const Ferry__FileEntry *root = has_root ? files_find_id(ctx, root_id) : NULL;
	long ret;
	int r;
	if (root && (root->deleted || !root->path || strcmp(root->path, "/"))) {
		uint64_t dot = inj_scratch_put(inj, 0, ".", 2);
		if ((r = with_dir(ctx, inj, root_id, "root", SYS_fchdir)) < 0 ||
		    (r = RINJ(ctx, inj, &ret, "chroot", SYS_chroot, dot)) < 0)
			return fe_wrap(ctx->err, r, "%s", root->path);
	}
	return with_dir(ctx, inj, cwd_id, "working", SYS_fchdir);
}

static int fs_restore(struct restore_ctx *ctx, struct rtask *t)
{
	const Ferry__TaskCore *c = t->core;
	if (!c->has_cwd_file)	/* an older image: misc.c goes by path */
		return 0;
	return set_dirs(ctx, &t->threads[0].inj, c->has_root_file, c->root_file, c->cwd_file);
}

/* A thread with an fs of its own (cloned without CLONE_FS) gets its directories the same way. */
static int fs_restore_thread(struct restore_ctx *ctx, struct rtask *t, struct rthread *th)
{
	const Ferry__ThreadFs *fs = th->core && th->core->attrs ? th->core->attrs->fs : NULL;
	if (!fs || !fs->has_cwd_file)	/* shares the process's, or an older image: misc.c goes by path */
		return 0;
	return set_dirs(ctx, &th->inj, fs->has_root_file, fs->root_file, fs->cwd_file);
}

const struct task_obj_ops fs_obj = {
	.name = "fs",
	.dump = fs_dump,
	.restore_inject = fs_restore,
	.restore_thread = fs_restore_thread,
};
