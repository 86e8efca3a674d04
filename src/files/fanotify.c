/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fanotify groups: the fanotify_init() flags and event flags, and every mark (fdinfo lists them):
 * on an inode (found by its file handle, fhandle.c), on a mount (by mount id: its mount point),
 * on a filesystem (by device: a mount of it), each with its mask, ignore mask and flags. Restore
 * creates the group in ferry and adds the marks again. Events queued at dump time cannot be
 * carried (each holds an open file of its own): a group whose marks are all on inodes is refused
 * when events are queued; one with a mount or filesystem mark also sees the dump's own file
 * activity (and the whole system's), so its queued events are dropped, with a warning.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fanotify.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#define LOG_PREFIX "fanotify: "
#include "common/log.h"
#include "common/cleanup.h"
#include "files/files.h"

typedef Ferry__FanotifyMark Mark;

#ifndef FAN_MARK_EVICTABLE
#define FAN_MARK_EVICTABLE 0x00000200
#endif
#ifndef FAN_MARK_IGNORE
#define FAN_MARK_IGNORE 0x00000400
#endif
#define MARK_FLAGS (FAN_MARK_IGNORED_SURV_MODIFY | FAN_MARK_EVICTABLE | FAN_MARK_IGNORE)

static int fanotify_match(const struct fd_info *fi, const struct dump_opts *o)
{
	return strcmp(fi->link, "anon_inode:[fanotify]") == 0;
}

static dev_t kdev(unsigned sdev)
{
	return makedev(sdev >> 20, sdev & 0xfffff);	/* the kernel's internal dev_t layout */
}

static int mark_inode(struct dump_ctx *ctx, const char *line, Mark *m)
{
	unsigned long long ino;
	unsigned sdev;
	int off = 0;
	if (sscanf(line, "fanotify ino:%llx sdev:%x mflags:%x mask:%x ignored_mask:%x %n", &ino, &sdev, &m->mflags,
		   &m->mask, &m->ignored_mask, &off) != 5 || !off)
		return fe_msg(ctx->err, EIO, "unexpected fanotify fdinfo line: %.80s", line);
	m->type = FERRY__FANOTIFY_MARK_TYPE__FAN_MARK_TYPE_INODE;
	m->has_ino = m->has_dev = 1;
	m->ino = ino;
	m->dev = kdev(sdev);
	struct fhandle_ref ref = { line + off, m->dev, ino };
	int r = fhandle_path(ctx, &ref, &m->path);
	if (r <= 0)
		return r;
	if (!fhandle_tree_keeps(ctx, ino, m->dev))
		return fe_msg(ctx->err, EOPNOTSUPP, "a mark on inode %llu, deleted since, which nothing of the tree keeps "
			      "(a descriptor, a mapping, a working or root directory): it cannot be restored", ino);
	m->has_deleted = 1;
	m->deleted = 1;
	m->path = "";
	return 0;
}

static int mark_mount(struct dump_ctx *ctx, const char *line, Mark *m)
{
	int id;
	_cleanup_free_ char *path = NULL;
	if (sscanf(line, "fanotify mnt_id:%x mflags:%x mask:%x ignored_mask:%x", &id, &m->mflags, &m->mask,
		   &m->ignored_mask) != 4)
		return fe_msg(ctx->err, EIO, "unexpected fanotify fdinfo line: %.80s", line);
	m->type = FERRY__FANOTIFY_MARK_TYPE__FAN_MARK_TYPE_MOUNT;
	if (mount_path_by_id(id, &path) < 0)
		return fe_msg(ctx->err, EOPNOTSUPP, "a mark on mount %d, which ferry does not see", id);
	m->path = arena_strdup(&ctx->arena, path);
	return m->path ? 0 : -ENOMEM;
}

static int mark_fs(struct dump_ctx *ctx, const char *line, Mark *m)
{
	unsigned sdev;
	_cleanup_free_ char *path = NULL;
	if (sscanf(line, "fanotify sdev:%x mflags:%x mask:%x ignored_mask:%x", &sdev, &m->mflags, &m->mask,
		   &m->ignored_mask) != 4)
		return fe_msg(ctx->err, EIO, "unexpected fanotify fdinfo line: %.80s", line);
	m->type = FERRY__FANOTIFY_MARK_TYPE__FAN_MARK_TYPE_FILESYSTEM;
	m->has_dev = 1;
	m->dev = kdev(sdev);
	if (mount_path_by_dev(m->dev, &path) < 0)
		return fe_msg(ctx->err, EOPNOTSUPP, "a mark on filesystem %u:%u, which no mount shows", major(m->dev),
			      minor(m->dev));
	m->path = arena_strdup(&ctx->arena, path);
	return m->path ? 0 : -ENOMEM;
}

static int parse_mark(struct dump_ctx *ctx, const char *line, Mark *m)
{
	ferry__fanotify_mark__init(m);
	if (!strncmp(line, "fanotify ino:", 13))
		return mark_inode(ctx, line, m);
	if (!strncmp(line, "fanotify mnt_id:", 16))
		return mark_mount(ctx, line, m);
	if (!strncmp(line, "fanotify sdev:", 14))
		return mark_fs(ctx, line, m);
	return fe_msg(ctx->err, EOPNOTSUPP, "a fanotify mark this version does not know: %.80s", line);
}

static int check_queue(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi,
		       const Ferry__FanotifyEntry *e, int queued)
{
	int wide = 0;
	for (size_t i = 0; i < e->n_marks; i++)
		wide |= e->marks[i]->type != FERRY__FANOTIFY_MARK_TYPE__FAN_MARK_TYPE_INODE;
	if (queued <= 0)
		return 0;
	if (!wide)
		return fe_msg(ctx->err, EOPNOTSUPP, "fanotify group with %d bytes of events not read yet: queued events "
			      "cannot be restored", queued);
	pr_warn("pid %d fd %d: %d bytes of events queued in a fanotify group with mount or filesystem marks (which "
		"also sees the dump's own activity) are not restored\n", t->pid, fi->fd, queued);
	return 0;
}

static size_t count_marks(const char *text)
{
	size_t n = 0;
	for (const char *p = text; (p = strstr(p, "\nfanotify ")); p++)
		n++;
	return n;
}

static int fanotify_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	Ferry__FanotifyEntry *e = ARENA_NEW(&ctx->arena, Ferry__FanotifyEntry);
	const char *g = fi->fdinfo ? strstr(fi->fdinfo, "fanotify flags:") : NULL;
	int queued = 0;
	if (!e || !g)
		return fe_set(ctx->err, e ? EIO : ENOMEM, "fanotify entry");
	ferry__fanotify_entry__init(e);
	if (sscanf(g, "fanotify flags:%x event-flags:%x", &e->flags, &e->event_flags) != 2)
		return fe_msg(ctx->err, EIO, "unexpected fanotify fdinfo: %.80s", g);
	ioctl(fi->stolen, FIONREAD, &queued);
	size_t n = count_marks(fi->fdinfo);
	e->marks = ARENA_ARRAY(&ctx->arena, Mark *, n + 1);
	if (!e->marks)
		return fe_set(ctx->err, ENOMEM, "fanotify marks");
	for (const char *p = fi->fdinfo; (p = strstr(p, "\nfanotify ")) && e->n_marks < n;) {
		p++;
		if (!strncmp(p, "fanotify flags:", 15))
			continue;
		Mark *m = ARENA_NEW(&ctx->arena, Mark);
		int r = m ? parse_mark(ctx, p, m) : -ENOMEM;
		if (r < 0)
			return r == -ENOMEM ? fe_set(ctx->err, ENOMEM, "fanotify mark") : r;
		e->marks[e->n_marks++] = m;
		pr_debug("pid %d fd %d: mark type %d on %s: mask %#x ignored %#x flags %#x\n", t->pid, fi->fd, m->type,
			 m->path, m->mask, m->ignored_mask, m->mflags);
	}
	fe->fanotify = e;
	return check_queue(ctx, t, fi, e, queued);
}

static unsigned type_flag(const Mark *m)
{
	return m->type == FERRY__FANOTIFY_MARK_TYPE__FAN_MARK_TYPE_MOUNT ? FAN_MARK_MOUNT :
	       m->type == FERRY__FANOTIFY_MARK_TYPE__FAN_MARK_TYPE_FILESYSTEM ? FAN_MARK_FILESYSTEM : 0;
}

static int check_inode(const Mark *m, struct ferry_err *err)
{
	struct stat st;
	if (m->type != FERRY__FANOTIFY_MARK_TYPE__FAN_MARK_TYPE_INODE || !m->has_ino || m->deleted)
		return 0;
	if (stat(m->path, &st) < 0)
		return fe_set(err, errno, "marked file %s", m->path);
	if (st.st_ino != m->ino)
		return fe_msg(err, ESTALE, "marked file %s is another inode now (%llu, was %llu)", m->path,
			      (unsigned long long)st.st_ino, (unsigned long long)m->ino);
	return 0;
}

/*
 * The mark's mask, then its ignore mask (FAN_MARK_IGNORE or the older FAN_MARK_IGNORED_MASK), on
 * path (for a deleted inode, ferry's descriptor of the restored file).
 */
static int add_mark(int fd, const Mark *m, const char *path, struct ferry_err *err)
{
	unsigned base = FAN_MARK_ADD | type_flag(m) | (m->mflags & FAN_MARK_EVICTABLE);
	int r = check_inode(m, err);
	if (r < 0)
		return r;
	if (m->mask && syscall(SYS_fanotify_mark, fd, base, (uint64_t)m->mask, AT_FDCWD, path) < 0)
		return fe_set(err, errno, "mark %s (mask %#x)", path, m->mask);
	unsigned ign = base | (m->mflags & FAN_MARK_IGNORE ? FAN_MARK_IGNORE : FAN_MARK_IGNORED_MASK) |
		       (m->mflags & FAN_MARK_IGNORED_SURV_MODIFY);
	if (m->ignored_mask &&
	    syscall(SYS_fanotify_mark, fd, ign, (uint64_t)m->ignored_mask, AT_FDCWD, path) < 0)
		return fe_set(err, errno, "mark %s (ignore mask %#x, flags %#x)", path, m->ignored_mask, m->mflags);
	return 0;
}

static int fanotify_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	const Ferry__FanotifyEntry *e = fe->fanotify;
	if (!e)
		return fe_msg(err, EBADMSG, "files.img: fanotify %u without its fanotify part", fe->id);
	_cleanup_close_ int fd = syscall(SYS_fanotify_init, e->flags, e->event_flags);
	if (fd < 0)
		return fe_set(err, errno, "fanotify_init(%#x, %#x)", e->flags, e->event_flags);
	for (size_t i = e->n_marks; i-- > 0;) {	/* fdinfo lists the newest first */
		const Mark *m = e->marks[i];
		char buf[64];
		const char *path = m->deleted ? fhandle_deleted_path(ctx, m->ino, (dev_t)m->dev, buf, sizeof(buf)) : m->path;
		if (!path || path[0] != '/' || (m->mflags & ~MARK_FLAGS))
			return fe_msg(err, EBADMSG, "files.img: bad fanotify mark");
		int r = add_mark(fd, m, path, err);
		if (r < 0)
			return r;
	}
	if (!(e->flags & FAN_CLOEXEC) && fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return fe_set(err, errno, "close-on-exec");
	return TAKE_FD(fd);
}

const struct file_ops fanotify_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_FANOTIFY, .name = "fanotify", .phase = FILE_OPEN_AFTER,
	.match = fanotify_match, .dump = fanotify_dump, .open = fanotify_open,
};
