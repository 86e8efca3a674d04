/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ferry export DIR FILE` / `ferry import FILE DIR`: an image directory as one file, in the page
 * server's framing (docs/PROTOCOL.md): HELLO, then BEGIN/DATA/COMMIT per file with inventory.img
 * last, then CLOSE(ok) as the end record. Import checks every frame and keeps nothing unless the
 * end record arrives.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/cleanup.h"
#include "common/safefile.h"
#include "common/util.h"
#include "transport/handshake.h"

#define INVENTORY "inventory.img"

static int name_order(const struct dirent **a, const struct dirent **b)
{
	int ia = !strcmp((*a)->d_name, INVENTORY), ib = !strcmp((*b)->d_name, INVENTORY);
	return ia != ib ? ia - ib : strcmp((*a)->d_name, (*b)->d_name);
}

static int is_image(const struct dirent *d)
{
	return (d->d_type == DT_REG || d->d_type == DT_UNKNOWN) && wire_name_valid(d->d_name);
}

static int send_file(struct conn *c, int dirfd, const char *name, uint32_t id, uint64_t *bytes,
		     struct ferry_err *err)
{
	struct stat st;
	_cleanup_close_ int fd = safe_open_read(dirfd, name, &st, err);
	_cleanup_free_ uint8_t *buf = malloc(WIRE_CHUNK);
	uint8_t ctl[WIRE_MAX_CTRL];
	struct wire_begin m = { 0 };
	if (fd < 0)
		return fd;
	if (!buf)
		return fe_set(err, ENOMEM, "export %s", name);
	m.size = st.st_size;
	snprintf(m.name, sizeof(m.name), "%.128s", name);
	int r = conn_send(c, WT_BEGIN, id, ctl, wire_begin_encode(ctl, &m), err);
	uint64_t sent = 0;
	while (r == 0 && sent < m.size) {
		ssize_t n = read(fd, buf, WIRE_CHUNK);
		if (n <= 0)
			return fe_set(err, n < 0 ? errno : EIO, "read %s: %s", name, n < 0 ? "error" : "shrank while exported");
		r = conn_send(c, WT_DATA, id, buf, n, err);
		sent += n;
	}
	if (r == 0 && sent != m.size)
		return fe_msg(err, EIO, "read %s: grew while exported", name);
	if (r == 0)
		r = conn_send(c, WT_COMMIT, id, ctl, wire_commit_encode(ctl, sent), err);
	*bytes += sent;
	return r;
}

static int export_to(struct conn *c, int dirfd, const char *dir, struct ferry_err *err)
{
	struct dirent **ents;
	int n = scandirat(dirfd, ".", &ents, is_image, name_order);
	if (n < 0)
		return fe_set(err, errno, "list %s", dir);
	struct wire_hello me;
	struct wire_close end = { .ok = 1 };
	int r = (n == 0 || strcmp(ents[n - 1]->d_name, INVENTORY))
			? fe_msg(err, ENOENT, "%s holds no inventory.img: not a whole image", dir)
			: hs_send_hello(c, 0, &me, err);
	for (int i = 0; i < n && r == 0; i++, end.files++)
		r = send_file(c, dirfd, ents[i]->d_name, i + 1, &end.bytes, err);
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	uint8_t ctl[32];
	return r < 0 ? r : conn_send(c, WT_CLOSE, 0, ctl, wire_close_encode(ctl, &end), err);
}

/* The export is written unnamed next to FILE and linked as FILE once whole and on disk. */
int image_export(const char *dir, const char *file, struct ferry_err *err)
{
	_cleanup_close_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char parent[4096], base[4096];
	struct conn c;
	struct safe_tmp t;
	if (dirfd < 0)
		return fe_set(err, errno, "open %s", dir);
	snprintf(parent, sizeof(parent), "%s", file);
	snprintf(base, sizeof(base), "%s", file);
	_cleanup_close_ int pfd = open(dirname(parent), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return fe_set(err, errno, "open the directory of %s", file);
	int r = safe_tmp_open(&t, pfd, basename(base), err);
	if (r < 0)
		return r;
	conn_init(&c, dup(t.fd), "export %s", file);
	c.is_file = 1;
	r = export_to(&c, dirfd, dir, err);
	conn_close(&c);
	if (r < 0) {
		safe_tmp_abort(&t);
		return r;
	}
	return safe_tmp_commit(&t, basename(base), 1, err);
}

int image_import(const char *file, const char *dir, struct ferry_err *err)
{
	struct conn c;
	struct wire_hello peer;
	uint8_t extra;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fe_set(err, errno, "open %s", file);
	conn_init(&c, fd, "import %s", file);
	c.is_file = 1;
	int dirfd = safe_dir_open(dir, 1, err), r = dirfd < 0 ? dirfd : 0;
	if (r == 0)
		r = hs_recv_hello(&c, &peer, err);
	if (r == 0 && (r = rx_stream(&c, dirfd, err)) == 1)
		r = fe_msg(err, EBADMSG, "%s: the export records a failed dump", c.peer);
	if (r == 0 && read(fd, &extra, 1) > 0)
		fprintf(stderr, "Warning: %s: bytes after the end record ignored\n", file);
	if (dirfd >= 0)
		close(dirfd);
	conn_close(&c);
	return r;
}
