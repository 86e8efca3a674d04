/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An image source fed by an image stream (docs/PROTOCOL.md: BEGIN/DATA/COMMIT per file, CLOSE
 * at the end) — a page server's connection, a migration peer, an export file. Each file is
 * received into a memfd, sealed once committed, and read through the memory backend of
 * image/source.h: nothing is ever written to a file with a name, and all of it goes with the
 * process. The source holds the image only if the stream ends with CLOSE(ok).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "common/util.h"
#include "image/source.h"
#include "transport/handshake.h"
#include "transport/transport.h"

#define SRC_OPEN_MAX 16

struct rx_mem {
	struct img_src *s;
	struct {
		uint32_t id;
		int fd;
		uint64_t size, got;
		char name[WIRE_NAME_MAX + 1];
	} open[SRC_OPEN_MAX];
	int nopen;
	uint32_t files;
	uint64_t bytes;
};

static int slot(struct rx_mem *m, uint32_t id)
{
	for (int i = 0; i < m->nopen; i++)
		if (m->open[i].id == id)
			return i;
	return -1;
}

static void drop(struct rx_mem *m, int i)
{
	close(m->open[i].fd);
	m->open[i] = m->open[--m->nopen];
}

static int on_begin(struct rx_mem *m, const struct wire_hdr *h, const uint8_t *p, struct ferry_err *err)
{
	struct wire_begin b;
	int r = wire_begin_decode(p, h->len, &b, err);
	if (r < 0)
		return r;
	if (slot(m, h->file) >= 0 || m->nopen == SRC_OPEN_MAX)
		return fe_msg(err, EPROTO, "BEGIN %s: file id %u already open, or too many open", b.name, h->file);
	char mname[WIRE_NAME_MAX + 16];
	snprintf(mname, sizeof(mname), "ferry-stream:%s", b.name);
	int fd = memfd_create(mname, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return fe_set(err, errno, "receive %s: memfd_create", b.name);
	m->open[m->nopen].id = h->file;
	m->open[m->nopen].fd = fd;
	m->open[m->nopen].size = b.size;
	m->open[m->nopen].got = 0;
	memcpy(m->open[m->nopen++].name, b.name, sizeof(b.name));
	return 0;
}

static int on_data(struct rx_mem *m, const struct wire_hdr *h, const uint8_t *p, struct ferry_err *err)
{
	int i = slot(m, h->file);
	if (i < 0)
		return fe_msg(err, EPROTO, "DATA for file id %u, which is not open", h->file);
	if (m->open[i].size && m->open[i].got + h->len > m->open[i].size)
		return fe_msg(err, EPROTO, "%s: more data than announced", m->open[i].name);
	int r = write_full(m->open[i].fd, p, h->len);
	if (r < 0)
		return fe_set(err, -r, "receive %s into memory", m->open[i].name);
	m->open[i].got += h->len;
	m->bytes += h->len;
	return 0;
}

static int on_commit(struct rx_mem *m, const struct wire_hdr *h, const uint8_t *p, struct ferry_err *err)
{
	uint64_t size;
	int i = slot(m, h->file), r = wire_commit_decode(p, h->len, &size, err);
	if (r < 0)
		return r;
	if (i < 0)
		return fe_msg(err, EPROTO, "COMMIT of file id %u, which is not open", h->file);
	if (size != m->open[i].got || (m->open[i].size && m->open[i].size != size))
		return fe_msg(err, EPROTO, "%s: COMMIT of %llu bytes, %llu received", m->open[i].name,
			      (unsigned long long)size, (unsigned long long)m->open[i].got);
	int fd = m->open[i].fd;
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		return fe_set(err, errno, "seal the received %s", m->open[i].name);
	char name[WIRE_NAME_MAX + 1];
	memcpy(name, m->open[i].name, sizeof(name));
	m->open[i] = m->open[--m->nopen];	/* fd goes to the source */
	r = img_src_mem_add(m->s, name, fd, err);
	m->files += r == 0;
	return r;
}

/* One frame: 0 to go on, 1 at CLOSE(ok), or -errno. */
static int frame(struct rx_mem *m, const struct wire_hdr *h, const uint8_t *p, struct ferry_err *err)
{
	struct wire_close c;
	int r, i;
	switch (h->type) {
	case WT_BEGIN: return on_begin(m, h, p, err);
	case WT_DATA: return on_data(m, h, p, err);
	case WT_COMMIT: return on_commit(m, h, p, err);
	case WT_REMOVE: return 0;	/* an older image's file: this source never held one */
	case WT_ABORT:
		if ((i = slot(m, h->file)) >= 0)
			drop(m, i);
		return 0;
	case WT_CLOSE:
		if ((r = wire_close_decode(p, h->len, &c, err)) < 0)
			return r;
		if (!c.ok)
			return fe_msg(err, ECANCELED, "the stream records a failed dump");
		if (m->nopen || c.files != m->files || c.bytes != m->bytes)
			return fe_msg(err, EPROTO, "CLOSE says %u files and %llu bytes were sent, %u and %llu arrived",
				      c.files, (unsigned long long)c.bytes, m->files, (unsigned long long)m->bytes);
		return 1;
	default:
		return fe_msg(err, EPROTO, "unexpected %s frame in an image stream", wire_type_name(h->type));
	}
}

int img_src_recv(struct img_src *s, struct conn *c, struct ferry_err *err)
{
	struct rx_mem m = { .s = s };
	struct wire_hdr h;
	const uint8_t *p;
	int r = img_src_open_mem(s, c->peer, err);
	while (r == 0) {
		r = conn_recv_msg(c, &h, &p, err);
		if (r == 0 && (r = frame(&m, &h, p, err)) < 0)
			fe_wrap(err, r, "%s", c->peer);
	}
	while (m.nopen)
		drop(&m, 0);
	if (r != 1) {
		img_src_close(s);
		return r < 0 ? r : fe_msg(err, EPROTO, "%s: the stream ended early", c->peer);
	}
	return 0;
}

int img_src_open_export(struct img_src *s, const char *file, struct ferry_err *err)
{
	struct conn c;
	struct wire_hello peer;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fe_set(err, errno, "open %s", file);
	conn_init(&c, fd, "%s", file);
	c.is_file = 1;
	int r = hs_recv_hello(&c, &peer, err);
	if (r == 0)
		r = img_src_recv(s, &c, err);
	conn_close(&c);
	return r;
}
