/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Regular files and directories, by path, flags and offset, and the path logic every file reached
 * by path shares (path.h). Dump: the path of an fd must still lead to its inode, through a mount
 * the task still has; if the inode was removed while open, ghost.c records how to make it again.
 * Restore: the path must still name the same file (same inode on the same boot, same type, size
 * and mode), else the restore is refused by name unless --allow-changed-files.
 */
#include <dirent.h>
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
	if (!deleted && (fe->flags & O_ACCMODE) == O_WRONLY && (fe->flags & O_APPEND))
		fe->has_size = 0;	/* a log others may append to: its size is not checked at restore (as CRIU) */
	if (!deleted)
		return 0;
	fe->has_deleted = fe->deleted = 1;
	return ghost_dump(ctx, fi, fe);
}

/* ---------------------------------------------------------------- names longer than PATH_MAX */

#define LONG_SEARCH_NODES 200000	/* entries looked at to find a file's directory, at most */
#define LONG_SEARCH_DEPTH 256
#define LONG_LEVELS_MAX 4096
#define LONG_PREFIX_MAX 64		/* the ancestor shown whole */
#define LONG_SHOW_FRONT 256		/* then names down to the first long one, within this */

struct long_name {
	char *prefix;		/* an ancestor the kernel can name */
	char **names;		/* the names below it, outermost first */
	size_t n;
	size_t len;		/* bytes of the whole path */
};

static void long_name_free(struct long_name *ln)
{
	for (size_t i = 0; i < ln->n; i++)
		free(ln->names[i]);
	free(ln->names);
	free(ln->prefix);
}

/* A stream of dir's entries (opened afresh: dir may be O_PATH), or NULL with errno. */
static DIR *entries_of(int dir)
{
	int fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d && fd >= 0)
		close(fd);
	return d;
}

/* Whether entry de of d is the inode st (d_ino first, then the entry itself). */
static int entry_is(DIR *d, const struct dirent *de, const struct stat *st)
{
	struct stat es;
	return de->d_ino == st->st_ino && strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
	       fstatat(dirfd(d), de->d_name, &es, AT_SYMLINK_NOFOLLOW) == 0 && es.st_ino == st->st_ino &&
	       es.st_dev == st->st_dev;
}

/* The name of directory child in its parent (readdir, by inode), or -errno. */
static int name_in(int parent, const struct stat *child, char **out)
{
	_cleanup_closedir_ DIR *d = entries_of(parent);
	if (!d)
		return -errno;
	for (struct dirent *de; (de = readdir(d));)
		if (entry_is(d, de, child))
			return (*out = strdup(de->d_name)) ? 0 : -ENOMEM;
	return -ENOENT;
}

/* dir's path, however long: names found walking up ("..") to an ancestor the kernel names briefly. */
static int dir_long_name(int dir, struct long_name *ln)
{
	_cleanup_close_ int cur = fcntl(dir, F_DUPFD_CLOEXEC, 0);
	char proc[64];
	struct stat st, up;
	while (cur >= 0 && ln->n < LONG_LEVELS_MAX) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", cur);
		if (read_link(proc, &ln->prefix) == 0 && strlen(ln->prefix) <= LONG_PREFIX_MAX)
			break;	/* short enough to be shown whole */
		free(ln->prefix);
		ln->prefix = NULL;
		int parent = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		char **grown = realloc(ln->names, (ln->n + 1) * sizeof(*grown));
		if (grown)
			ln->names = grown;
		int r = parent < 0 || fstat(cur, &st) < 0 || fstat(parent, &up) < 0 ? -errno : grown ? 0 : -ENOMEM;
		if (r == 0 && up.st_ino == st.st_ino && up.st_dev == st.st_dev)
			r = -ELOOP;	/* the root, and still no name */
		if (r == 0)
			r = name_in(parent, &st, &ln->names[ln->n]);
		if (r < 0) {
			if (parent >= 0)
				close(parent);
			return r;
		}
		ln->n++;
		close(cur);
		cur = parent;
	}
	if (!ln->prefix)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < ln->n / 2; i++) {	/* found innermost first */
		char *x = ln->names[i];
		ln->names[i] = ln->names[ln->n - 1 - i];
		ln->names[ln->n - 1 - i] = x;
	}
	ln->len = strlen(ln->prefix);
	for (size_t i = 0; i < ln->n; i++)
		ln->len += 1 + strlen(ln->names[i]);
	return 0;
}

/* Depth first below dir (one filesystem, no symlinks): the directory holding st's inode, and its name. */
static int find_below(int dir, const struct stat *st, long *budget, int depth, char **name)
{
	_cleanup_closedir_ DIR *d = entries_of(dir);
	struct stat sub;
	for (struct dirent *de; d && (de = readdir(d)) && --*budget > 0;) {
		if (entry_is(d, de, st)) {
			*name = strdup(de->d_name);
			return *name ? fcntl(dirfd(d), F_DUPFD_CLOEXEC, 0) : -1;
		}
		if (de->d_type != DT_DIR || depth >= LONG_SEARCH_DEPTH || !strcmp(de->d_name, ".") ||
		    !strcmp(de->d_name, ".."))
			continue;
		_cleanup_close_ int child = openat(dirfd(d), de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (child >= 0 && fstat(child, &sub) == 0 && sub.st_dev == st->st_dev) {
			int found = find_below(child, st, budget, depth + 1, name);
			if (found >= 0)
				return found;
		}
	}
	return -1;
}

#ifndef AT_HANDLE_CONNECTABLE
#define AT_HANDLE_CONNECTABLE 0x002
#endif
#define FILEID_INO32_GEN 1
#define FILEID_INO32_GEN_PARENT 2

/*
 * The directory holding a non-directory, from a connectable file handle when the filesystem
 * encodes its parent the common way (ext4 and others: inode and generation of both).
 */
static int parent_by_handle(int fd, int mnt_id)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + 64];
	} h = { .fh.handle_bytes = 64 };
	int mid;
	uint32_t w[4];
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);	/* not AT_EMPTY_PATH: the parent would be unknown */
	if (name_to_handle_at(AT_FDCWD, proc, &h.fh, &mid, AT_SYMLINK_FOLLOW | AT_HANDLE_CONNECTABLE) < 0 ||
	    (h.fh.handle_type & 0xffff) != FILEID_INO32_GEN_PARENT || h.fh.handle_bytes != sizeof(w))
		return -1;	/* the type's high bits are flags (connectable, directory) */
	memcpy(w, h.fh.f_handle, sizeof(w));
	memcpy(h.fh.f_handle, w + 2, 2 * sizeof(*w));	/* the parent's inode and generation */
	h.fh.handle_bytes = 2 * sizeof(*w);
	h.fh.handle_type = FILEID_INO32_GEN;
	_cleanup_free_ char *mnt = NULL;
	if (mount_path_by_id(mnt_id, &mnt) < 0)
		return -1;
	_cleanup_close_ int m = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int dir = m < 0 ? -1 : open_by_handle_at(m, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	pr_debug("the directory of %s from its file handle: %s\n", proc, dir >= 0 ? "found" : strerror(errno));
	return dir;
}

/* "/NAME", or "/dddddddddddd…(200 bytes)" for a long one; 1 when shortened. */
static int show_name(char *buf, size_t size, size_t *at, const char *name)
{
	size_t len = strlen(name);
	if (*at >= size)
		return 1;
	if (len > 24)
		*at += (size_t)snprintf(buf + *at, size - *at, "/%.12s…(%zu bytes)", name, len);
	else
		*at += (size_t)snprintf(buf + *at, size - *at, "/%s", name);
	return len > 24;
}

/*
 * "/work/dir/dddddddddddd…(200 bytes)/…(23 more)…/dddddddddddd…(200 bytes)/NAME": a path too
 * long to print, shortened: the names down to the first long one, then the last two.
 */
static void long_name_show(const struct long_name *ln, char *buf, size_t size)
{
	size_t at = (size_t)snprintf(buf, size, "%s", strcmp(ln->prefix, "/") ? ln->prefix : "");
	size_t tail = ln->n > 2 ? ln->n - 2 : 0, i = 0;
	while (i < tail && at < LONG_SHOW_FRONT && !show_name(buf, size, &at, ln->names[i++]))
		;
	if (i < tail && at < size)
		at += (size_t)snprintf(buf + at, size - at, "/…(%zu more)…", tail - i);
	for (i = i > tail ? i : tail; i < ln->n; i++)
		show_name(buf, size, &at, ln->names[i]);
}

/*
 * The kernel names no file whose path is longer than PATH_MAX (readlink of /proc/PID/fd/N fails),
 * so it cannot be opened again by path. Refuses it, naming it as well as it can: its directory
 * (the file itself, its parent from a connectable file handle, or found below the task's working
 * directory or its mount), named by walking up from it.
 */
int path_refuse_long(struct dump_ctx *ctx, struct dtask *t, const char *proc, const char *what)
{
	_cleanup_close_ int fd = open(proc, O_PATH | O_CLOEXEC);
	struct long_name ln = { 0 };
	struct stat st;
	char shown[640] = "", cwd[64];
	if (fd < 0 || fstat(fd, &st) < 0)
		return fe_set(ctx->err, errno, "pid %d: %s: its path is longer than PATH_MAX; and then", t->pid, what);
	int r = -ENOENT;
	if (S_ISDIR(st.st_mode)) {
		r = dir_long_name(fd, &ln);
	} else {
		_cleanup_free_ char *name = NULL, *mnt = NULL;
		struct statx sx;
		long budget = LONG_SEARCH_NODES;
		int mnt_id = statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) == 0 && (sx.stx_mask & STATX_MNT_ID) ?
			     (int)sx.stx_mnt_id : -1;
		int dir = mnt_id >= 0 ? parent_by_handle(fd, mnt_id) : -1;
		if (dir >= 0 && name_in(dir, &st, &name) < 0) {
			close(dir);
			dir = -1;
		}
		_cleanup_close_ int top = dir < 0 ? open(PROC_PATH(cwd, t->pid, "cwd"), O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
		if (top >= 0)
			dir = find_below(top, &st, &budget, 0, &name);
		if (dir < 0 && mnt_id >= 0 && mount_path_by_id(mnt_id, &mnt) == 0) {
			_cleanup_close_ int m = open(mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);
			dir = m >= 0 ? find_below(m, &st, &budget, 0, &name) : -1;
		}
		if (dir >= 0 && (r = dir_long_name(dir, &ln)) == 0) {
			char **grown = realloc(ln.names, (ln.n + 1) * sizeof(*grown));
			r = grown ? 0 : -ENOMEM;
			if (grown) {
				ln.names = grown;
				ln.names[ln.n++] = TAKE_PTR(name);
				ln.len += 1 + strlen(ln.names[ln.n - 1]);
			}
		}
		if (dir >= 0)
			close(dir);
	}
	if (r == 0)
		long_name_show(&ln, shown, sizeof(shown));
	int rc = fe_msg(ctx->err, ENAMETOOLONG, "pid %d: %s: the %s %s%s(inode %llu on %u:%u) has a path %s%zu bytes "
			"long, more than PATH_MAX (%d): the kernel cannot name it, so it could not be opened again by "
			"path: not supported", t->pid, what, type_name(st.st_mode), shown, r == 0 ? " " : "",
			(unsigned long long)st.st_ino, major(st.st_dev), minor(st.st_dev), r == 0 ? "" : "over ",
			r == 0 ? ln.len : (size_t)PATH_MAX, PATH_MAX);
	long_name_free(&ln);
	return rc;
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
