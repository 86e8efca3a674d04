/* SPDX-License-Identifier: Apache-2.0 */
/* Descriptor-driven protobuf → JSON conversion and `ferry show`. */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <unistd.h>
#include "common/cleanup.h"
#include "common/safefile.h"
#include "image/show.h"
#include "transform/format.h"
#include "image/pagestore.h"

/* Linux names (comm, paths) may hold any bytes: invalid UTF-8 is kept as \xNN escapes. */
static json_t *json_string_any(const char *s)
{
	json_t *j = json_string(s);
	if (j)
		return j;
	size_t n = strlen(s);
	char *out = malloc(n * 4 + 1), *o = out;
	if (!out)
		return json_null();
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c < 0x80)
			*o++ = (char)*c;
		else
			o += sprintf(o, "\\x%02x", *c);
	}
	*o = 0;
	j = json_string(out);
	free(out);
	return j ? j : json_null();
}

static json_t *field_value(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		return json_integer(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: {
		uint64_t v = *(const uint64_t *)p;
		if (v > (uint64_t)INT64_MAX || v > 0xffffffffULL) {	/* addresses and masks read best in hex */
			char buf[24];
			snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)v);
			return json_string(buf);
		}
		return json_integer((json_int_t)v);
	}
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_FLOAT:
		return json_real(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return json_real(*(const double *)p);
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
		return ev ? json_string(ev->name) : json_integer(*(const int *)p);
	}
	case PROTOBUF_C_TYPE_STRING:
		return json_string_any(*(char *const *)p ? *(char *const *)p : "");
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;
		char *hex = malloc(b->len * 2 + 1);
		if (!hex)
			return json_null();
		for (size_t i = 0; i < b->len; i++)
			sprintf(hex + 2 * i, "%02x", b->data[i]);
		hex[b->len * 2] = 0;
		json_t *j = json_string(hex);
		free(hex);
		return j;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return msg_to_json(*(ProtobufCMessage *const *)p);
	}
	return json_null();
}

static size_t field_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE: return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
	default: return 4;
	}
}

json_t *msg_to_json(const ProtobufCMessage *msg)
{
	if (!msg)
		return json_null();
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	json_t *obj = json_object();
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)msg + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)msg + f->quantifier_offset);
			const char *arr = *(char *const *)base;
			json_t *ja = json_array();
			for (size_t k = 0; k < n; k++)
				json_array_append_new(ja, field_value(f, arr + k * field_size(f)));
			json_object_set_new(obj, f->name, ja);
			continue;
		}
		if (f->label == PROTOBUF_C_LABEL_OPTIONAL) {
			if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING) {
				if (!*(void *const *)base)
					continue;
			} else if (f->quantifier_offset &&
				   !*(const protobuf_c_boolean *)((const char *)msg + f->quantifier_offset)) {
				continue;
			}
		}
		json_object_set_new(obj, f->name, field_value(f, base));
	}
	return obj;
}

static json_t *hdr_json(const struct img_hdr *h, const char *kind)
{
	char ver[16];
	snprintf(ver, sizeof(ver), "%u.%u", h->major, h->minor);
	return json_pack("{s:s, s:s, s:I}", "kind", kind, "version", ver, "payload_bytes",
			 (json_int_t)h->payload_len);
}

/* An encoded file (flags != 0, transform/format.h): its header and encoding, not its content. */
static json_t *encoded_json(int fd, const struct stat *st)
{
	struct img_hdr h;
	char how[64];
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.magic != FERRY_IMG_MAGIC || !h.flags)
		return NULL;
	const struct img_kind_desc *kd = img_kind_get(h.kind);
	json_t *j = hdr_json(&h, kd ? kd->name : "unknown");
	json_object_set_new(j, "encoded", json_string(tf_flags_name(h.flags, how, sizeof(how))));
	json_object_set_new(j, "file_bytes", json_integer((json_int_t)st->st_size));
	json_object_set_new(j, "note", json_string(h.flags & TF_FLAG_AES256GCM ?
		"encoded: ferry restore decodes it (with --encrypt-key)" : "encoded: ferry restore decodes it"));
	return j;
}

json_t *img_file_to_json(int dirfd, const char *fname, struct ferry_err *err)
{
	struct stat st;
	_cleanup_close_ int fd = safe_open_read(dirfd, fname, &st, err);
	if (fd < 0)
		return NULL;
	json_t *enc = encoded_json(fd, &st);
	if (enc)
		return enc;
	const struct img_kind_desc *k = img_kind_by_name(fname);
	if (k && k->kind == IMG_PAGES) {	/* page data is not printed; its header and size are */
		struct img_hdr h;
		if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.magic != FERRY_IMG_MAGIC ||
		    h.kind != IMG_PAGES || h.major != FERRY_FORMAT_MAJOR || h.payload_len % PS_PAGE ||
		    (uint64_t)st.st_size != PS_HDR_SIZE + h.payload_len) {
			fe_msg(err, EBADMSG, "%s: not a whole ferry page store (bad header or size)", fname);
			return NULL;
		}
		json_t *j = hdr_json(&h, "pages");
		json_object_set_new(j, "pages", json_integer((json_int_t)(h.payload_len / PS_PAGE)));
		return j;
	}
	if ((size_t)st.st_size > IMG_MAX_META + sizeof(struct img_hdr)) {
		fe_msg(err, EFBIG, "%s: too large for a metadata image", fname);
		return NULL;
	}
	_cleanup_free_ char *buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf || pread(fd, buf, st.st_size, 0) != st.st_size) {
		fe_set(err, errno ? errno : EIO, "read %s", fname);
		return NULL;
	}
	const void *payload;
	size_t plen;
	enum img_kind kind;
	if (img_check_buf(buf, st.st_size, 0, fname, &payload, &plen, &kind, err) < 0)
		return NULL;
	struct img_hdr h;
	memcpy(&h, buf, sizeof(h));
	const struct img_kind_desc *kd = img_kind_get(kind);
	json_t *j = hdr_json(&h, kd->name);
	if (!kd->desc)
		return j;
	ProtobufCMessage *m = protobuf_c_message_unpack(kd->desc, NULL, plen, payload);
	if (!m) {
		json_decref(j);
		fe_msg(err, EBADMSG, "%s: malformed %s record", fname, kd->name);
		return NULL;
	}
	json_object_set_new(j, "entry", msg_to_json(m));
	protobuf_c_message_free_unpacked(m, NULL);
	return j;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int img_show_dir(const char *dir, FILE *out, struct ferry_err *err)
{
	struct stat st;
	if (stat(dir, &st) < 0)
		return fe_set(err, errno, "%s", dir);
	if (!S_ISDIR(st.st_mode)) {	/* a single file */
		_cleanup_free_ char *copy = strdup(dir);
		char *slash = strrchr(copy, '/');
		const char *name = slash ? slash + 1 : copy;
		if (slash)
			*slash = 0;
		_cleanup_close_ int dfd = open(slash ? (copy[0] ? copy : "/") : ".", O_RDONLY | O_DIRECTORY);
		json_t *j = img_file_to_json(dfd, name, err);
		if (!j)
			return -(err && err->code ? err->code : EBADMSG);
		json_dumpf(j, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', out);
		json_decref(j);
		return 0;
	}
	_cleanup_closedir_ DIR *d = opendir(dir);
	if (!d)
		return fe_set(err, errno, "open %s", dir);
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.' || l < 5 || strcmp(de->d_name + l - 4, ".img"))
			continue;
		char **nn = realloc(names, (n + 1) * sizeof(*names));
		if (!nn)
			break;
		names = nn;
		if (!(names[n] = strdup(de->d_name)))
			break;
		n++;
	}
	qsort(names, n, sizeof(*names), cmp_str);
	json_t *root = json_object();
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		struct ferry_err e = { 0 };
		json_t *j = img_file_to_json(dirfd(d), names[i], &e);
		if (!j) {
			j = json_pack("{s:s}", "error", e.msg);
			rc = fe_msg(err, e.code ? e.code : EBADMSG, "%s", e.msg);
		}
		json_object_set_new(root, names[i], j);
		free(names[i]);
	}
	free(names);
	json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', out);
	json_decref(root);
	return rc;
}
