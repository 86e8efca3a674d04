/* SPDX-License-Identifier: Apache-2.0 */
/*
 * inotify instances and their watches. Dump: each watch's inode is found from the file handle in
 * fdinfo (open_by_handle_at on a mount of its filesystem, then its path). Restore: the watches are
 * re-added by path in wd order; wds are allocated in increasing order, so gaps are skipped by
 * adding and removing throwaway watches. Events queued at dump time are not carried.
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
#define HANDLE_MAX 128

typedef Ferry__InotifyWatch Watch;

static int inotify_match(const struct fd_info *fi, const struct dump_opts *o)
{
	return strcmp(fi->link, "anon_inode:inotify") == 0;
}

/* A directory on a mount of the filesystem dev (from ferry's mountinfo), for open_by_handle_at. */
static int open_mount_of(dev_t dev)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], mnt[4096];
	unsigned maj, min;
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*d %*d %u:%u %*s %4095s", &maj, &min, mnt) == 3 && makedev(maj, min) == dev) {
			int fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);	/* not O_PATH: refused */
			return fd < 0 ? -errno : fd;
		}
	return -ENOENT;
}

static int unhex(const char *s, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EIO;
		out[i] = v;
	}
	return 0;
}

/* The path of the watched inode, from the handle at `handle` ("fhandle-bytes:…" onward). */
static int watch_path(struct dump_ctx *ctx, const char *handle, dev_t dev, Watch *w)
{
	unsigned bytes, type;
	int off = 0;
	if (sscanf(handle, "fhandle-bytes:%x fhandle-type:%x f_handle:%n", &bytes, &type, &off) != 2 || !off ||
	    bytes > HANDLE_MAX)
		return fe_msg(ctx->err, EIO, "wd %d: unexpected file handle in fdinfo", w->wd);
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + HANDLE_MAX];
	} h;
	h.fh.handle_bytes = bytes;
	h.fh.handle_type = (int)type;
	if (unhex(handle + off, h.fh.f_handle, bytes) < 0)
		return fe_msg(ctx->err, EIO, "wd %d: bad file handle in fdinfo", w->wd);
	_cleanup_close_ int mfd = open_mount_of(dev);
	if (mfd < 0)
		return fe_set(ctx->err, -mfd, "wd %d: no mount of device %u:%u to find the watched inode on", w->wd,
			      major(dev), minor(dev));
	_cleanup_close_ int fd = open_by_handle_at(mfd, &h.fh, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return fe_set(ctx->err, errno, "wd %d: open the watched inode %" PRIu64 " by handle", w->wd, w->ino);
	char proc[64];
	_cleanup_free_ char *path = NULL;
	struct stat st;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (read_link(proc, &path) < 0)
		return fe_set(ctx->err, errno, "wd %d: path of the watched inode", w->wd);
	if (path[0] != '/' || stat(path, &st) < 0 || st.st_ino != w->ino)
		return fe_msg(ctx->err, EOPNOTSUPP, "wd %d watches inode %" PRIu64 " (%s), which no path reaches",
			      w->wd, w->ino, path);
	w->path = arena_strdup(&ctx->arena, path);
	return w->path ? 0 : -ENOMEM;
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

/* Moves the next wd of fd from *next to wd with throwaway watches (each leaves an IN_IGNORED event). */
static int skip_wds(int fd, const char *gap, int *next, int wd, int *spent, struct ferry_err *err)
{
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

static int add_watches(int fd, const Ferry__InotifyEntry *in, struct ferry_err *err)
{
	_cleanup_free_ Watch **w = malloc((in->n_watches + 1) * sizeof(*w));
	if (!w)
		return fe_set(err, ENOMEM, "inotify watches");
	memcpy(w, in->watches, in->n_watches * sizeof(*w));
	qsort(w, in->n_watches, sizeof(*w), by_wd);
	const char *gap = NULL;
	int next = 1, spent = 0;
	for (size_t i = 0; i < in->n_watches; i++) {
		if (!w[i]->path || w[i]->path[0] != '/' || w[i]->wd < 1)
			return fe_msg(err, EBADMSG, "files.img: bad inotify watch");
		if (next < w[i]->wd && !gap)
			gap = gap_path(in);
		int r = skip_wds(fd, gap, &next, w[i]->wd, &spent, err);
		if (r < 0)
			return r;
		int got = inotify_add_watch(fd, w[i]->path, w[i]->mask);
		if (got < 0)
			return fe_set(err, errno, "watch %s (wd %d, mask %#x)", w[i]->path, w[i]->wd, w[i]->mask);
		if (got != w[i]->wd)
			return fe_msg(err, EEXIST, "watch %s came back as wd %d instead of %d (one inode watched twice?)",
				      w[i]->path, got, w[i]->wd);
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
	int r = add_watches(fd, fe->inotify, err);
	if (r < 0)
		return r;
	if (!(fe->flags & O_NONBLOCK) && fcntl(fd, F_SETFL, 0) < 0)
		return fe_set(err, errno, "clear O_NONBLOCK");
	return TAKE_FD(fd);
}

const struct file_ops inotify_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_INOTIFY, .name = "inotify",
	.match = inotify_match, .dump = inotify_dump, .open = inotify_open,
};
