/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The receiving end of an image stream (handshake.h: rx_stream), for the page server and import.
 * One session per directory at a time (flock); the old inventory is moved aside first; files being
 * received are unnamed (O_TMPFILE) until COMMIT links them, so even a killed receiver leaves no
 * temporaries; inventory.img is published only at CLOSE(ok); everything of a failed session is
 * removed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "transport/handshake.h"

#define RX_OPEN_MAX 16			/* files open at once */
#define RX_FILES_MAX (1u << 20)		/* files one session may commit */
#define INVENTORY "inventory.img"
#define INVENTORY_OLD "inventory.img.old"

struct rx_file {
	uint32_t id;
	int fd;
	int named;		/* no O_TMPFILE here: the data is in ".NAME.part" */
	uint64_t size, got;
	char name[WIRE_NAME_MAX + 1];
};

struct rx {
	struct conn *c;
	int dirfd;
	int lockfd;				/* holds the directory's flock, once locked */
	struct rx_file open[RX_OPEN_MAX];
	int nopen;
	char **done;				/* files committed under their real name (may repeat) */
	size_t ndone, capdone;
	struct rx_file inv;			/* the inventory, whole, published at CLOSE(ok); fd -1: none */
	uint32_t files;
	uint64_t bytes;
	uint64_t t_first;			/* first BEGIN, for the transfer rate */
};

static void tmp_name(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, ".%s.part", name);
}

static struct rx_file *find(struct rx *s, uint32_t id)
{
	for (int i = 0; i < s->nopen; i++)
		if (s->open[i].id == id)
			return &s->open[i];
	return NULL;
}

/* A file to receive: unnamed if the file system can, else ".NAME.part". fd or -errno. */
static int tmp_open(struct rx *s, const char *name, int *named)
{
	char tmp[WIRE_NAME_MAX + 8];
	int fd = openat(s->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	*named = 0;
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd >= 0 ? fd : -errno;
	*named = 1;
	tmp_name(tmp, sizeof(tmp), name);
	unlinkat(s->dirfd, tmp, 0);
	fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	return fd >= 0 ? fd : -errno;
}

/* Gives a received file its name, atomically replacing what had it. */
static int publish(struct rx *s, const struct rx_file *f)
{
	char tmp[WIRE_NAME_MAX + 8], path[64];
	tmp_name(tmp, sizeof(tmp), f->name);
	if (!f->named) {
		unlinkat(s->dirfd, tmp, 0);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", f->fd);
		if (linkat(f->fd, "", s->dirfd, tmp, AT_EMPTY_PATH) < 0 &&
		    linkat(AT_FDCWD, path, s->dirfd, tmp, AT_SYMLINK_FOLLOW) < 0)
			return -errno;
	}
	if (renameat(s->dirfd, tmp, s->dirfd, f->name) < 0) {
		int e = errno;
		unlinkat(s->dirfd, tmp, 0);
		return -e;
	}
	return 0;
}

static void drop_file(struct rx *s, struct rx_file *f)
{
	char tmp[WIRE_NAME_MAX + 8];
	if (f->fd < 0)
		return;
	close(f->fd);
	f->fd = -1;
	tmp_name(tmp, sizeof(tmp), f->name);
	if (f->named)
		unlinkat(s->dirfd, tmp, 0);
}

static void drop_open(struct rx *s, struct rx_file *f)
{
	drop_file(s, f);
	*f = s->open[--s->nopen];
}

static int add_done(struct rx *s, const char *name)
{
	if (s->ndone == s->capdone) {
		size_t n = s->capdone ? 2 * s->capdone : 64;
		void *p = realloc(s->done, n * sizeof(*s->done));
		if (!p)
			return -ENOMEM;
		s->done = p;
		s->capdone = n;
	}
	if (!(s->done[s->ndone] = strdup(name)))
		return -ENOMEM;
	s->ndone++;
	return 0;
}

/* The session failed: nothing of it stays. */
static void rx_cleanup(struct rx *s)
{
	size_t removed = 0;
	while (s->nopen)
		drop_open(s, &s->open[0]);
	for (size_t i = 0; i < s->ndone; i++)
		removed += unlinkat(s->dirfd, s->done[i], 0) == 0;
	drop_file(s, &s->inv);
	fsync(s->dirfd);
	if (removed)
		pr_warn("%s: session failed: removed the %zu file(s) it had written\n", s->c->peer, removed);
}

/* Whether name is ".NAME.part" for an image file NAME: a temporary an older ferry or a fallback left. */
static int is_stale_part(const char *name)
{
	char buf[WIRE_NAME_MAX + 1];
	size_t n = strlen(name);
	if (name[0] != '.' || n < 7 || n - 6 > WIRE_NAME_MAX || strcmp(name + n - 5, ".part"))
		return 0;
	memcpy(buf, name + 1, n - 6);
	buf[n - 6] = 0;
	return wire_name_valid(buf);
}

static void remove_stale_parts(struct rx *s)
{
	int fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)))
		if (is_stale_part(e->d_name) && unlinkat(s->dirfd, e->d_name, 0) == 0)
			pr_info("%s: removed %s, left by an earlier session\n", s->c->peer, e->d_name);
}

/*
 * The start of a session: the directory is ours alone (another session, here or in another process,
 * gets EBUSY), its old inventory moves aside so that it never marks the files arriving now as
 * part of a whole image, and temporaries of a killed session go.
 */
static int rx_start(struct rx *s, struct ferry_err *err)
{
	_cleanup_close_ int fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fe_set(err, errno, "open the image directory");
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK
			       ? fe_msg(err, EBUSY, "another session is writing an image into the directory: try again when it is done")
			       : fe_set(err, errno, "lock the image directory");
	s->lockfd = TAKE_FD(fd);
	if (renameat(s->dirfd, INVENTORY, s->dirfd, INVENTORY_OLD) == 0) {
		pr_info("%s: moved the old %s aside to %s: its image is being replaced\n", s->c->peer, INVENTORY,
			INVENTORY_OLD);
		if (fsync(s->dirfd) < 0)
			return fe_set(err, errno, "fsync the image directory");
	} else if (errno != ENOENT)
		return fe_set(err, errno, "move the old %s aside", INVENTORY);
	remove_stale_parts(s);
	return 0;
}

static int on_begin(struct rx *s, const struct wire_hdr *h, const uint8_t *p, struct ferry_err *err)
{
	struct wire_begin m;
	int r = wire_begin_decode(p, h->len, &m, err), named;
	if (r < 0)
		return r;
	if (find(s, h->file))
		return fe_msg(err, EPROTO, "BEGIN %s: file id %u is already open", m.name, h->file);
	if (s->nopen == RX_OPEN_MAX)
		return fe_msg(err, EPROTO, "BEGIN %s: more than %d files open at once", m.name, RX_OPEN_MAX);
	if (s->files >= RX_FILES_MAX)
		return fe_msg(err, EPROTO, "BEGIN %s: more than %u files in one session", m.name, RX_FILES_MAX);
	int fd = tmp_open(s, m.name, &named);
	if (fd < 0)
		return fe_set(err, -fd, "create a file for %s", m.name);
	if (!s->t_first)
		s->t_first = now_us();
	struct rx_file *f = &s->open[s->nopen++];
	*f = (struct rx_file){ .id = h->file, .fd = fd, .named = named, .size = m.size };
	memcpy(f->name, m.name, sizeof(f->name));
	pr_debug("%s: receiving %s (%llu bytes)\n", s->c->peer, f->name, (unsigned long long)f->size);
	return 0;
}

static int on_data(struct rx *s, const struct wire_hdr *h, const uint8_t *p, struct ferry_err *err)
{
	struct rx_file *f = find(s, h->file);
	if (!f)
		return fe_msg(err, EPROTO, "DATA for file id %u, which is not open", h->file);
	if (f->size && f->got + h->len > f->size)
		return fe_msg(err, EPROTO, "%s: more data than the %llu bytes announced", f->name,
			      (unsigned long long)f->size);
	int r = write_full(f->fd, p, h->len);
	if (r < 0)
		return fe_set(err, -r, "write %s", f->name);
	f->got += h->len;
	s->bytes += h->len;
	return 0;
}

static int on_commit(struct rx *s, const struct wire_hdr *h, const uint8_t *p, struct ferry_err *err)
{
	struct rx_file *f = find(s, h->file);
	uint64_t size;
	int r = wire_commit_decode(p, h->len, &size, err);
	if (r < 0)
		return r;
	if (!f)
		return fe_msg(err, EPROTO, "COMMIT of file id %u, which is not open", h->file);
	if (size != f->got || (f->size && f->size != f->got))
		return fe_msg(err, EPROTO, "%s: COMMIT of %llu bytes, %llu received (%llu announced)", f->name,
			      (unsigned long long)size, (unsigned long long)f->got, (unsigned long long)f->size);
	if (fsync(f->fd) < 0)
		return fe_set(err, errno, "fsync %s", f->name);
	if (!strcmp(f->name, INVENTORY)) {
		drop_file(s, &s->inv);
		s->inv = *f;	/* published at CLOSE(ok) */
	} else {
		if (add_done(s, f->name) < 0)	/* first: a failure later still removes it */
			return fe_set(err, ENOMEM, "commit %s", f->name);
		if ((r = publish(s, f)) < 0)
			return fe_set(err, -r, "name %s", f->name);
		r = close(f->fd) < 0 ? -errno : 0;
		f->fd = -1;	/* named and in done: a failed session removes it */
		if (r < 0)
			return fe_set(err, -r, "close %s", f->name);
	}
	pr_debug("%s: committed %s\n", s->c->peer, f->name);
	s->files++;
	*f = s->open[--s->nopen];
	return 0;
}

static int on_remove(struct rx *s, const struct wire_hdr *h, const uint8_t *p, struct ferry_err *err)
{
	char name[WIRE_NAME_MAX + 1];
	int r = wire_name_decode(p, h->len, name, err);
	if (r < 0)
		return r;
	if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT)
		return fe_set(err, errno, "remove %s", name);
	if (!strcmp(name, INVENTORY))
		drop_file(s, &s->inv);
	return 0;
}

/* CLOSE(ok): check the totals, make everything durable, publish the inventory. */
static int on_close_ok(struct rx *s, const struct wire_close *m, struct ferry_err *err)
{
	int r;
	if (s->nopen)
		return fe_msg(err, EPROTO, "CLOSE with %d file(s) still open (%s…)", s->nopen, s->open[0].name);
	if (m->files != s->files || m->bytes != s->bytes)
		return fe_msg(err, EPROTO, "CLOSE says %u files and %llu bytes were sent, %u and %llu arrived",
			      m->files, (unsigned long long)m->bytes, s->files, (unsigned long long)s->bytes);
	if (fsync(s->dirfd) < 0)
		return fe_set(err, errno, "fsync the image directory");
	if (s->inv.fd >= 0) {
		if ((r = publish(s, &s->inv)) < 0)
			return fe_set(err, -r, "name %s", INVENTORY);
		r = close(s->inv.fd) < 0 ? -errno : 0;
		s->inv.fd = -1;
		if (r < 0) {	/* a late write error: the inventory may not be whole */
			unlinkat(s->dirfd, INVENTORY, 0);
			return fe_set(err, -r, "close %s", INVENTORY);
		}
		unlinkat(s->dirfd, INVENTORY_OLD, 0);
		if (fsync(s->dirfd) < 0)
			return fe_set(err, errno, "fsync the image directory");
	}
	return 0;
}

/* One frame: 0 to go on, 1 at CLOSE(ok), 2 at CLOSE(not ok), or -errno. */
static int rx_frame(struct rx *s, const struct wire_hdr *h, const uint8_t *p, struct ferry_err *err)
{
	struct wire_close m;
	int r;
	switch (h->type) {
	case WT_BEGIN: return on_begin(s, h, p, err);
	case WT_DATA: return on_data(s, h, p, err);
	case WT_COMMIT: return on_commit(s, h, p, err);
	case WT_REMOVE: return on_remove(s, h, p, err);
	case WT_ABORT: {
		struct rx_file *f = find(s, h->file);
		if (f)
			drop_open(s, f);
		return 0;
	}
	case WT_CLOSE:
		if ((r = wire_close_decode(p, h->len, &m, err)) < 0)
			return r;
		if (!m.ok)
			return 2;
		return (r = on_close_ok(s, &m, err)) < 0 ? r : 1;
	default:
		return fe_msg(err, EPROTO, "unexpected %s frame in an image stream", wire_type_name(h->type));
	}
}

int rx_stream(struct conn *c, int dirfd, struct ferry_err *err)
{
	struct rx s = { .c = c, .dirfd = dirfd, .lockfd = -1, .inv = { .fd = -1 } };
	struct wire_hdr h;
	const uint8_t *p;
	int r = rx_start(&s, err);
	while (r == 0) {
		r = conn_recv_msg(c, &h, &p, err);
		if (r == 0 && (r = rx_frame(&s, &h, p, err)) < 0)
			fe_wrap(err, r, "%s", c->peer);
	}
	if (r == 1) {
		double secs = s.t_first ? (now_us() - s.t_first) / 1e6 : 0;
		pr_info("%s: image complete: %u files, %llu bytes in %.3f s (%.0f MiB/s)\n", c->peer, s.files,
			(unsigned long long)s.bytes, secs, secs > 0 ? s.bytes / secs / (1 << 20) : 0.0);
	} else if (s.lockfd >= 0)
		rx_cleanup(&s);
	for (size_t i = 0; i < s.ndone; i++)
		free(s.done[i]);
	free(s.done);
	if (s.lockfd >= 0)
		close(s.lockfd);
	return r == 1 ? 0 : r == 2 ? 1 : r;
}
