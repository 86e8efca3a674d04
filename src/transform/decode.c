/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoding an encoded image directory for a restore: every image file is decoded (or, if plain,
 * copied) into a new private directory on tmpfs, each chunk verified on the way. If one file is
 * encrypted — or a key is given — every file must be, and all must come from the same dump.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "common/cleanup.h"
#include "common/util.h"
#include "image/pagestore.h"
#include "transform/codec.h"
#include "transform/transform.h"

struct decode_job {
	int src, dst;			/* directory fds */
	const struct tf_key *key;	/* NULL: none given */
	int need_enc;			/* every file must be encrypted */
	int have_id;
	uint8_t image_id[TF_ID_LEN];
	char first[256];		/* the file that set image_id */
};

struct img_entry {
	char name[256];
	struct img_hdr h;		/* zeroed when the file is shorter than a header */
	uint64_t size, plain_size;
};

static int is_image_name(const char *n)
{
	size_t l = strlen(n);
	/* the statistics are records of operations (written plain, after them), not needed by one */
	return n[0] != '.' && l > 4 && !strcmp(n + l - 4, ".img") && strcmp(n, "stats-restore.img") &&
	       strcmp(n, "stats-dump.img");
}

static int read_entry(int dirfd, const char *name, struct img_entry *e, struct ferry_err *err)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return fe_set(err, errno, "open %s", name);
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->size = e->plain_size = (uint64_t)st.st_size;
	if (!S_ISREG(st.st_mode))
		return fe_msg(err, EBADMSG, "%s: not a regular file", name);
	if (st.st_size >= (off_t)sizeof(e->h) && pread_full(fd, &e->h, sizeof(e->h), 0) < 0)
		return fe_set(err, EIO, "read %s", name);
	if (e->h.magic != FERRY_IMG_MAGIC)
		e->h.flags = 0;
	if (e->h.flags)
		e->plain_size = (e->h.kind == IMG_PAGES ? PS_HDR_SIZE : sizeof(e->h)) + e->h.payload_len;
	return 0;
}

/* The image files of dir, with their headers. */
static int list_images(int dirfd, struct img_entry **out, size_t *n, struct ferry_err *err)
{
	_cleanup_close_ int dfd = dup(dirfd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d)
		return fe_set(err, errno, "list the image directory");
	TAKE_FD(dfd);
	struct img_entry *v = NULL;
	size_t k = 0;
	int r = 0;
	struct dirent *de;
	while (!r && (de = readdir(d))) {
		if (!is_image_name(de->d_name))
			continue;
		struct img_entry *nv = realloc(v, (k + 1) * sizeof(*v));
		if (!nv) {
			r = fe_set(err, ENOMEM, "list the image directory");
			break;
		}
		v = nv;
		r = read_entry(dirfd, de->d_name, &v[k], err);
		k += r == 0;
	}
	closedir(d);
	if (r < 0) {
		free(v);
		return r;
	}
	*out = v;
	*n = k;
	return 0;
}

static int copy_plain(struct decode_job *j, const char *name, int in, uint64_t size, struct ferry_err *err)
{
	_cleanup_close_ int out = openat(j->dst, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return fe_set(err, errno, "create the decoded %s", name);
	while (size) {
		ssize_t n = sendfile(out, in, NULL, size > (1u << 30) ? (1u << 30) : size);
		if (n <= 0)
			return fe_set(err, n < 0 ? errno : EIO, "copy %s", name);
		size -= (uint64_t)n;
	}
	return 0;
}

struct emit_file {
	int fd;
	const char *name;
};

static int emit_file(void *arg, const void *buf, size_t len, struct ferry_err *err)
{
	struct emit_file *f = arg;
	int r = write_full(f->fd, buf, len);
	return r < 0 ? fe_set(err, -r, "write the decoded %s", f->name) : 0;
}

static int check_origin(struct decode_job *j, const char *name, const struct tf_info *info, struct ferry_err *err)
{
	if (!(info->flags & TF_FLAG_AES256GCM))
		return 0;
	if (!j->have_id) {
		memcpy(j->image_id, info->image_id, TF_ID_LEN);
		snprintf(j->first, sizeof(j->first), "%s", name);
		j->have_id = 1;
	} else if (memcmp(j->image_id, info->image_id, TF_ID_LEN)) {
		return fe_msg(err, EBADMSG, "%s comes from another dump than %s: refusing a mixed image", name, j->first);
	}
	return 0;
}

static int decode_encoded(struct decode_job *j, const struct img_entry *e, int in, struct ferry_err *err)
{
	void *map = mmap(NULL, e->size, PROT_READ, MAP_PRIVATE, in, 0);
	if (map == MAP_FAILED)
		return fe_set(err, errno, "map %s", e->name);
	madvise(map, e->size, MADV_SEQUENTIAL);
	struct emit_file f = { .fd = openat(j->dst, e->name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600),
			       .name = e->name };
	struct tf_info info;
	int r = f.fd < 0 ? fe_set(err, errno, "create the decoded %s", e->name) :
		tf_decode_buf(map, e->size, e->name, j->key, emit_file, &f, &info, err);
	if (!r)
		r = check_origin(j, e->name, &info, err);
	if (f.fd >= 0)
		close(f.fd);
	munmap(map, e->size);
	return r;
}

static int decode_one(struct decode_job *j, const struct img_entry *e, struct ferry_err *err)
{
	_cleanup_close_ int in = openat(j->src, e->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0)
		return fe_set(err, errno, "open %s", e->name);
	if (j->need_enc && !(e->h.flags & TF_FLAG_AES256GCM))
		return fe_msg(err, EBADMSG, "%s is not encrypted while %s: refusing it (it may have been "
			      "substituted)", e->name, j->key ? "--encrypt-key was given" : "the rest of the image is");
	if (!e->h.flags)
		return copy_plain(j, e->name, in, e->size, err);
	if (e->size < sizeof(struct img_hdr) + sizeof(struct tf_hdr))
		return fe_msg(err, EBADMSG, "%s: truncated encoded image (%llu bytes)", e->name,
			      (unsigned long long)e->size);
	return decode_encoded(j, e, in, err);
}

/* A new 0700 directory on tmpfs (/dev/shm, /run) with room for need bytes, else in TMPDIR or /tmp. */
static int make_private_dir(uint64_t need, char **out, struct ferry_err *err)
{
	const char *tmp = getenv("TMPDIR");
	const char *bases[] = { "/dev/shm", "/run", tmp && tmp[0] == '/' ? tmp : "/tmp" };
	for (size_t i = 0; i < ARRAY_SIZE(bases); i++) {
		struct statvfs sv;
		if (statvfs(bases[i], &sv) < 0 || (i + 1 < ARRAY_SIZE(bases) &&
						    (uint64_t)sv.f_bavail * sv.f_frsize < need + (need >> 4)))
			continue;
		char *p = NULL;
		if (asprintf(&p, "%s/ferry-decoded-XXXXXX", bases[i]) < 0)
			return fe_set(err, ENOMEM, "decode directory");
		if (mkdtemp(p)) {
			*out = p;
			return 0;
		}
		free(p);
	}
	return fe_msg(err, ENOSPC, "no room for the %llu MiB decoded image in /dev/shm, /run or %s",
		      (unsigned long long)(need >> 20), bases[2]);
}

/* A chain's parent named relative to the image cannot be found from the private copy. */
static int check_chain(int dst, struct ferry_err *err)
{
	Ferry__Inventory *inv = NULL;
	struct ferry_err e2 = { 0 };
	if (img_read_msg(dst, IMG_INVENTORY, 0, (ProtobufCMessage **)&inv, &e2) < 0)
		return 0;	/* the restore reports it */
	int r = 0;
	if (inv->parent_dir && inv->parent_dir[0] && inv->parent_dir[0] != '/')
		r = fe_msg(err, ENOTSUP, "inventory.img: an encoded image whose parent (%s) is named relative to it "
			   "cannot be restored; merge the chain first (ferry image merge)", inv->parent_dir);
	img_free(&inv->base);
	return r;
}

static int decode_all(struct decode_job *j, struct img_entry *v, size_t n, struct ferry_err *err)
{
	int r = 0;
	for (size_t i = 0; i < n && !r; i++)
		r = decode_one(j, &v[i], err);
	return r ? r : check_chain(j->dst, err);
}

static int prepare(const char *key_file, struct tf_key *key, struct img_entry *v, size_t n, int *need_enc,
		   uint64_t *need, struct ferry_err *err)
{
	*need_enc = key_file != NULL;
	*need = 0;
	for (size_t i = 0; i < n; i++) {
		*need_enc |= !!(v[i].h.flags & TF_FLAG_AES256GCM);
		*need += v[i].plain_size;
	}
	return key_file ? tf_key_load(key_file, key, err) : 0;
}

int transform_decode_dir(const char *dir, const char *key_file, char **plain, struct ferry_err *err)
{
	_cleanup_close_ int src = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (src < 0)
		return fe_set(err, errno, "open image directory %s", dir);
	struct img_entry *v = NULL;
	size_t n = 0;
	struct tf_key key;
	struct decode_job j = { .src = src, .dst = -1, .key = key_file ? &key : NULL };
	uint64_t need;
	char *out = NULL;
	int r = list_images(src, &v, &n, err);
	if (!r)
		r = prepare(key_file, &key, v, n, &j.need_enc, &need, err);
	if (!r)
		r = make_private_dir(need, &out, err);
	if (!r && (j.dst = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		r = fe_set(err, errno, "open %s", out);
	if (!r)
		r = decode_all(&j, v, n, err);
	if (j.dst >= 0)
		close(j.dst);
	if (key_file)
		tf_key_wipe(&key);
	free(v);
	if (r < 0) {
		transform_cleanup(out);
		return r;
	}
	*plain = out;
	return 0;
}
