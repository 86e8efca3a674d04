/* SPDX-License-Identifier: Apache-2.0 */
/* Framing, checksumming and atomic writing of image files; the kind table. */
#include <errno.h>
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

const char *img_name(char *buf, size_t len, enum img_kind kind, int id)
{
	const struct img_kind_desc *k = img_kind_get(kind);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(buf, len, k ? k->file_fmt : "unknown-%d.img", id);
#pragma GCC diagnostic pop
	return buf;
}

void img_hdr_init(struct img_hdr *h, enum img_kind kind, const void *payload, size_t len, int with_sum)
{
	memset(h, 0, sizeof(*h));
	h->magic = FERRY_IMG_MAGIC;
	h->kind = kind;
	h->major = FERRY_FORMAT_MAJOR;
	h->minor = FERRY_FORMAT_MINOR;
	h->payload_len = len;
	h->payload_xxh3 = with_sum ? XXH3_64bits(payload, len) : 0;
}

int img_write_blob_to(struct img_sink *sink, enum img_kind kind, int id, const void *data, size_t len,
		      struct ferry_err *err)
{
	char name[256];
	struct img_hdr h;
	img_name(name, sizeof(name), kind, id);
	img_hdr_init(&h, kind, data, len, 1);
	return img_sink_write_file(sink, name, &h, sizeof(h), data, len, err);
}

int img_write_blob(int dirfd, enum img_kind kind, int id, const void *data, size_t len, struct ferry_err *err)
{
	struct img_sink local;
	img_sink_local(&local, dirfd);
	return img_write_blob_to(&local, kind, id, data, len, err);
}

int img_write_msg_to(struct img_sink *sink, enum img_kind kind, int id, const ProtobufCMessage *msg,
		     struct ferry_err *err)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	_cleanup_free_ uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return fe_set(err, ENOMEM, "pack image");
	protobuf_c_message_pack(msg, buf);
	return img_write_blob_to(sink, kind, id, buf, len, err);
}

int img_write_msg(int dirfd, enum img_kind kind, int id, const ProtobufCMessage *msg, struct ferry_err *err)
{
	struct img_sink local;
	img_sink_local(&local, dirfd);
	return img_write_msg_to(&local, kind, id, msg, err);
}

int img_check_buf(const void *buf, size_t len, enum img_kind expected, const char *fname,
		  const void **payload, size_t *plen, enum img_kind *kind_out, struct ferry_err *err)
{
	struct img_hdr h;
	if (len < sizeof(h))
		return fe_msg(err, EBADMSG, "%s: truncated image (%zu bytes, the header alone is %zu)",
			      fname, len, sizeof(h));
	memcpy(&h, buf, sizeof(h));
	if (h.magic != FERRY_IMG_MAGIC)
		return fe_msg(err, EBADMSG, "%s: not a ferry image (magic %#x)", fname, h.magic);
	if (h.major != FERRY_FORMAT_MAJOR)
		return fe_msg(err, EPROTONOSUPPORT, "%s: image format %u.%u, this ferry reads %u.x",
			      fname, h.major, h.minor, FERRY_FORMAT_MAJOR);
	if (h.flags)
		return fe_msg(err, EBADMSG, "%s: encoded image (flags %#x): ferry restore decodes it (--encrypt-key for an encrypted one)",
			      fname, h.flags);
	if (!img_kind_get(h.kind))
		return fe_msg(err, EBADMSG, "%s: unknown image kind %u", fname, h.kind);
	if (expected && h.kind != (uint32_t)expected)
		return fe_msg(err, EBADMSG, "%s: holds a %s image where a %s image was expected", fname,
			      img_kind_get(h.kind)->name, img_kind_get(expected)->name);
	if (h.payload_len != len - sizeof(h))
		return fe_msg(err, EBADMSG, "%s: %s (header says %llu bytes of payload, file has %zu)", fname,
			      h.payload_len > len - sizeof(h) ? "truncated image" : "trailing garbage in image",
			      (unsigned long long)h.payload_len, len - sizeof(h));
	const uint8_t *p = (const uint8_t *)buf + sizeof(h);
	if (h.kind != IMG_PAGES && XXH3_64bits(p, h.payload_len) != h.payload_xxh3)
		return fe_msg(err, EBADMSG, "%s: checksum mismatch: the image is corrupt", fname);
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
		return fe_msg(err, EFBIG, "%s: image too large (%lld bytes)", name, (long long)st.st_size);
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
	size_t len;
	img_name(name, sizeof(name), kind, id);
	int r = read_whole(dirfd, name, &buf, &len, err);
	if (r < 0)
		return r;
	return img_decode_buf(buf, len, kind, name, out, err);
}

int img_read_blob(int dirfd, enum img_kind kind, int id, void **out, size_t *olen, struct ferry_err *err)
{
	char name[256];
	_cleanup_free_ void *buf = NULL;
	const void *payload;
	size_t len, plen;
	img_name(name, sizeof(name), kind, id);
	int r = read_whole(dirfd, name, &buf, &len, err);
	if (r < 0)
		return r;
	r = img_check_buf(buf, len, kind, name, &payload, &plen, NULL, err);
	if (r < 0)
		return r;
	memmove(buf, payload, plen);
	*out = TAKE_PTR(buf);
	*olen = plen;
	return 0;
}

void img_free(ProtobufCMessage *msg)
{
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
}
