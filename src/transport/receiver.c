/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The receiving end of an image stream (handshake.h: rx_stream), for the page server and import:
 * temporaries renamed on COMMIT, inventory.img published only at CLOSE(ok), everything of the
 * session removed otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/log.h"
#include "common/util.h"
#include "transport/handshake.h"

#define RX_OPEN_MAX 16
#define INVENTORY "inventory.img"

struct rx_file {
	uint32_t id;
	int fd;
	uint64_t size, got;
	char name[WIRE_NAME_MAX + 1];
};

struct rx {
	struct conn *c;
	int dirfd;
	struct rx_file open[RX_OPEN_MAX];
	int nopen;
	char (*done)[WIRE_NAME_MAX + 1];	/* files committed under their real name */
	size_t ndone, capdone;
	int inv_pending;			/* .inventory.img.part is whole, not yet renamed */
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

static void drop_open(struct rx *s, struct rx_file *f)
{
	char tmp[WIRE_NAME_MAX + 8];
	tmp_name(tmp, sizeof(tmp), f->name);
	close(f->fd);
	unlinkat(s->dirfd, tmp, 0);
	*f = s->open[--s->nopen];
}

static void forget_done(struct rx *s, const char *name)
{
	for (size_t i = 0; i < s->ndone; i++)
		if (!strcmp(s->done[i], name)) {
			memcpy(s->done[i], s->done[--s->ndone], sizeof(s->done[i]));
			return;
		}
}

static int add_done(struct rx *s, const char *name)
{
	forget_done(s, name);
	if (s->ndone == s->capdone) {
		size_t n = s->capdone ? 2 * s->capdone : 64;
		void *p = realloc(s->done, n * sizeof(*s->done));
		if (!p)
			return -ENOMEM;
		s->done = p;
		s->capdone = n;
	}
	snprintf(s->done[s->ndone++], sizeof(s->done[0]), "%s", name);
	return 0;
}

/* The session failed: nothing of it stays. */
static void rx_cleanup(struct rx *s)
{
	char tmp[WIRE_NAME_MAX + 8];
	while (s->nopen)
		drop_open(s, &s->open[0]);
	for (size_t i = 0; i < s->ndone; i++)
		unlinkat(s->dirfd, s->done[i], 0);
	tmp_name(tmp, sizeof(tmp), INVENTORY);
	if (s->inv_pending)
		unlinkat(s->dirfd, tmp, 0);
	fsync(s->dirfd);
	if (s->ndone || s->inv_pending)
		pr_warn("%s: session failed: removed the %zu file(s) it had written\n", s->c->peer,
			s->ndone + !!s->inv_pending);
}

static int on_begin(struct rx *s, const struct wire_hdr *h, const uint8_t *p, struct ferry_err *err)
{
	struct wire_begin m;
	char tmp[WIRE_NAME_MAX + 8];
	int r = wire_begin_decode(p, h->len, &m, err);
	if (r < 0)
		return r;
	if (find(s, h->file))
		return fe_msg(err, EPROTO, "BEGIN %s: file id %u is already open", m.name, h->file);
	if (s->nopen == RX_OPEN_MAX)
		return fe_msg(err, EPROTO, "BEGIN %s: more than %d files open at once", m.name, RX_OPEN_MAX);
	tmp_name(tmp, sizeof(tmp), m.name);
	int fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return fe_set(err, errno, "create %s", tmp);
	if (!s->t_first)
		s->t_first = now_us();
	struct rx_file *f = &s->open[s->nopen++];
	*f = (struct rx_file){ .id = h->file, .fd = fd, .size = m.size };
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
	char tmp[WIRE_NAME_MAX + 8];
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
	tmp_name(tmp, sizeof(tmp), f->name);
	if (!strcmp(f->name, INVENTORY))
		s->inv_pending = 1;	/* published at CLOSE(ok) */
	else if (renameat(s->dirfd, tmp, s->dirfd, f->name) < 0)
		return fe_set(err, errno, "rename %s", f->name);
	else if (add_done(s, f->name) < 0)
		return fe_set(err, ENOMEM, "commit %s", f->name);
	pr_debug("%s: committed %s\n", s->c->peer, f->name);
	s->files++;
	close(f->fd);
	*f = s->open[--s->nopen];
	return 0;
}

static int on_remove(struct rx *s, const struct wire_hdr *h, const uint8_t *p, struct ferry_err *err)
{
	char name[WIRE_NAME_MAX + 1], tmp[WIRE_NAME_MAX + 8];
	int r = wire_name_decode(p, h->len, name, err);
	if (r < 0)
		return r;
	if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT)
		return fe_set(err, errno, "remove %s", name);
	forget_done(s, name);
	if (!strcmp(name, INVENTORY) && s->inv_pending) {
		tmp_name(tmp, sizeof(tmp), name);
		unlinkat(s->dirfd, tmp, 0);
		s->inv_pending = 0;
	}
	return 0;
}

/* CLOSE(ok): check the totals, make everything durable, publish the inventory. */
static int on_close_ok(struct rx *s, const struct wire_close *m, struct ferry_err *err)
{
	char tmp[WIRE_NAME_MAX + 8];
	if (s->nopen)
		return fe_msg(err, EPROTO, "CLOSE with %d file(s) still open (%s…)", s->nopen, s->open[0].name);
	if (m->files != s->files || m->bytes != s->bytes)
		return fe_msg(err, EPROTO, "CLOSE says %u files and %llu bytes were sent, %u and %llu arrived",
			      m->files, (unsigned long long)m->bytes, s->files, (unsigned long long)s->bytes);
	if (fsync(s->dirfd) < 0)
		return fe_set(err, errno, "fsync the image directory");
	if (s->inv_pending) {
		tmp_name(tmp, sizeof(tmp), INVENTORY);
		if (renameat(s->dirfd, tmp, s->dirfd, INVENTORY) < 0)
			return fe_set(err, errno, "rename %s", INVENTORY);
		s->inv_pending = 0;
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
	struct rx s = { .c = c, .dirfd = dirfd };
	struct wire_hdr h;
	const uint8_t *p;
	int r;
	do {
		r = conn_recv_msg(c, &h, &p, err);
		if (r == 0 && (r = rx_frame(&s, &h, p, err)) < 0)
			fe_wrap(err, r, "%s", c->peer);
	} while (r == 0);
	if (r == 1) {
		double secs = s.t_first ? (now_us() - s.t_first) / 1e6 : 0;
		pr_info("%s: image complete: %u files, %llu bytes in %.3f s (%.0f MiB/s)\n", c->peer, s.files,
			(unsigned long long)s.bytes, secs, secs > 0 ? s.bytes / secs / (1 << 20) : 0.0);
	}
	else
		rx_cleanup(&s);
	free(s.done);
	return r == 1 ? 0 : r == 2 ? 1 : r;
}
