/* SPDX-License-Identifier: Apache-2.0 */
/* Image sources (source.h): plain files read in place, encoded ones decoded as they are read. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "common/cleanup.h"
#include "common/safefile.h"
#include "common/util.h"
#include "image/pagestore.h"
#include "image/source.h"

#define STREAM_CHUNK (1u << 20)

struct src_file {
	int fd;
	struct stat st;
	struct img_hdr h;	/* the outer header; zero if the file is shorter */
	int encoded;
};

int img_src_open_fd(struct img_src *s, int dirfd, const char *dir, struct ferry_err *err)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	s->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	return s->dirfd < 0 ? fe_set(err, errno, "image directory %s", dir) : 0;
}

int img_src_open(struct img_src *s, const char *dir, struct ferry_err *err)
{
	memset(s, 0, sizeof(*s));
	s->dirfd = -1;
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return s->dirfd < 0 ? fe_set(err, errno, "image directory %s", dir) : 0;
}

int img_src_open_like(struct img_src *s, const struct img_src *from, const char *dir, struct ferry_err *err)
{
	int r = img_src_open(s, dir, err);
	s->codec = from->codec;
	s->codec_priv = from->codec_priv;
	return r;
}

void img_src_close(struct img_src *s)
{
	if (s->be && s->be->close)
		s->be->close(s);
	s->be = NULL;
	s->be_priv = NULL;
	if (s->codec_owned && s->codec && s->codec->free)
		s->codec->free(s->codec_priv);
	s->codec = NULL;
	s->codec_priv = NULL;
	if (s->dirfd >= 0)
		close(s->dirfd);
	s->dirfd = -1;
}

/* A descriptor of the (possibly encoded) file name, through the source's backend. */
static int src_open(struct img_src *s, const char *name, struct stat *st, struct ferry_err *err)
{
	return s->be ? s->be->open(s, name, st, err) : safe_open_read(s->dirfd, name, st, err);
}

static int src_file_open(struct img_src *s, const char *name, struct src_file *f, struct ferry_err *err)
{
	memset(f, 0, sizeof(*f));
	f->fd = src_open(s, name, &f->st, err);
	if (f->fd < 0)
		return f->fd;
	if ((uint64_t)f->st.st_size >= sizeof(f->h) && pread_full(f->fd, &f->h, sizeof(f->h), 0) < 0)
		memset(&f->h, 0, sizeof(f->h));
	f->encoded = f->h.magic == FERRY_IMG_MAGIC && f->h.flags;
	int r = f->encoded ? img_check_hdr(&f->h, (uint64_t)f->st.st_size, 0, name, err) : 0;
	if (r == 0 && f->encoded && !s->codec)
		r = fe_msg(err, EBADMSG, "%s: encoded image (flags %#x) and no decoder here", name, f->h.flags);
	else if (r == 0 && !f->encoded && s->codec && s->codec->plain_ok)
		r = s->codec->plain_ok(s->codec_priv, name, err);
	if (r < 0) {
		close(f->fd);
		f->fd = -1;
	}
	return r;
}

/* How long the plain file of an encoded one is, by its outer header. */
static uint64_t plain_size(const struct img_hdr *h)
{
	uint64_t hl = h->kind == IMG_PAGES ? PS_HDR_SIZE : sizeof(*h);
	return h->payload_len > UINT64_MAX - hl ? UINT64_MAX : hl + h->payload_len;
}

struct membuf {
	uint8_t *p;
	size_t len, cap;
	const char *name;
};

static int emit_mem(void *arg, const void *buf, size_t len, struct ferry_err *err)
{
	struct membuf *m = arg;
	if (len > m->cap - m->len)
		return fe_msg(err, EBADMSG, "%s: decodes to more than its header says", m->name);
	memcpy(m->p + m->len, buf, len);
	m->len += len;
	return 0;
}

int img_src_read(struct img_src *s, const char *name, uint64_t max, void **out, size_t *len, struct ferry_err *err)
{
	struct src_file f;
	int r = src_file_open(s, name, &f, err);
	if (r < 0)
		return r;
	uint64_t size = f.encoded ? plain_size(&f.h) : (uint64_t)f.st.st_size;
	struct membuf m = { .cap = size, .name = name };
	if (size > max)
		r = fe_msg(err, EFBIG, "%s: image too large (%llu bytes, at most %llu are read)", name,
			   (unsigned long long)size, (unsigned long long)max);
	else if (!(m.p = malloc(size ? size : 1)))
		r = fe_set(err, ENOMEM, "read image %s", name);
	else if (f.encoded)
		r = s->codec->decode(s->codec_priv, f.fd, f.st.st_size, name, emit_mem, &m, err);
	else if ((r = read_full(f.fd, m.p, size)) < 0)
		fe_set(err, r, "read image %s", name);
	m.len = f.encoded ? m.len : size;
	close(f.fd);
	if (r == 0 && m.len != size)
		r = fe_msg(err, EBADMSG, "%s: decodes to %zu bytes, its header says %llu", name, m.len,
			   (unsigned long long)size);
	if (r < 0) {
		free(m.p);
		return r;
	}
	*out = m.p;
	*len = m.len;
	return 0;
}

/* The inventory gives the image its identity; every other file must carry it and its owner. */
static int check_identity(struct img_src *s, enum img_kind kind, int id, const struct img_hdr *h,
			  const ProtobufCMessage *msg, const char *name, struct ferry_err *err)
{
	if (kind != IMG_INVENTORY)
		return img_check_owner(h, id, &s->ident, name, err);
	const Ferry__Inventory *inv = (const Ferry__Inventory *)msg;
	int r = img_check_owner(h, 0, NULL, name, err);
	if (r == 0 && !img_ident_is_set((const void *)h->image_id))
		r = fe_msg(err, EBADMSG, "%s: carries no image id", name);
	if (r == 0 && (!inv->has_image_id || inv->image_id.len != IMG_ID_LEN ||
		       memcmp(inv->image_id.data, h->image_id, IMG_ID_LEN)))
		r = fe_msg(err, EBADMSG, "%s: its image id does not match its header's", name);
	if (r == 0)
		memcpy(s->ident.id, h->image_id, IMG_ID_LEN);
	return r;
}

int img_src_read_msg(struct img_src *s, enum img_kind kind, int id, ProtobufCMessage **out, struct ferry_err *err)
{
	char name[256];
	_cleanup_free_ void *buf = NULL;
	size_t len;
	struct img_hdr h;
	img_name(name, sizeof(name), kind, id);
	int r = img_src_read(s, name, IMG_MAX_META + sizeof(h), &buf, &len, err);
	if (r < 0 || (r = img_decode_buf(buf, len, kind, name, out, err)) < 0)
		return r;
	memcpy(&h, buf, sizeof(h));
	if ((r = check_identity(s, kind, id, &h, *out, name, err)) < 0) {
		img_free(*out);
		*out = NULL;
	}
	return r;
}

struct memfd_out {
	int fd;
	const char *name;
};

static int emit_fd(void *arg, const void *buf, size_t len, struct ferry_err *err)
{
	struct memfd_out *o = arg;
	int r = write_full(o->fd, buf, len);
	return r < 0 ? fe_set(err, r, "decode %s into memory", o->name) : 0;
}

int img_src_fd(struct img_src *s, const char *name, struct ferry_err *err)
{
	struct src_file f;
	int r = src_file_open(s, name, &f, err);
	if (r < 0 || !f.encoded)
		return r < 0 ? r : f.fd;
	char mname[280];
	snprintf(mname, sizeof(mname), "ferry-decoded:%s", name);
	struct memfd_out o = { .fd = memfd_create(mname, MFD_CLOEXEC | MFD_ALLOW_SEALING), .name = name };
	if (o.fd < 0)
		r = fe_set(err, errno, "decode %s: memfd_create", name);
	else
		r = s->codec->decode(s->codec_priv, f.fd, f.st.st_size, name, emit_fd, &o, err);
	close(f.fd);
	/* Sealed: what was verified is what the restore reads, whoever else holds it. */
	if (r == 0 && fcntl(o.fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		r = fe_set(err, errno, "seal the decoded %s", name);
	if (r < 0) {
		if (o.fd >= 0)
			close(o.fd);
		return r;
	}
	return o.fd;
}

int img_src_stream(struct img_src *s, const char *name, img_emit_fn emit, void *arg, struct ferry_err *err)
{
	struct src_file f;
	int r = src_file_open(s, name, &f, err);
	if (r < 0)
		return r;
	if (f.encoded) {
		r = s->codec->decode(s->codec_priv, f.fd, f.st.st_size, name, emit, arg, err);
		close(f.fd);
		return r;
	}
	uint8_t *buf = malloc(STREAM_CHUNK);
	r = buf ? 0 : fe_set(err, ENOMEM, "read %s", name);
	for (off_t off = 0; r == 0 && off < f.st.st_size;) {
		size_t n = (uint64_t)(f.st.st_size - off) < STREAM_CHUNK ? (size_t)(f.st.st_size - off) : STREAM_CHUNK;
		if ((r = pread_full(f.fd, buf, n, off)) < 0)
			fe_set(err, r, "read %s", name);
		else
			r = emit(arg, buf, n, err);
		off += (off_t)n;
	}
	free(buf);
	close(f.fd);
	return r;
}

int img_src_encoded(struct img_src *s, const char *name, struct img_hdr *outer, uint64_t *size, struct ferry_err *err)
{
	struct stat st;
	int fd = src_open(s, name, &st, err);
	if (fd < 0)
		return fd;
	struct img_hdr h = { 0 };
	if ((uint64_t)st.st_size >= sizeof(h) && pread_full(fd, &h, sizeof(h), 0) < 0)
		memset(&h, 0, sizeof(h));
	close(fd);
	if (outer)
		*outer = h;
	if (size)
		*size = (uint64_t)st.st_size;
	return h.magic == FERRY_IMG_MAGIC && h.flags != 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void img_src_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int is_image_name(const char *name)
{
	size_t l = strlen(name);
	return name[0] != '.' && l >= 5 && !strcmp(name + l - 4, ".img");
}

static int dir_list(struct img_src *s, char ***out, size_t *nout, struct ferry_err *err)
{
	int dfd = fcntl(s->dirfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return fe_set(err, errno, "list %s", s->dir);
	}
	rewinddir(d);
	char **names = NULL;
	size_t n = 0;
	int r = 0;
	for (struct dirent *de; r == 0 && (de = readdir(d));) {
		if (!is_image_name(de->d_name))
			continue;
		char **nn = realloc(names, (n + 1) * sizeof(*names));
		if (!nn || !(nn[n] = strdup(de->d_name)))
			r = fe_set(err, ENOMEM, "list %s", s->dir);
		if (nn)
			names = nn;
		n += r == 0;
	}
	closedir(d);
	if (r < 0) {
		img_src_names_free(names, n);
		return r;
	}
	*out = names;
	*nout = n;
	return 0;
}

int img_src_list(struct img_src *s, char ***out, size_t *nout, struct ferry_err *err)
{
	int r = s->be ? s->be->list(s, out, nout, err) : dir_list(s, out, nout, err);
	if (r == 0)
		qsort(*out, *nout, sizeof(**out), cmp_name);
	return r;
}

/* ---------------------------------------------------------------- files held in memory */

struct mem_files {
	char **names;
	int *fds;		/* sealed memfds */
	size_t n;
};

static int mem_open(struct img_src *s, const char *name, struct stat *st, struct ferry_err *err)
{
	const struct mem_files *m = s->be_priv;
	for (size_t i = 0; i < m->n; i++) {
		if (strcmp(m->names[i], name))
			continue;
		char path[64];	/* a description of its own: its offset is the reader's */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", m->fds[i]);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, st) < 0) {
			int e = errno;
			if (fd >= 0)
				close(fd);
			return fe_set(err, e, "%s/%s", s->dir, name);
		}
		return fd;
	}
	return fe_set(err, ENOENT, "%s/%s", s->dir, name);
}

static int mem_list(struct img_src *s, char ***out, size_t *nout, struct ferry_err *err)
{
	const struct mem_files *m = s->be_priv;
	char **names = calloc(m->n + 1, sizeof(*names));
	size_t n = 0;
	for (size_t i = 0; names && i < m->n; i++)
		if (is_image_name(m->names[i]) && !(names[n++] = strdup(m->names[i]))) {
			img_src_names_free(names, n);
			names = NULL;
		}
	if (!names)
		return fe_set(err, ENOMEM, "list %s", s->dir);
	*out = names;
	*nout = n;
	return 0;
}

static void mem_close(struct img_src *s)
{
	struct mem_files *m = s->be_priv;
	for (size_t i = 0; m && i < m->n; i++) {
		free(m->names[i]);
		close(m->fds[i]);
	}
	if (m) {
		free(m->names);
		free(m->fds);
	}
	free(m);
}

static const struct img_src_backend mem_backend = { .open = mem_open, .list = mem_list, .close = mem_close };

int img_src_open_mem(struct img_src *s, const char *dir, struct ferry_err *err)
{
	memset(s, 0, sizeof(*s));
	s->dirfd = -1;
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	if (!(s->be_priv = calloc(1, sizeof(struct mem_files))))
		return fe_set(err, ENOMEM, "image source %s", dir);
	s->be = &mem_backend;
	return 0;
}

int img_src_mem_add(struct img_src *s, const char *name, int memfd, struct ferry_err *err)
{
	struct mem_files *m = s->be_priv;
	char **nn = realloc(m->names, (m->n + 1) * sizeof(*nn));
	int *nf = nn ? realloc(m->fds, (m->n + 1) * sizeof(*nf)) : NULL;
	if (nn)
		m->names = nn;
	if (nf)
		m->fds = nf;
	char *dup = nf ? strdup(name) : NULL;
	if (!dup) {
		close(memfd);
		return fe_set(err, ENOMEM, "%s/%s", s->dir, name);
	}
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->names[i], name)) {	/* sent again: the last one counts */
			free(dup);
			close(m->fds[i]);
			m->fds[i] = memfd;
			return 0;
		}
	m->names[m->n] = dup;
	m->fds[m->n++] = memfd;
	return 0;
}

