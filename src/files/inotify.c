/* SPDX-License-Identifier: Apache-2.0 */
/*
 * inotify instances and their watches. Dump: each watch's inode is found from the file handle in
 * fdinfo, or by scanning directories (fhandle.c). A watch on an inode deleted since, which a
 * descriptor of the tree keeps alive, is restored on that restored file (through
 * /proc/self/fd). Restore: the watches are re-added by path in wd order; wds are allocated in
 * increasing order, so gaps are skipped by adding and removing throwaway watches. Events queued at
 * dump time are not carried.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#define LOG_PREFIX "inotify: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "files/files.h"

#define MAX_GAP_WATCHES 65536	/* throwaway watches spent on keeping wds, at most */

typedef Ferry__InotifyWatch Watch;

static int inotify_match(const struct fd_info *fi, const struct dump_opts *o)
{
	return strcmp(fi->link, "anon_inode:inotify") == 0;
}

/* The path of the watched inode, from the handle at `handle` ("fhandle-bytes:…" onward). */
static int watch_path(struct dump_ctx *ctx, const char *handle, dev_t dev, Watch *w)
{
	struct fhandle_ref ref = { handle, dev, w->ino };
	int r = fhandle_path(ctx, &ref, &w->path);
	if (r <= 0)
		return r < 0 ? fe_wrap(ctx->err, r, "wd %d", w->wd) : 0;
	if (!fhandle_tree_keeps(ctx, w->ino, dev))
		return fe_msg(ctx->err, EOPNOTSUPP, "wd %d watches inode %" PRIu64 ", deleted since, which nothing "
			      "of the tree keeps (a descriptor, a mapping, a working or root directory): it cannot be restored", w->wd, w->ino);
	w->has_deleted = 1;
	w->deleted = 1;
	w->path = "";
	return 0;
}

/* Parses one "inotify wd:…" line; wd, sdev and mask are in hex. */
static int parse_watch(struct dump_ctx *ctx, const char *line, Watch *w)
{
	unsigned wd, sdev, mask;
	unsigned long long ino;
	int off = 0;
	ferry__inotify_watch__init(w);
	if (sscanf(line, "inotify wd:%x ino:%llx sdev:%x mask:%x ignored_mask:%*x %n", &wd, &ino, &sdev, &mask,
		   &off) != 4 || !off)
		return fe_msg(ctx->err, EIO, "unexpected inotify fdinfo line: %.80s", line);
	dev_t dev = makedev(sdev >> 20, sdev & 0xfffff);	/* the kernel's internal dev_t layout */
	w->wd = (int)wd;
	w->mask = mask;
	w->has_ino = w->has_dev = 1;
	w->ino = ino;
	w->dev = dev;
	return watch_path(ctx, line + off, dev, w);
}

static int inotify_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	Ferry__InotifyEntry *in = ARENA_NEW(&ctx->arena, Ferry__InotifyEntry);
	if (!in || !fi->fdinfo)
		return fe_set(ctx->err, in ? EIO : ENOMEM, "inotify entry");
	ferry__inotify_entry__init(in);
	in->has_ino = 1;
	in->ino = fi->st.st_ino;
	size_t n = 0;
	for (const char *p = fi->fdinfo; (p = strstr(p, "inotify wd:")); p++)
		n++;
	in->watches = ARENA_ARRAY(&ctx->arena, Watch *, n + 1);
	if (!in->watches)
		return fe_set(ctx->err, ENOMEM, "inotify watches");
	for (const char *p = fi->fdinfo; (p = strstr(p, "inotify wd:")) && in->n_watches < n; p++) {
		Watch *w = ARENA_NEW(&ctx->arena, Watch);
		int r = w ? parse_watch(ctx, p, w) : fe_set(ctx->err, ENOMEM, "inotify watch");
		if (r < 0)
			return r;
		in->watches[in->n_watches++] = w;
		pr_debug("pid %d fd %d: wd %d mask %#x on %s\n", t->pid, fi->fd, w->wd, w->mask, w->path);
	}
	int queued = 0;
	if (ioctl(fi->stolen, FIONREAD, &queued) == 0 && queued > 0) {
		pr_warn("pid %d fd %d: %d bytes of queued inotify events are not restored\n", t->pid, fi->fd, queued);
		in->has_lost_event_bytes = 1;
		in->lost_event_bytes = queued;
	}
	fe->inotify = in;
	return 0;
}

static int by_wd(const void *a, const void *b)
{
	const Watch *x = *(const Watch *const *)a, *y = *(const Watch *const *)b;
	return (x->wd > y->wd) - (x->wd < y->wd);
}

/* A directory no watch is on, for throwaway watches (a second add on one inode would reuse its wd). */
static const char *gap_path(const Ferry__InotifyEntry *in)
{
	static const char *const cand[] = { "/", "/proc", "/dev", "/sys", "/tmp" };
	for (size_t c = 0; c < ARRAY_SIZE(cand); c++) {
		struct stat cs, ws;
		int clash = stat(cand[c], &cs) < 0;
		for (size_t i = 0; i < in->n_watches && !clash; i++)
			clash = stat(in->watches[i]->path, &ws) == 0 && ws.st_dev == cs.st_dev && ws.st_ino == cs.st_ino;
		if (!clash)
			return cand[c];
	}
	return NULL;
}

#ifndef INOTIFY_IOC_SETNEXTWD
#define INOTIFY_IOC_SETNEXTWD _IOW('I', 0, int)
#endif

/*
 * Moves the next wd of fd from *next to wd: INOTIFY_IOC_SETNEXTWD (CONFIG_CHECKPOINT_RESTORE), or
 * throwaway watches (each leaves an IN_IGNORED event, drained afterwards).
 */
static int skip_wds(int fd, const Ferry__InotifyEntry *in, int *next, int wd, int *spent, struct ferry_err *err)
{
	if (*next >= wd)
		return 0;
	if (ioctl(fd, INOTIFY_IOC_SETNEXTWD, wd) == 0) {
		*next = wd;
		return 0;
	}
	const char *gap = gap_path(in);
	while (*next < wd) {
		if (!gap || ++*spent > MAX_GAP_WATCHES)
			return fe_msg(err, ERANGE, "cannot keep wd %d (no spare directory, or gap too large)", wd);
		int got = inotify_add_watch(fd, gap, IN_ATTRIB);
		if (got < 0)
			return fe_set(err, errno, "throwaway watch on %s", gap);
		inotify_rm_watch(fd, got);
		*next = got + 1;
	}
	return 0;
}

/* Reads away the IN_IGNORED events the throwaway watches left; anything else is reported. */
static void drain(int fd)
{
	int n = 0;
	if (ioctl(fd, FIONREAD, &n) < 0 || n <= 0)
		return;
	_cleanup_free_ char *buf = malloc(n);
	ssize_t got = buf ? read(fd, buf, n) : -1;
	for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= got;) {
		const struct inotify_event *ev = (const void *)(buf + off);
		if (!(ev->mask & IN_IGNORED))
			pr_warn("event %#x on wd %d during restore discarded\n", ev->mask, ev->wd);
		off += sizeof(*ev) + ev->len;
	}
}

/* Where to add watch w: its path, or for a deleted inode ferry's descriptor of the restored file. */
static const char *watch_target(struct restore_ctx *ctx, const Watch *w, char *buf, size_t len)
{
	if (!w->deleted)
		return w->path && w->path[0] == '/' ? w->path : NULL;
	return fhandle_deleted_path(ctx, w->ino, (dev_t)w->dev, buf, len);
}

static int add_watches(struct restore_ctx *ctx, int fd, const Ferry__InotifyEntry *in, struct ferry_err *err)
{
	char buf[64];
	_cleanup_free_ Watch **w = malloc((in->n_watches + 1) * sizeof(*w));
	if (!w)
		return fe_set(err, ENOMEM, "inotify watches");
	memcpy(w, in->watches, in->n_watches * sizeof(*w));
	qsort(w, in->n_watches, sizeof(*w), by_wd);
	int next = 1, spent = 0;
	for (size_t i = 0; i < in->n_watches; i++) {
		const char *path = watch_target(ctx, w[i], buf, sizeof(buf));
		if (!path || w[i]->wd < 1)
			return fe_msg(err, EBADMSG, "files.img: bad inotify watch (wd %d)", w[i]->wd);
		int r = skip_wds(fd, in, &next, w[i]->wd, &spent, err);
		if (r < 0)
			return r;
		int got = inotify_add_watch(fd, path, w[i]->mask);
		if (got < 0)
			return fe_set(err, errno, "watch %s (wd %d, mask %#x)", path, w[i]->wd, w[i]->mask);
		if (got != w[i]->wd)
			return fe_msg(err, EEXIST, "watch %s came back as wd %d instead of %d (one inode watched twice?)",
				      path, got, w[i]->wd);
		next = got + 1;
	}
	if (spent)
		drain(fd);
	return 0;
}

static int inotify_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	if (!fe->inotify)
		return fe_msg(err, EBADMSG, "files.img: inotify %u without its inotify part", fe->id);
	_cleanup_close_ int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (fd < 0)
		return fe_set(err, errno, "inotify_init1");
	int r = add_watches(ctx, fd, fe->inotify, err);
	if (r < 0)
		return r;
	if (!(fe->flags & O_NONBLOCK) && fcntl(fd, F_SETFL, 0) < 0)
		return fe_set(err, errno, "clear O_NONBLOCK");
	return TAKE_FD(fd);
}

const struct file_ops inotify_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_INOTIFY, .name = "inotify", .phase = FILE_OPEN_AFTER,
	.match = inotify_match, .dump = inotify_dump, .open = inotify_open,
};
