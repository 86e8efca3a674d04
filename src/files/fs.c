/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The working and root directories of each process, kept as entries of files.img (FILE_DIR,
 * O_PATH): a removed one is made again with everything else that held it (ghost.c), so a removed
 * working directory is still removed, and is the very directory an open descriptor names. At
 * restore the process gets both by injection: fchdir(root), chroot("."), fchdir(cwd).
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

/* The entry of the directory /proc/PID/<what> names: one already dumped for that inode, or a new one. */
static int dump_dir(struct dump_ctx *ctx, struct dtask *t, const char *what, uint32_t *id)
{
	char proc[64];
	struct fd_info fi = { .fd = -1, .flags = O_PATH | O_DIRECTORY };
	snprintf(proc, sizeof(proc), "/proc/%d/%s", t->pid, what);
	_cleanup_close_ int fd = open(proc, O_PATH | O_DIRECTORY | O_CLOEXEC);
	_cleanup_free_ char *l = NULL;
	if (fd < 0 || fstat(fd, &fi.st) < 0 || read_link(proc, &l) < 0)
		return fe_set(ctx->err, errno, "pid %d: read its %s directory", t->pid, what);
	for (size_t i = 0; i < ctx->files.n_files; i++) {
		const Ferry__FileEntry *e = ctx->files.files[i];
		if (e->kind == FERRY__FILE_KIND__FILE_DIR && e->reg && e->ino == fi.st.st_ino && e->reg->dev == fi.st.st_dev) {
			*id = e->id;
			return 0;
		}
	}
	fi.link = l;
	fi.stolen = fd;
	int r = files_dump_object(ctx, t, &fi, id);
	return r < 0 ? fe_wrap(ctx->err, r, "%s directory", what) : 0;
}

/* TaskCore's cwd and root strings stay misc.c's (task/); these are the directories themselves. */
static int fs_dump(struct dump_ctx *ctx, struct dtask *t)
{
	Ferry__TaskCore *c = t->core;
	int r = dump_dir(ctx, t, "cwd", &c->cwd_file);
	if (r == 0)
		r = dump_dir(ctx, t, "root", &c->root_file);
	c->has_cwd_file = c->has_root_file = r == 0;
	return r;
}

/* Gives the task ferry's descriptor of file id and calls nr(fd) in it. */
static int with_dir(struct restore_ctx *ctx, struct injector *inj, uint32_t id, const char *what, long nr)
{
	const Ferry__FileEntry *fe = files_find_id(ctx, id);
	int mine = files_master_fd(ctx, id);
	long fd, ret;
	if (!fe || fe->kind != FERRY__FILE_KIND__FILE_DIR || mine < 0)
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

static int fs_restore(struct restore_ctx *ctx, struct rtask *t)
{
	const Ferry__TaskCore *c = t->core;
	struct injector *inj = &t->threads[0].inj;
	long ret;
	int r = 0;
	if (!c->has_cwd_file)	/* an older image: misc.c goes by path */
		return 0;
	const Ferry__FileEntry *root = c->has_root_file ? files_find_id(ctx, c->root_file) : NULL;
	if (root && (root->deleted || !root->path || strcmp(root->path, "/"))) {
		uint64_t dot = inj_scratch_put(inj, 0, ".", 2);
		if ((r = with_dir(ctx, inj, c->root_file, "root", SYS_fchdir)) < 0 ||
		    (r = RINJ(ctx, inj, &ret, "chroot", SYS_chroot, dot)) < 0)
			return fe_wrap(ctx->err, r, "%s", root->path);
	}
	return with_dir(ctx, inj, c->cwd_file, "working", SYS_fchdir);
}

const struct task_obj_ops fs_obj = {
	.name = "fs",
	.dump = fs_dump,
	.restore_inject = fs_restore,
};
