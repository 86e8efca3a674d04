/* SPDX-License-Identifier: Apache-2.0 */
/* Framing, checksumming and atomic writing of image files; the kind table. */
#include <errno.h>
#include <stddef.h>
#include <sys/random.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/hash.h"
#define LOG_PREFIX "image: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/safefile.h"
#include "common/util.h"
#include "image/image.h"

static const struct img_kind_desc kinds[] = {
	{ IMG_INVENTORY, "inventory", "inventory.img", &ferry__inventory__descriptor },
	{ IMG_PSTREE, "pstree", "pstree.img", &ferry__pstree__descriptor },
	{ IMG_CORE, "core", "core-%d.img", &ferry__task_core__descriptor },
	{ IMG_MM, "mm", "mm-%d.img", &ferry__mm__descriptor },
	{ IMG_FDS, "fds", "fds-%d.img", &ferry__fd_table__descriptor },
	{ IMG_FILES, "files", "files.img", &ferry__files__descriptor },
	{ IMG_PAGEMAP, "pagemap", "pagemap-%d.img", &ferry__pagemap__descriptor },
	{ IMG_PAGES, "pages", "pages-%d.img", NULL },
	{ IMG_GHOST, "ghost", "ghost-%d.img", NULL },
	{ IMG_STATS_DUMP, "stats-dump", "stats-dump.img", &ferry__dump_stats__descriptor },
	{ IMG_STATS_RESTORE, "stats-restore", "stats-restore.img", &ferry__restore_stats__descriptor },
	{ IMG_SHM, "shm", "shm.img", &ferry__shm_image__descriptor },
	{ IMG_TRACK, "track", "track.img", &ferry__track_state__descriptor },
	{ IMG_UNIX_PENDING, "unix-pending", "unix-pending.img", &ferry__unix_pending__descriptor },
};

const struct img_kind_desc *img_kind_get(enum img_kind kind)
{
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (kinds[i].kind == kind)
			return &kinds[i];
	return NULL;
}

const struct img_kind_desc *img_kind_by_name(const char *fname)
{
	const struct img_kind_desc *best = NULL;
	size_t best_len = 0;
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		size_t n = strlen(kinds[i].name);
		if (strncmp(fname, kinds[i].name, n) == 0 && (fname[n] == '-' || fname[n] == '.') &&
		    n > best_len) {
			best = &kinds[i];
			best_len = n;
		}
	}
	return best;
}

int img_parse_name(const char *fname, enum img_kind *kind, int *id)
{
	const struct img_kind_desc *k = img_kind_by_name(fname);
	char canon[256];
	long v = 0;
	if (!k)
		return -1;
	if (strchr(k->file_fmt, '%')) {
		char *end;
		v = strtol(fname + strlen(k->name) + 1, &end, 10);
		if (v < INT32_MIN || v > INT32_MAX)
			return -1;
	}
	if (strcmp(img_name(canon, sizeof(canon), k->kind, (int)v), fname))
		return -1;
	*kind = k->kind;
	*id = (int)v;
	return 0;
}

const char *img_name(char *buf, size_t len, enum img_kind kind, int id)
{
	const struct img_kind_desc *k = img_kind_get(kind);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(buf, len, k ? k->file_fmt : "unknown-%d.img", id);
#pragma GCC diagnostic pop
	return buf;
}

int img_ident_new(struct img_ident *id)
{
	if (getrandom(id->id, sizeof(id->id), 0) != (ssize_t)sizeof(id->id))
		return errno ? -errno : -EIO;
	return 0;
}

int img_ident_is_set(const struct img_ident *id)
{
	static const struct img_ident zero;
	return id && memcmp(id, &zero, sizeof(zero)) != 0;
}

const char *img_ident_str(const struct img_ident *id, char *buf)
{
	for (int i = 0; i < IMG_ID_LEN; i++)
		sprintf(buf + 2 * i, "%02x", id->id[i]);
	return buf;
}

void img_hdr_seal(struct img_hdr *h)
{
	h->hdr_xxh3 = XXH3_64bits(h, offsetof(struct img_hdr, hdr_xxh3));
}

void img_hdr_init(struct img_hdr *h, enum img_kind kind, int owner, const struct img_ident *ident,
		  const void *payload, size_t len, int with_sum)
{
	memset(h, 0, sizeof(*h));
	h->magic = FERRY_IMG_MAGIC;
	h->kind = kind;
	h->major = FERRY_FORMAT_MAJOR;
	h->minor = FERRY_FORMAT_MINOR;
	h->payload_len = len;
	h->payload_xxh3 = with_sum ? XXH3_64bits(payload, len) : 0;
	h->owner = owner;
	if (ident)
		memcpy(h->image_id, ident->id, IMG_ID_LEN);
	img_hdr_seal(h);
}

static int write_payload(struct img_sink *sink, enum img_kind kind, int id, const void *data, size_t len,
			 struct ferry_err *err)
{
	char name[256];
	struct img_hdr h;
	struct img_ident ident;
	memcpy(ident.id, sink->ident, IMG_ID_LEN);
	img_name(name, sizeof(name), kind, id);
	img_hdr_init(&h, kind, id, &ident, data, len, 1);
	return img_sink_write_file(sink, name, &h, sizeof(h), data, len, err);
}

int img_write_msg_to(struct img_sink *sink, enum img_kind kind, int id, const ProtobufCMessage *msg,
		     struct ferry_err *err)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	if (len > IMG_MAX_META)	/* a reader would refuse it: refuse it now, while nothing is lost */
		return fe_msg(err, EFBIG, "%s image of %zu MiB: larger than the %u MiB a reader accepts",
			      img_kind_get(kind)->name, len >> 20, IMG_MAX_META >> 20);
	_cleanup_free_ uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return fe_set(err, ENOMEM, "pack image");
	protobuf_c_message_pack(msg, buf);
	return write_payload(sink, kind, id, buf, len, err);
}

int img_write_msg(int dirfd, const struct img_ident *ident, enum img_kind kind, int id, const ProtobufCMessage *msg,
		  struct ferry_err *err)
{
	struct img_sink local;
	img_sink_local(&local, dirfd);
	if (ident)
		memcpy(local.ident, ident->id, IMG_ID_LEN);
	return img_write_msg_to(&local, kind, id, msg, err);
}

int img_check_hdr(const struct img_hdr *h, uint64_t flen, enum img_kind expected, const char *fname,
		  struct ferry_err *err)
{
	if (h->magic != FERRY_IMG_MAGIC)
		return fe_class(err, FE_IMAGE_CORRUPT, fe_msg(err, EBADMSG, "%s: not a ferry image (magic %#x)", fname,
								h->magic));
	if (h->major != FERRY_FORMAT_MAJOR)
		return fe_class(err, FE_IMAGE_FOREIGN,
				fe_msg(err, EPROTONOSUPPORT, "%s: image format %u.%u, this ferry reads %u.x%s", fname,
				       h->major, h->minor, FERRY_FORMAT_MAJOR, h->major < FERRY_FORMAT_MAJOR ?
				       " (made by an older ferry: restore it with that version)" : ""));
	if (XXH3_64bits(h, offsetof(struct img_hdr, hdr_xxh3)) != h->hdr_xxh3 || h->reserved)
		return fe_class(err, FE_IMAGE_CORRUPT,
				fe_msg(err, EBADMSG, "%s: the image header fails its checksum: the file is corrupt", fname));
	if (!img_kind_get(h->kind))
		return fe_msg(err, EBADMSG, "%s: unknown image kind %u", fname, h->kind);
	if (expected && h->kind != (uint32_t)expected)
		return fe_msg(err, EBADMSG, "%s: holds a %s image where a %s image was expected", fname,
			      img_kind_get(h->kind)->name, img_kind_get(expected)->name);
	uint64_t hlen = h->kind == IMG_PAGES ? 4096 : sizeof(*h);
	if (!h->flags && h->payload_len != flen - hlen)
		return fe_msg(err, EBADMSG, "%s: %s (header says %llu bytes of payload, file has %llu)", fname,
			      h->payload_len > flen - hlen ? "truncated image" : "trailing garbage in image",
			      (unsigned long long)h->payload_len, (unsigned long long)(flen - hlen));
	return 0;
}

int img_check_owner(const struct img_hdr *h, int owner, const struct img_ident *ident, const char *fname,
		    struct ferry_err *err)
{
	char a[2 * IMG_ID_LEN + 1], b[2 * IMG_ID_LEN + 1];
	if (img_ident_is_set(ident) && memcmp(h->image_id, ident->id, IMG_ID_LEN))
		return fe_msg(err, EBADMSG, "%s belongs to another dump (image id %s, the inventory's is %s): "
			      "refusing a mixed image", fname, img_ident_str((const void *)h->image_id, a),
			      img_ident_str(ident, b));
	if (h->owner != owner)
		return fe_msg(err, EBADMSG, "%s holds the %s image of %d, not of %d (renamed?)", fname,
			      img_kind_get(h->kind) ? img_kind_get(h->kind)->name : "?", h->owner, owner);
	return 0;
}

int img_check_buf(const void *buf, size_t len, enum img_kind expected, const char *fname,
		  const void **payload, size_t *plen, enum img_kind *kind_out, struct ferry_err *err)
{
	struct img_hdr h;
	if (len < sizeof(h))
		return fe_msg(err, EBADMSG, "%s: truncated image (%zu bytes, the header alone is %zu)",
			      fname, len, sizeof(h));
	memcpy(&h, buf, sizeof(h));
	int r = img_check_hdr(&h, len, expected, fname, err);
	if (r < 0)
		return r;
	if (h.flags)
		return fe_msg(err, EBADMSG, "%s: encoded image (flags %#x): read it through ferry (--encrypt-key for an encrypted one)",
			      fname, h.flags);
	if (!img_kind_get(h.kind)->desc)	/* page stores and blobs have their own readers */
		return fe_msg(err, EBADMSG, "%s: a %s image is not read whole", fname, img_kind_get(h.kind)->name);
	const uint8_t *p = (const uint8_t *)buf + sizeof(h);
	if (h.payload_xxh3 != XXH3_64bits(p, h.payload_len))
		return fe_class(err, FE_IMAGE_CORRUPT, fe_msg(err, EBADMSG, "%s: checksum mismatch: the image is corrupt", fname));
	*payload = p;
	*plen = h.payload_len;
	if (kind_out)
		*kind_out = h.kind;
	return 0;
}

int img_decode_buf(const void *buf, size_t len, enum img_kind expected, const char *fname,
		   ProtobufCMessage **out, struct ferry_err *err)
{
	const void *payload;
	size_t plen;
	enum img_kind kind;
	int r = img_check_buf(buf, len, expected, fname, &payload, &plen, &kind, err);
	if (r < 0)
		return r;
	const struct img_kind_desc *k = img_kind_get(kind);
	if (!k->desc)
		return fe_msg(err, EINVAL, "%s: a %s image holds no message", fname, k->name);
	*out = protobuf_c_message_unpack(k->desc, NULL, plen, payload);
	if (!*out)
		return fe_msg(err, EBADMSG, "%s: malformed %s record", fname, k->name);
	return 0;
}

static int read_whole(int dirfd, const char *name, void **out, size_t *len, struct ferry_err *err)
{
	struct stat st;
	_cleanup_close_ int fd = safe_open_read(dirfd, name, &st, err);
	if (fd < 0)
		return fd;
	if ((size_t)st.st_size > IMG_MAX_META + sizeof(struct img_hdr))
		return fe_class(err, FE_RESOURCE, fe_msg(err, EFBIG, "%s: image too large (%lld bytes)", name,
							  (long long)st.st_size));
	void *buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf)
		return fe_set(err, ENOMEM, "read image %s", name);
	int r = read_full(fd, buf, st.st_size);
	if (r < 0) {
		free(buf);
		return fe_set(err, r, "read image %s", name);
	}
	*out = buf;
	*len = st.st_size;
	return 0;
}

int img_read_msg(int dirfd, enum img_kind kind, int id, ProtobufCMessage **out, struct ferry_err *err)
{
	char name[256];
	_cleanup_free_ void *buf = NULL;
	size_t len = 0;
	img_name(name, sizeof(name), kind, id);
	int r = read_whole(dirfd, name, &buf, &len, err);
	if (r < 0)
		return r;
	struct img_hdr h;
	if ((r = img_decode_buf(buf, len, kind, name, out, err)) < 0)
		return r;
	memcpy(&h, buf, sizeof(h));
	if ((r = img_check_owner(&h, id, NULL, name, err)) < 0) {
		img_free(*out);
		*out = NULL;
	}
	return r;
}

void img_free(ProtobufCMessage *msg)
{
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
}
