/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inodes removed while open ("ghosts"): files, directories, symlinks, FIFOs, sockets and device
 * nodes whose name is gone while a descriptor, a mapping, a working directory still holds them.
 *
 * Dump: the entries that hold one inode (same dev and ino) are one group; the first one dumped
 * carries what makes the inode again: the content of a regular file (ghost-ID.img, holes kept),
 * its owner, mode, timestamps and xattrs; or, when the inode still has a name elsewhere, that
 * name (found beside the removed one, or a hidden link made with --link-remap); or a symlink's
 * target, a node's device number.
 *
 * Restore: the first entry of a group opened makes the inode once under a temporary name, puts
 * it under every removed name the group's entries had (RENAME_EXCHANGE with whatever holds that
 * name now, put back afterwards), opens every entry through its own name, and removes the names
 * again: every descriptor is the same inode, and /proc/PID/fd shows "NAME (deleted)" as before.
 * Parent directories that are gone are made for the moment and removed again. A file made with
 * O_TMPFILE never had a name and is made with O_TMPFILE again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>
#define LOG_PREFIX "ghost: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "files/path.h"
#include "image/blob.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#define RENAME_EXCHANGE 2
#endif
#define XATTRS_MAX 256			/* per inode, checked at dump and restore */
#define XATTR_VALUE_MAX 65536
#define OWN_KEY(id) ((0x67ULL << 56) | (uint64_t)(id))	/* an entry's descriptor, made by its group */

/* ---------------------------------------------------------------- dump */

/* An entry dumped earlier for the same removed inode, or NULL. */
static Ferry__FileEntry *dumped_sibling(struct dump_ctx *ctx, const Ferry__FileEntry *fe)
{
	for (size_t i = 0; i < ctx->files.n_files; i++) {
		Ferry__FileEntry *e = ctx->files.files[i];
		if (e->deleted && e->reg && e->has_ino && e->ino == fe->ino && e->reg->dev == fe->reg->dev)
			return e;
	}
	return NULL;
}

/* A descriptor of ferry's own on the inode (through /proc: a write-only or O_PATH one reads too). */
static int reopen_stolen(const struct fd_info *fi, int flags)
{
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fi->stolen);
	int fd = open(proc, flags | O_NOATIME | O_CLOEXEC);	/* not even atime changes */
	if (fd < 0 && errno == EPERM)
		fd = open(proc, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/*
 * The inode's xattrs, read through the magic link of ferry's descriptor: nothing is opened, so a
 * watch or fanotify mark on the removed inode sees no open or close from the dump.
 */
static int dump_xattrs(struct dump_ctx *ctx, const struct fd_info *fi, Ferry__RegEntry *r, const char *path)
{
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fi->stolen);
	ssize_t n = listxattr(proc, NULL, 0);
	if (n < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP))
		return 0;
	if (n <= 0)
		return n < 0 ? fe_set(ctx->err, errno, "list the xattrs of %s", path) : 0;
	char *names = arena_alloc(&ctx->arena, (size_t)n + 1);
	r->xattrs = ARENA_ARRAY(&ctx->arena, Ferry__Xattr *, XATTRS_MAX);
	if (!names || !r->xattrs || (n = listxattr(proc, names, (size_t)n)) < 0)
		return fe_set(ctx->err, n < 0 ? errno : ENOMEM, "list the xattrs of %s", path);
	for (char *p = names; p < names + n; p += strlen(p) + 1) {
		ssize_t len = getxattr(proc, p, NULL, 0);
		uint8_t *v = len >= 0 && len <= XATTR_VALUE_MAX ? arena_alloc(&ctx->arena, (size_t)len + 1) : NULL;
		Ferry__Xattr *x = ARENA_NEW(&ctx->arena, Ferry__Xattr);
		if (r->n_xattrs == XATTRS_MAX)
			return fe_msg(ctx->err, E2BIG, "%s has more than %d xattrs", path, XATTRS_MAX);
		if (!v || !x || (len = getxattr(proc, p, v, (size_t)len)) < 0)
			return fe_set(ctx->err, len < 0 ? errno : ENOMEM, "read xattr %s of %s", p, path);
		ferry__xattr__init(x);
		x->name = p;
		x->value = (ProtobufCBinaryData){ (size_t)len, v };
		r->xattrs[r->n_xattrs++] = x;
	}
	return 0;
}

/* The content of a removed regular file, streamed into the blob store with its holes. */
static int dump_content(struct dump_ctx *ctx, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	uint64_t limit = ctx->opts->ghost_limit ? ctx->opts->ghost_limit : BLOB_MAX_SIZE;
	if ((uint64_t)fi->st.st_size > limit)
		return fe_msg(ctx->err, EFBIG, "%s was removed while open and holds %lld bytes, more than --ghost-limit "
			      "(%llu): raise the limit to carry it in the image (with no name left, it cannot be "
			      "linked instead: --link-remap does not apply)", fe->path, (long long)fi->st.st_size,
			      (unsigned long long)limit);
	_cleanup_close_ int fd = reopen_stolen(fi, O_RDONLY);
	if (fd < 0)
		return fe_set(ctx->err, -fd, "reopen removed file %s", fe->path);
	int r = dump_xattrs(ctx, fi, fe->reg, fe->path);
	if (r < 0)
		return r;
	char what[PATH_MAX + 32];
	snprintf(what, sizeof(what), "removed file %s", fe->path);
	fe->has_ghost_id = fe->reg->has_content = fe->reg->content = 1;
	fe->ghost_id = ++ctx->next_ghost_id;
	return blob_write(ctx->sink, fe->ghost_id, fd, (uint64_t)fi->st.st_size, what, ctx->err);
}

/* Another name of the inode in the removed name's directory (found without changing anything). */
static int find_link(struct dump_ctx *ctx, const struct fd_info *fi, const char *path, char **out)
{
	const char *slash = strrchr(path, '/');
	size_t dlen = slash == path ? 1 : (size_t)(slash - path);
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%.*s", (int)dlen, path);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_closedir_ DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return 0;
	}
	struct dirent *de;
	struct stat st;
	while ((de = readdir(d))) {
		if (de->d_ino != fi->st.st_ino || fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    st.st_ino != fi->st.st_ino || st.st_dev != fi->st.st_dev)
			continue;
		size_t n = strlen(dir) + strlen(de->d_name) + 2;
		if (!(*out = arena_alloc(&ctx->arena, n)))
			return fe_set(ctx->err, ENOMEM, "link path");
		snprintf(*out, n, "%s/%s", strcmp(dir, "/") ? dir : "", de->d_name);
		return 1;
	}
	return 0;
}

static int remember_remap(struct dump_ctx *ctx, char *path)
{
	struct path_dump *pd = path_dump_state(ctx);
	if (pd && pd->n_remaps == pd->cap_remaps) {
		size_t cap = pd->cap_remaps ? pd->cap_remaps * 2 : 8;
		char **n = ARENA_ARRAY(&ctx->arena, char *, cap);
		if (n && pd->n_remaps)
			memcpy(n, pd->remaps, pd->n_remaps * sizeof(*n));
		pd->remaps = n;
		pd->cap_remaps = n ? cap : 0;
	}
	if (!pd || !pd->remaps)
		return fe_set(ctx->err, ENOMEM, "link remaps");
	pd->remaps[pd->n_remaps++] = path;
	return 0;
}

/* --link-remap: a hidden link beside the removed name, made now, removed by a successful restore. */
static int link_remap(struct dump_ctx *ctx, const struct fd_info *fi, const Ferry__FileEntry *fe, char **out)
{
	const char *slash = strrchr(fe->path, '/');
	size_t dlen = slash == fe->path ? 0 : (size_t)(slash - fe->path), n = dlen + 64;
	char proc[64];
	uint64_t tag;
	memcpy(&tag, ctx->ident.id, sizeof(tag));
	if (!(*out = arena_alloc(&ctx->arena, n)))
		return fe_set(ctx->err, ENOMEM, "link remap");
	snprintf(*out, n, "%.*s/.ferry-remap-%016llx-%u", (int)dlen, fe->path, (unsigned long long)tag, fe->id);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fi->stolen);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, *out, AT_SYMLINK_FOLLOW) < 0)
		return fe_set(ctx->err, errno, "--link-remap: link %s to %s", fe->path, *out);
	return remember_remap(ctx, *out);
}

/* The inode still has names, none of them the one the task used: link it again at restore. */
static int dump_linked(struct dump_ctx *ctx, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	Ferry__RegEntry *r = fe->reg;
	int found = find_link(ctx, fi, fe->path, &r->link_path);
	if (found < 0)
		return found;
	if (!found && !ctx->opts->link_remap)
		return fe_msg(ctx->err, EOPNOTSUPP, "%s was removed, but its inode still has %u other link(s), none in "
			      "its directory: dump with --link-remap to link it again at restore (a hidden link is "
			      "made beside it)", fe->path, (unsigned)fi->st.st_nlink);
	if (!found) {
		int rc = link_remap(ctx, fi, fe, &r->link_path);
		if (rc < 0)
			return rc;
		r->has_link_remap = r->link_remap = 1;
	}
	pr_debug("removed %s: linked again from %s\n", fe->path, r->link_path);
	return 0;
}

static int dump_symlink(struct dump_ctx *ctx, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(fi->stolen, "", target, sizeof(target) - 1);
	if (n < 0)
		return fe_set(ctx->err, errno, "read the removed symlink %s", fe->path);
	target[n] = 0;
	return (fe->reg->symlink = arena_strdup(&ctx->arena, target)) ? 0 : fe_set(ctx->err, ENOMEM, "symlink");
}

int ghost_dump(struct dump_ctx *ctx, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	Ferry__RegEntry *r = fe->reg;
	Ferry__FileEntry *sib = dumped_sibling(ctx, fe);
	int tmpfile = S_ISREG(fi->st.st_mode) && (fe->flags & K_O_TMPFILE);
	if (sib) {	/* the inode is made by the entry dumped first; an O_TMPFILE one makes it so */
		if (tmpfile && sib->reg->content)
			sib->reg->has_tmpfile = sib->reg->tmpfile = 1;
		return 0;
	}
	if (fi->stolen < 0)
		return fe_msg(ctx->err, EINVAL, "%s: no descriptor to read it through", fe->path);
	r->has_atime_ns = r->has_mtime_ns = 1;
	r->atime_ns = fi->st.st_atim.tv_sec * 1000000000LL + fi->st.st_atim.tv_nsec;
	r->mtime_ns = fi->st.st_mtim.tv_sec * 1000000000LL + fi->st.st_mtim.tv_nsec;
	if (fi->st.st_nlink > 0)	/* an O_TMPFILE file linked since too: it is that inode, not a copy */
		return dump_linked(ctx, fi, fe);
	if (S_ISREG(fi->st.st_mode)) {
		r->has_tmpfile = r->tmpfile = tmpfile;
		return dump_content(ctx, fi, fe);
	}
	if (S_ISDIR(fi->st.st_mode))
		return dump_xattrs(ctx, fi, r, fe->path);
	if (S_ISLNK(fi->st.st_mode))
		return dump_symlink(ctx, fi, fe);
	fe->has_rdev = 1;	/* FIFO, socket or device node: made again with mknod */
	fe->rdev = fi->st.st_rdev;
	return 0;
}

void ghost_dump_abort(struct dump_ctx *ctx)
{
	for (size_t i = 0; ctx->paths && i < ctx->paths->n_remaps; i++)
		if (unlink(ctx->paths->remaps[i]) < 0)
			pr_warn("cannot remove the link remap %s: %m\n", ctx->paths->remaps[i]);
}

/* ---------------------------------------------------------------- restore: names */

/* A name the new inode holds for the moment, and what held that name before. */
struct placed {
	const char *path;		/* the removed name (an entry's path) */
	int dirfd;			/* owned */
	char base[NAME_MAX + 1];
	char tmp[64];			/* the inode's temporary name */
	char other[64];			/* where what held base waits to be put back (if held) */
	int held;
	int named;			/* the inode is at base (else still at tmp) */
	int is_dir;
};

struct group {
	struct restore_ctx *ctx;
	struct ferry_err *err;
	const Ferry__FileEntry **members;
	size_t n;
	const Ferry__FileEntry *maker;	/* carries content, link, target or device number */
	mode_t type;
	int anchor;			/* a descriptor on the new inode */
	struct placed *pl;		/* pl[0]: where the inode was made */
	size_t npl;
	char made[16][PATH_MAX];	/* parent directories made for the moment, outermost first */
	int nmade;
};

static void temp_name(struct group *g, char *buf, size_t size)
{
	struct path_restore *pr = path_restore_state(g->ctx);
	snprintf(buf, size, ".ferry-ghost-%d-%u", (int)getpid(), pr ? ++pr->seq : 0);
}

/* Opens path's parent directory (no symlinks on the way), making missing ones; base gets the last name. */
static int open_parent(struct group *g, const char *path, char *base, int *dirfd)
{
	const char *slash = strrchr(path, '/');
	if (!slash || !slash[1] || strlen(slash + 1) > NAME_MAX || !strcmp(slash + 1, ".") || !strcmp(slash + 1, ".."))
		return fe_msg(g->err, EBADMSG, "files.img: %s is not a file's path", path);
	strcpy(base, slash + 1);
	int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	for (const char *p = path + 1; fd >= 0 && p <= slash;) {
		const char *e = strchr(p, '/');
		char comp[NAME_MAX + 1];
		if (e - p > NAME_MAX || e == p) {	/* "//" or a long name: skip the empty one */
			if (e - p > NAME_MAX) {
				close(fd);
				return fe_msg(g->err, ENAMETOOLONG, "%s: a name is too long", path);
			}
			p = e + 1;
			continue;
		}
		snprintf(comp, sizeof(comp), "%.*s", (int)(e - p), p);
		if (!strcmp(comp, ".") || !strcmp(comp, "..")) {
			close(fd);
			return fe_msg(g->err, EBADMSG, "files.img: %s is not a canonical path", path);
		}
		int next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && g->nmade < 16 && mkdirat(fd, comp, 0700) == 0) {
			snprintf(g->made[g->nmade++], PATH_MAX, "%.*s", (int)(e - path), path);
			next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		close(fd);
		fd = next;
		p = e + 1;
	}
	if (fd < 0)
		return fe_set(g->err, errno, "open the directory of %s (no symlinks followed)", path);
	*dirfd = fd;
	return 0;
}

static int add_place(struct group *g, const char *path, struct placed **out)
{
	struct placed *n = realloc(g->pl, (g->npl + 1) * sizeof(*n));
	if (!n)
		return fe_set(g->err, ENOMEM, "ghost names");
	g->pl = n;
	struct placed *p = &g->pl[g->npl];
	memset(p, 0, sizeof(*p));
	p->dirfd = -1;
	p->path = path;
	p->is_dir = S_ISDIR(g->type);
	int r = open_parent(g, path, p->base, &p->dirfd);
	if (r < 0)
		return r;
	temp_name(g, p->tmp, sizeof(p->tmp));
	g->npl++;
	*out = p;
	return 0;
}

static int same_inode(int dirfd, const char *a, const char *b)
{
	struct stat sa, sb;
	return fstatat(dirfd, a, &sa, AT_SYMLINK_NOFOLLOW) == 0 && fstatat(dirfd, b, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int rename2(int dirfd, const char *from, const char *to, unsigned flags)
{
	return syscall(SYS_renameat2, dirfd, from, dirfd, to, flags) < 0 ? -errno : 0;
}

/* Moves the inode from its temporary name to base; whatever holds base waits at another name. */
static int place(struct group *g, struct placed *p)
{
	int r = rename2(p->dirfd, p->tmp, p->base, RENAME_NOREPLACE);
	if (r == -EEXIST && same_inode(p->dirfd, p->tmp, p->base)) {
		/* base is another name of this very inode: move it aside, then ours in */
		temp_name(g, p->other, sizeof(p->other));
		if ((r = rename2(p->dirfd, p->base, p->other, RENAME_NOREPLACE)) == 0) {
			p->held = 1;
			r = rename2(p->dirfd, p->tmp, p->base, RENAME_NOREPLACE);
		}
	} else if (r == -EEXIST && (r = rename2(p->dirfd, p->tmp, p->base, RENAME_EXCHANGE)) == 0) {
		strcpy(p->other, p->tmp);	/* swapped: the old holder now has our temporary name */
		p->held = 1;
	}
	if (r == -EINVAL) {	/* no renameat2 flags here: keep the temporary name */
		pr_warn("cannot give the removed %s its name %s back here: it keeps %s\n", p->path, p->base, p->tmp);
		return 0;
	}
	if (r < 0)
		return fe_set(g->err, -r, "put the removed %s under its name", p->path);
	p->named = 1;
	return 0;
}

/* Removes the inode's name again and puts back what held it. Safe to call on any state. */
static void unplace(struct group *g, struct placed *p)
{
	const char *name = p->named ? p->base : p->tmp;
	if (p->dirfd < 0)
		return;
	if (unlinkat(p->dirfd, name, p->is_dir ? AT_REMOVEDIR : 0) < 0 && errno != ENOENT)
		pr_warn("cannot remove %s again: %m\n", name);
	if (p->held && rename2(p->dirfd, p->other, p->base, RENAME_NOREPLACE) < 0)
		pr_warn("cannot put back what was named %s (it is %s now): %m\n", p->base, p->other);
	close(p->dirfd);
	p->dirfd = -1;
}

static void group_free(struct group *g)
{
	for (size_t i = g->npl; i-- > 0;)
		unplace(g, &g->pl[i]);
	for (int i = g->nmade; i-- > 0;)
		if (rmdir(g->made[i]) < 0)
			pr_warn("cannot remove the directory %s made for a removed file: %m\n", g->made[i]);
	free(g->pl);
	free(g->members);
	if (g->anchor >= 0)
		close(g->anchor);
}

/* ---------------------------------------------------------------- restore: making the inode */

static int put_content(struct group *g, int fd)
{
	const Ferry__FileEntry *m = g->maker;
	uint64_t size;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	_cleanup_close_ int wfd = open(proc, O_RDWR | O_CLOEXEC);	/* the task's own may be append-only */
	if (wfd < 0)
		return fe_set(g->err, errno, "reopen %s to fill it", m->path);
	int r = blob_read(&g->ctx->src, m->ghost_id, m->has_size ? m->size : UINT64_MAX, blob_put_fd, &wfd, &size,
			  g->err);
	if (r == 0 && ftruncate(wfd, (off_t)size) < 0)
		r = fe_set(g->err, errno, "size %s", m->path);
	return r < 0 ? fe_wrap(g->err, r, "fill the removed file %s", m->path) : 0;
}

static int put_xattrs(struct group *g, int fd)
{
	const Ferry__RegEntry *r = g->maker->reg;
	if (r->n_xattrs > XATTRS_MAX)
		return fe_msg(g->err, EBADMSG, "files.img: %s has %zu xattrs", g->maker->path, r->n_xattrs);
	for (size_t i = 0; i < r->n_xattrs; i++) {
		const Ferry__Xattr *x = r->xattrs[i];
		if (x->value.len > XATTR_VALUE_MAX || fsetxattr(fd, x->name, x->value.data, x->value.len, 0) < 0)
			return fe_set(g->err, x->value.len > XATTR_VALUE_MAX ? EBADMSG : errno, "set xattr %s of %s",
				      x->name, g->maker->path);
	}
	return 0;
}

/* Owner, mode, xattrs and times of the made inode (fd: a descriptor on it, not O_PATH, or -1). */
static int put_attrs(struct group *g, int dirfd, const char *name, int fd)
{
	const Ferry__FileEntry *m = g->maker;
	const Ferry__RegEntry *r = m->reg;
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };
	if (r->has_atime_ns)
		ts[0] = (struct timespec){ r->atime_ns / 1000000000LL, r->atime_ns % 1000000000LL };
	if (r->has_mtime_ns)
		ts[1] = (struct timespec){ r->mtime_ns / 1000000000LL, r->mtime_ns % 1000000000LL };
	int rc = 0;
	if (fd >= 0) {	/* unnamed (O_TMPFILE) */
		if ((r->has_uid && fchown(fd, r->uid, r->gid) < 0) || fchmod(fd, m->mode & 07777) < 0)
			return fe_set(g->err, errno, "set the owner and mode of %s", m->path);
		if ((rc = put_xattrs(g, fd)) < 0)
			return rc;
		return futimens(fd, ts) < 0 ? fe_set(g->err, errno, "set the times of %s", m->path) : 0;
	}
	if ((r->has_uid && fchownat(dirfd, name, r->uid, r->gid, AT_SYMLINK_NOFOLLOW) < 0) ||
	    (!S_ISLNK(g->type) && fchmodat(dirfd, name, m->mode & 07777, 0) < 0))
		return fe_set(g->err, errno, "set the owner and mode of %s", m->path);
	if (r->n_xattrs && (S_ISREG(g->type) || S_ISDIR(g->type))) {
		_cleanup_close_ int x = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (x < 0 || (rc = put_xattrs(g, x)) < 0)
			return rc < 0 ? rc : fe_set(g->err, errno, "open %s for its xattrs", m->path);
	}
	return utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0 ? fe_set(g->err, errno, "set the times of %s", m->path) : 0;
}

/* A name that still links the inode: it must still be that file. */
static int check_link(struct group *g, const char *link)
{
	struct stat st;
	if (link[0] != '/' || strlen(link) >= PATH_MAX)
		return fe_msg(g->err, EBADMSG, "files.img: %s has a bad link path", g->maker->path);
	if (fstatat(AT_FDCWD, link, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fe_set(g->err, errno, "%s, the other name of the removed %s", link, g->maker->path);
	return path_check(g->ctx, g->maker, link, &st, g->err);
}

/* Makes the inode at pl[0]'s temporary name: linked again, or new (then with its attributes). */
static int make_named(struct group *g, struct placed *p)
{
	const Ferry__FileEntry *m = g->maker;
	const Ferry__RegEntry *r = m->reg;
	int rc = 0;
	if (r && r->link_path) {
		if ((rc = check_link(g, r->link_path)) < 0)
			return rc;
		if (linkat(AT_FDCWD, r->link_path, p->dirfd, p->tmp, 0) < 0)
			return fe_set(g->err, errno, "link %s again from %s", m->path, r->link_path);
	} else {
		if (S_ISREG(g->type)) {
			_cleanup_close_ int fd = openat(p->dirfd, p->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (fd < 0)
				return fe_set(g->err, errno, "make the removed file %s again", m->path);
			if ((rc = put_content(g, fd)) < 0)
				return rc;
		} else if (S_ISDIR(g->type)) {
			rc = mkdirat(p->dirfd, p->tmp, 0700);
		} else if (S_ISLNK(g->type)) {
			if (!r || !r->symlink || strlen(r->symlink) >= PATH_MAX)
				return fe_msg(g->err, EBADMSG, "files.img: the removed symlink %s has no target", m->path);
			rc = symlinkat(r->symlink, p->dirfd, p->tmp);
		} else {
			rc = mknodat(p->dirfd, p->tmp, (g->type & S_IFMT) | 0600, m->has_rdev ? m->rdev : 0);
		}
		if (rc < 0)
			return fe_set(g->err, errno, "make the removed %s %s again", m->path, S_ISDIR(g->type) ? "directory" : "node");
		if (r && (rc = put_attrs(g, p->dirfd, p->tmp, -1)) < 0)
			return rc;
	}
	g->anchor = openat(p->dirfd, p->tmp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	return g->anchor < 0 ? fe_set(g->err, errno, "open the removed %s", m->path) : 0;
}

/* Every other name of the group's entries: a link of the inode, moved in. */
static int place_all(struct group *g)
{
	int rc = place(g, &g->pl[0]);
	for (size_t i = 0; rc == 0 && i < g->n; i++) {
		const Ferry__FileEntry *e = g->members[i];
		int seen = 0;
		for (size_t k = 0; k < i && !seen; k++)
			seen = !strcmp(g->members[k]->path, e->path);
		if (seen || !strcmp(e->path, g->maker->path) || S_ISDIR(g->type))
			continue;
		struct placed *p;
		if ((rc = add_place(g, e->path, &p)) < 0)
			break;
		if (linkat(g->anchor, "", p->dirfd, p->tmp, AT_EMPTY_PATH) < 0)
			return fe_set(g->err, errno, "link the removed %s as %s", g->maker->path, e->path);
		rc = place(g, p);
	}
	return rc;
}

/* ---------------------------------------------------------------- restore: the group */

static int own_flags(const Ferry__FileEntry *e, const Ferry__FileEntry *asked, int flags)
{
	if (e->kind == FERRY__FILE_KIND__FILE_PIPE)
		return O_RDWR | O_NONBLOCK;	/* a FIFO holder: pipe.c opens the ends from it */
	/* O_NOCTTY: a removed terminal's node must not become ferry's controlling terminal */
	return (e == asked && flags ? flags : path_open_flags(e)) | O_NOCTTY;
}

static int keep_own(struct group *g, const Ferry__FileEntry *e, int fd)
{
	if (e->has_pos && e->pos && !(e->flags & O_PATH) && e->kind != FERRY__FILE_KIND__FILE_PIPE &&
	    lseek(fd, (off_t)e->pos, SEEK_SET) < 0 && errno != ESPIPE && !S_ISDIR(e->mode)) {
		close(fd);
		return fe_set(g->err, errno, "seek %s to %llu", e->path, (unsigned long long)e->pos);
	}
	int r = files_stash_put(g->ctx, OWN_KEY(e->id), fd);
	if (r < 0)
		close(fd);
	return r < 0 ? fe_set(g->err, -r, "keep %s", e->path) : 0;
}

/* Each entry's own description, opened through its own name (a dentry of that name). */
static int open_members(struct group *g, const Ferry__FileEntry *asked, int flags)
{
	for (size_t i = 0; i < g->n; i++) {
		const Ferry__FileEntry *e = g->members[i];
		struct placed *p = &g->pl[0];
		for (size_t k = 1; k < g->npl; k++)
			if (!strcmp(e->path, g->pl[k].path))
				p = &g->pl[k];
		int fd = openat(p->dirfd, p->named ? p->base : p->tmp, own_flags(e, asked, flags) | O_CLOEXEC);
		if (fd < 0)
			return fe_set(g->err, errno, "open the removed %s", e->path);
		int r = keep_own(g, e, fd);
		if (r < 0)
			return r;
	}
	return 0;
}

/* O_TMPFILE: made unnamed in its directory, by the entry that made it (its flags say O_TMPFILE). */
static int make_tmpfile(struct group *g, const Ferry__FileEntry *asked, int flags)
{
	const Ferry__FileEntry *creator = NULL;
	struct placed *p;
	const char *slash = strrchr(g->maker->path, '/');
	if (!slash || slash[1] != '#')
		return fe_msg(g->err, EBADMSG, "files.img: O_TMPFILE file %s has no #inode name", g->maker->path);
	int rc = add_place(g, g->maker->path, &p);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < g->n && !creator; i++)
		if (g->members[i]->flags & K_O_TMPFILE)
			creator = g->members[i];
	int how = creator ? (files_open_flags(creator->flags) & ~K_O_TMPFILE) : O_RDWR;
	int fd = openat(p->dirfd, ".", how | O_TMPFILE | O_CLOEXEC, 0600);
	if (fd < 0)
		return fe_set(g->err, errno, "make the O_TMPFILE file in the directory of %s again", g->maker->path);
	g->anchor = fd;
	if ((rc = put_content(g, fd)) < 0 || (rc = put_attrs(g, -1, NULL, fd)) < 0)
		return rc;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	for (size_t i = 0; i < g->n; i++) {
		const Ferry__FileEntry *e = g->members[i];
		int own = e == creator ? dup(fd) : open(proc, own_flags(e, asked, flags) | O_CLOEXEC);
		if (own < 0 || (rc = keep_own(g, e, own)) < 0)
			return own < 0 ? fe_set(g->err, errno, "open the O_TMPFILE file %s", e->path) : rc;
	}
	return 0;
}

static int collect(struct group *g, const Ferry__FileEntry *fe)
{
	const Ferry__Files *files = g->ctx->files;
	g->type = fe->mode & S_IFMT;
	g->members = calloc(fe->reg ? files->n_files : 1, sizeof(*g->members));
	if (!g->members)
		return fe_set(g->err, ENOMEM, "ghost group");
	if (!fe->reg)	/* an older image: each entry carries its own content */
		g->members[g->n++] = fe;
	for (size_t i = 0; fe->reg && i < files->n_files; i++) {
		const Ferry__FileEntry *e = files->files[i];
		if (!e->deleted || !e->reg || !e->has_ino || e->ino != fe->ino || e->reg->dev != fe->reg->dev)
			continue;
		if ((e->mode & S_IFMT) != g->type || !e->path || e->path[0] != '/')
			return fe_msg(g->err, EBADMSG, "files.img: entries of the removed %s disagree", fe->path);
		g->members[g->n++] = e;
		if (!g->maker && (e->reg->content || e->reg->link_path || e->reg->symlink))
			g->maker = e;
	}
	if (!g->maker)
		g->maker = g->members[0];
	if (S_ISREG(g->type) && !(g->maker->reg && g->maker->reg->link_path) && !g->maker->has_ghost_id)
		return fe_msg(g->err, EBADMSG, "files.img: the removed file %s has no content", fe->path);
	return 0;
}

static int make_group(struct restore_ctx *ctx, const Ferry__FileEntry *fe, int flags, struct ferry_err *err)
{
	struct group g = { .ctx = ctx, .err = err, .anchor = -1 };
	struct placed *p;
	int rc = collect(&g, fe);
	if (rc == 0 && g.maker->reg && g.maker->reg->tmpfile) {
		rc = make_tmpfile(&g, fe, flags);
	} else if (rc == 0 && (rc = add_place(&g, g.maker->path, &p)) == 0 && (rc = make_named(&g, p)) == 0 &&
		   (rc = place_all(&g)) == 0) {
		rc = open_members(&g, fe, flags);
	}
	if (rc < 0)	/* what this group opened goes too */
		for (size_t i = 0; i < g.n; i++) {
			int fd = files_stash_take(ctx, OWN_KEY(g.members[i]->id));
			if (fd >= 0)
				close(fd);
		}
	struct path_restore *pr = path_restore_state(ctx);
	const Ferry__RegEntry *r = g.maker ? g.maker->reg : NULL;
	if (rc == 0 && r && r->link_remap && pr) {	/* removed once the whole restore succeeded */
		char **n = realloc(pr->remaps, (pr->n_remaps + 1) * sizeof(*n));
		if (n && (n[pr->n_remaps] = strdup(r->link_path)))
			pr->remaps = n, pr->n_remaps++;
		else if (n)
			pr->remaps = n;
	}
	group_free(&g);
	return rc;
}

int ghost_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, int flags, struct ferry_err *err)
{
	int fd = files_stash_take(ctx, OWN_KEY(fe->id));
	if (fd >= 0)
		return fd;
	if (!fe->has_ino || !fe->has_mode)
		return fe_msg(err, EBADMSG, "files.img: removed file %u (%s) lacks its inode", fe->id, fe->path);
	int r = make_group(ctx, fe, flags, err);
	if (r < 0)
		return r;
	fd = files_stash_take(ctx, OWN_KEY(fe->id));
	return fd >= 0 ? fd : fe_msg(err, EIO, "the removed %s was made without its own descriptor", fe->path);
}

void ghost_restore_finish(struct restore_ctx *ctx, int ok)
{
	struct path_restore *pr = ctx->paths;
	if (!pr)
		return;
	for (size_t i = 0; i < pr->n_remaps; i++) {
		if (ok && unlink(pr->remaps[i]) < 0 && errno != ENOENT)
			pr_warn("cannot remove the link remap %s: %m\n", pr->remaps[i]);
		free(pr->remaps[i]);
	}
	free(pr->remaps);
	free(pr);
	ctx->paths = NULL;
}
