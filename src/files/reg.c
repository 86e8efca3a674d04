/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Regular files and directories, by path, flags and offset, and the path logic every file reached
 * by path shares (path.h). Dump: the path of an fd must still lead to its inode, through a mount
 * the task still has; if the inode was removed while open, ghost.c records how to make it again.
 * Restore: the path must still name the same file (same inode on the same boot, same type, size
 * and mode), else the restore is refused by name unless --allow-changed-files.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#define LOG_PREFIX "reg: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "files/path.h"

#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x1000U
#endif
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x4000U
#endif
#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"
#define DELETED_SUFFIX " (deleted)"

struct path_dump *path_dump_state(struct dump_ctx *ctx)
{
	if (!ctx->paths)
		ctx->paths = ARENA_NEW(&ctx->arena, struct path_dump);
	return ctx->paths;
}

struct path_restore *path_restore_state(struct restore_ctx *ctx)
{
	if (!ctx->paths && (ctx->paths = calloc(1, sizeof(*ctx->paths))))
		ctx->paths->same_boot = -1;
	return ctx->paths;
}

static const char *type_name(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "regular file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFIFO: return "FIFO";
	case S_IFSOCK: return "socket";
	case S_IFCHR: return "character device";
	case S_IFBLK: return "block device";
	}
	return "file of unknown type";
}

/* ---------------------------------------------------------------- dump */

/* The mount a file was opened through: the 32-bit id (as fdinfo shows it) and the unique one. */
static void mount_ids(const struct fd_info *fi, Ferry__RegEntry *r)
{
	const char *m = fdinfo_field(fi, "mnt_id");
	struct statx sx;
	if (m) {
		r->has_mnt_id = 1;
		r->mnt_id = strtoull(m, NULL, 10);
	}
	if (fi->stolen < 0)
		return;
	if (!m && statx(fi->stolen, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) == 0 && (sx.stx_mask & STATX_MNT_ID)) {
		r->has_mnt_id = 1;
		r->mnt_id = sx.stx_mnt_id;
	}
	if (statx(fi->stolen, "", AT_EMPTY_PATH, STATX_MNT_ID_UNIQUE, &sx) == 0 && (sx.stx_mask & STATX_MNT_ID_UNIQUE)) {
		r->has_mnt_unique = 1;
		r->mnt_unique = sx.stx_mnt_id;
	}
}

/*
 * The mount ids of pid's mount namespace, cached per namespace. A chrooted task's mountinfo lists
 * only the mounts below its root: in ferry's own namespace ferry's (unchrooted) list is read instead.
 */
static int load_mounts(struct dump_ctx *ctx, struct path_dump *pd, pid_t pid)
{
	char path[64];
	_cleanup_free_ char *text = NULL;
	struct stat ns, own;
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
	if (stat(path, &ns) < 0)
		return fe_set(ctx->err, errno, "stat %s", path);
	if (pd->mnt_ids && pd->mnt_ns == ns.st_ino)
		return 0;
	if (stat("/proc/self/ns/mnt", &own) == 0 && own.st_ino == ns.st_ino)
		snprintf(path, sizeof(path), "/proc/self/mountinfo");
	else
		PROC_PATH(path, pid, "mountinfo");
	int r = read_file(path, &text, NULL);
	if (r < 0)
		return fe_set(ctx->err, -r, "read %s", path);
	size_t n = 1;
	for (const char *p = text; *p; p++)
		n += *p == '\n';
	pd->mnt_ids = ARENA_ARRAY(&ctx->arena, uint64_t, n);
	if (!pd->mnt_ids)
		return fe_set(ctx->err, ENOMEM, "mount table");
	pd->n_mnt_ids = 0;
	for (const char *p = text; *p;) {
		pd->mnt_ids[pd->n_mnt_ids++] = strtoull(p, NULL, 10);
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
	pd->mnt_ns = ns.st_ino;
	return 0;
}

/* A file opened through a mount that was unmounted since (umount -l) cannot be reached again. */
static int check_mount(struct dump_ctx *ctx, struct dtask *t, const Ferry__RegEntry *r, const char *link)
{
	struct path_dump *pd = path_dump_state(ctx);
	if (!pd)
		return fe_set(ctx->err, ENOMEM, "path state");
	if (!t || !r->has_mnt_id)
		return 0;
	int rc = load_mounts(ctx, pd, t->pid);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < pd->n_mnt_ids; i++)
		if (pd->mnt_ids[i] == r->mnt_id)
			return 0;
	return fe_msg(ctx->err, EOPNOTSUPP, "%s was opened through mount %llu, which is no longer mounted "
		      "(unmounted while the file is open): it cannot be reached again", link,
		      (unsigned long long)r->mnt_id);
}

static int save_boot_id(struct dump_ctx *ctx)
{
	char *text = NULL;
	size_t len;
	if (ctx->files.has_boot_id)
		return 0;
	int r = read_file(BOOT_ID_PATH, &text, &len);
	if (r < 0)
		return fe_set(ctx->err, -r, "read %s", BOOT_ID_PATH);
	ctx->files.boot_id.data = arena_memdup(&ctx->arena, text, len);
	ctx->files.boot_id.len = len;
	ctx->files.has_boot_id = ctx->files.boot_id.data != NULL;
	free(text);
	return ctx->files.has_boot_id ? 0 : fe_set(ctx->err, ENOMEM, "boot id");
}

/*
 * Where the inode is reached: the link itself when it names the inode (a real name may end in
 * " (deleted)" too), or, for a removed one, the link without its suffix. *deleted says which.
 */
static int resolve(struct dump_ctx *ctx, const char *link, const struct stat *st, size_t *len, int *deleted)
{
	struct stat ls;
	size_t n = strlen(link), sl = strlen(DELETED_SUFFIX);
	*len = n;
	*deleted = 0;
	if (fstatat(AT_FDCWD, link, &ls, AT_SYMLINK_NOFOLLOW) == 0 && ls.st_dev == st->st_dev &&
	    ls.st_ino == st->st_ino)
		return 0;
	if (n > sl && strcmp(link + n - sl, DELETED_SUFFIX) == 0) {
		*len = n - sl;
		*deleted = 1;
		return 0;
	}
	return fe_msg(ctx->err, EOPNOTSUPP, "%s no longer leads to the open %s (inode %llu): it was mounted over, "
		      "or lives in another mount namespace", link, type_name(st->st_mode), (unsigned long long)st->st_ino);
}

int path_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	_cleanup_free_ char *own = NULL;
	const char *link = fi->link;
	char proc[64];
	if (!fi->fdinfo && fi->stolen >= 0) {	/* a mapping: the real name, not maps' escaped one */
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fi->stolen);
		if (read_link(proc, &own) == 0)
			link = own;
	}
	Ferry__RegEntry *r = ARENA_NEW(&ctx->arena, Ferry__RegEntry);
	if (!r)
		return fe_set(ctx->err, ENOMEM, "file entry");
	ferry__reg_entry__init(r);
	fe->reg = r;
	r->has_dev = r->has_uid = r->has_gid = r->has_nlink = 1;
	r->dev = fi->st.st_dev;
	r->uid = fi->st.st_uid;
	r->gid = fi->st.st_gid;
	r->nlink = fi->st.st_nlink;
	fe->has_mode = fe->has_ino = 1;
	fe->mode = fi->st.st_mode;
	fe->ino = fi->st.st_ino;
	if (S_ISREG(fi->st.st_mode)) {
		fe->has_size = 1;
		fe->size = fi->st.st_size;
	}
	mount_ids(fi, r);
	size_t len;
	int deleted, rc;
	if ((rc = save_boot_id(ctx)) < 0 || (rc = check_mount(ctx, t, r, link)) < 0 ||
	    (rc = resolve(ctx, link, &fi->st, &len, &deleted)) < 0)
		return rc;
	if (!(fe->path = arena_memdup(&ctx->arena, link, len + 1)))
		return fe_set(ctx->err, ENOMEM, "file entry");
	fe->path[len] = 0;
	if (!deleted)
		return 0;
	fe->has_deleted = fe->deleted = 1;
	return ghost_dump(ctx, fi, fe);
}

/* ---------------------------------------------------------------- restore */

int path_same_boot(struct restore_ctx *ctx)
{
	struct path_restore *pr = path_restore_state(ctx);
	if (!pr)
		return 0;
	if (pr->same_boot < 0) {
		char *text = NULL;
		size_t len = 0;
		pr->same_boot = ctx->files->has_boot_id && read_file(BOOT_ID_PATH, &text, &len) == 0 &&
				len == ctx->files->boot_id.len && memcmp(text, ctx->files->boot_id.data, len) == 0;
		free(text);
	}
	return pr->same_boot;
}

int path_open_flags(const Ferry__FileEntry *fe)
{
	int f = files_open_flags(fe->flags);
	return f & K_O_TMPFILE ? f & ~(K_O_TMPFILE | O_DIRECTORY) : f;	/* O_TMPFILE is both bits */
}

/* A change since the dump: refused by name unless --allow-changed-files (then a warning). */
static int changed(struct restore_ctx *ctx, const char *path, struct ferry_err *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int changed(struct restore_ctx *ctx, const char *path, struct ferry_err *err, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (ctx->opts->allow_changed_files) {
		pr_warn("%s %s (accepted: --allow-changed-files)\n", path, what);
		return 0;
	}
	return fe_msg(err, ESTALE, "%s %s: restore with --allow-changed-files to accept it", path, what);
}

int path_check(struct restore_ctx *ctx, const Ferry__FileEntry *fe, const char *path, const struct stat *st,
	       struct ferry_err *err)
{
	const Ferry__RegEntry *r = fe->reg;
	if (fe->has_mode && (st->st_mode & S_IFMT) != (fe->mode & S_IFMT))
		return fe_msg(err, ESTALE, "%s is a %s now, it was a %s", path, type_name(st->st_mode),
			      type_name(fe->mode));
	if (r && r->has_dev && fe->has_ino && path_same_boot(ctx) &&
	    (st->st_dev != r->dev || st->st_ino != fe->ino))
		return changed(ctx, path, err, "is another file now (inode %llu on %u:%u, was %llu on %u:%u)",
			       (unsigned long long)st->st_ino, major(st->st_dev), minor(st->st_dev),
			       (unsigned long long)fe->ino, major(r->dev), minor(r->dev));
	if (S_ISREG(st->st_mode) && fe->has_size && (uint64_t)st->st_size != fe->size)
		return changed(ctx, path, err, "changed size since the dump (%lld bytes, was %llu)",
			       (long long)st->st_size, (unsigned long long)fe->size);
	if (fe->has_mode && !S_ISLNK(st->st_mode) && (st->st_mode & 07777) != (fe->mode & 07777))
		return changed(ctx, path, err, "changed mode since the dump (%04o, was %04o)", st->st_mode & 07777,
			       fe->mode & 07777);
	return 0;
}

/* The mount the new descriptor went through, against the dump's (same boot only). */
static int check_mount_now(struct restore_ctx *ctx, const Ferry__FileEntry *fe, int fd, struct ferry_err *err)
{
	struct statx sx;
	const Ferry__RegEntry *r = fe->reg;
	if (!r || !r->has_mnt_unique || !path_same_boot(ctx) ||
	    statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID_UNIQUE, &sx) < 0 || !(sx.stx_mask & STATX_MNT_ID_UNIQUE) ||
	    sx.stx_mnt_id == r->mnt_unique)
		return 0;
	return changed(ctx, fe->path, err, "is reached through another mount than at dump (mount %llu, was %llu: "
		       "the one it was opened through was unmounted or replaced)", (unsigned long long)sx.stx_mnt_id,
		       (unsigned long long)r->mnt_unique);
}

static int seek_to(const Ferry__FileEntry *fe, int fd, struct ferry_err *err)
{
	if (!fe->has_pos || !fe->pos || (fe->flags & O_PATH) || lseek(fd, (off_t)fe->pos, SEEK_SET) >= 0 ||
	    errno == ESPIPE)
		return 0;
	return fe_set(err, errno, "seek %s to %llu", fe->path, (unsigned long long)fe->pos);
}

int path_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, int flags, struct ferry_err *err)
{
	if (!fe->path || fe->path[0] != '/' || strlen(fe->path) >= PATH_MAX)
		return fe_msg(err, EBADMSG, "files.img: file %u has no absolute path", fe->id);
	if (fe->deleted)
		return ghost_open(ctx, fe, flags, err);
	struct stat before, st;
	if (fstatat(AT_FDCWD, fe->path, &before, AT_SYMLINK_NOFOLLOW) < 0)
		return fe_set(err, errno, "%s", fe->path);
	int r = path_check(ctx, fe, fe->path, &before, err);	/* before opening: a FIFO in its place would block */
	if (r < 0)
		return r;
	_cleanup_close_ int fd = open(fe->path, (flags ? flags : path_open_flags(fe)) | O_CLOEXEC);
	if (fd < 0)
		return fe_set(err, errno, "open %s", fe->path);
	if (fstat(fd, &st) < 0)
		return fe_set(err, errno, "stat %s", fe->path);
	if (st.st_dev != before.st_dev || st.st_ino != before.st_ino)
		return fe_msg(err, ESTALE, "%s was replaced while it was opened", fe->path);
	if ((r = check_mount_now(ctx, fe, fd, err)) < 0 || (r = seek_to(fe, fd, err)) < 0)
		return r;
	return TAKE_FD(fd);
}

/* ---------------------------------------------------------------- ops */

static int reg_match(const struct fd_info *fi, const struct dump_opts *o)
{
	return S_ISREG(fi->st.st_mode) && fi->link[0] == '/';
}

static int dir_match(const struct fd_info *fi, const struct dump_opts *o)
{
	return S_ISDIR(fi->st.st_mode) && fi->link[0] == '/';
}

static int reg_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	return path_dump(ctx, t, fi, fe);
}

static int reg_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	return path_open(ctx, fe, 0, err);
}

const struct file_ops reg_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_REG, .name = "regular file",
	.match = reg_match, .dump = reg_dump, .open = reg_open,
};

const struct file_ops dir_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_DIR, .name = "directory",
	.match = dir_match, .dump = reg_dump, .open = reg_open,
};
