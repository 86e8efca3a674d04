/* SPDX-License-Identifier: Apache-2.0 */
/* Descriptor-driven protobuf → JSON conversion and `ferry show`. */
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
#include "image/blob.h"
#include "image/pagestore.h"
#include "image/source.h"

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
	char ver[16], id[2 * IMG_ID_LEN + 1];
	snprintf(ver, sizeof(ver), "%u.%u", h->major, h->minor);
	return json_pack("{s:s, s:s, s:I, s:s, s:i}", "kind", kind, "version", ver, "payload_bytes",
			 (json_int_t)h->payload_len, "image_id", img_ident_str((const void *)h->image_id, id),
			 "owner", (int)h->owner);
}

/* An encoded file shown as such: its header and encoding (the content when it can be decoded). */
static json_t *encoded_json(const struct img_hdr *h, int decoded)
{
	char how[64];
	const struct img_kind_desc *kd = img_kind_get(h->kind);
	json_t *j = hdr_json(h, kd ? kd->name : "unknown");
	json_object_set_new(j, "encoded", json_string(tf_flags_name(h->flags, how, sizeof(how))));
	if (!decoded)
		json_object_set_new(j, "note", json_string(h->flags & TF_FLAG_AES256GCM ?
			"encrypted: give the key (--encrypt-key) to see its content" : "encoded"));
	return j;
}

/* Page data and raw contents are not printed; their header and size are. */
static json_t *data_json(struct img_src *src, const char *fname, const struct img_hdr *h, int enc,
			 struct ferry_err *err)
{
	json_t *j = enc ? encoded_json(h, 1) : hdr_json(h, img_kind_get(h->kind)->name);
	struct blob_hdr bh;
	int fd;
	if (h->kind == IMG_PAGES)
		json_object_set_new(j, "pages", json_integer((json_int_t)(h->payload_len / PS_PAGE)));
	if (h->kind == IMG_GHOST && !enc && (fd = safe_open_read(src->dirfd, fname, NULL, NULL)) >= 0) {
		if (pread(fd, &bh, sizeof(bh), sizeof(*h)) == (ssize_t)sizeof(bh) && bh.magic == BLOB_MAGIC) {
			json_object_set_new(j, "content_bytes", json_integer((json_int_t)bh.size));
			json_object_set_new(j, "chunks", json_integer((json_int_t)bh.nchunks));
		}
		close(fd);
	}
	return j;
}

json_t *img_file_to_json(struct img_src *src, const char *fname, struct ferry_err *err)
{
	struct img_hdr h;
	enum img_kind kind;
	uint64_t size;
	int id, enc = img_src_encoded(src, fname, &h, &size, err);
	if (enc < 0)
		return NULL;
	int r = size < sizeof(h) ? fe_msg(err, EBADMSG, "%s: truncated image (%llu bytes)", fname,
					   (unsigned long long)size) : img_check_hdr(&h, size, 0, fname, err);
	if (r == 0 && img_parse_name(fname, &kind, &id) == 0 && kind != (enum img_kind)h.kind)
		r = fe_msg(err, EBADMSG, "%s: holds a %s image", fname, img_kind_get(h.kind)->name);
	if (r == 0 && img_parse_name(fname, &kind, &id) == 0 && h.kind != IMG_INVENTORY)
		r = img_check_owner(&h, id, &src->ident, fname, err);
	if (r < 0)
		return NULL;
	const struct img_kind_desc *kd = img_kind_get(h.kind);
	if (!kd->desc)
		return data_json(src, fname, &h, enc, err);
	_cleanup_free_ void *buf = NULL;
	size_t len;
	const void *payload;
	size_t plen;
	r = img_src_read(src, fname, IMG_MAX_META + sizeof(h), &buf, &len, err);
	if (r == -EACCES && enc) {	/* encrypted and no key: what can be said without it */
		fe_clear(err);
		return encoded_json(&h, 0);
	}
	if (r < 0 || img_check_buf(buf, len, h.kind, fname, &payload, &plen, NULL, err) < 0)
		return NULL;
	ProtobufCMessage *m = protobuf_c_message_unpack(kd->desc, NULL, plen, payload);
	if (!m) {
		fe_msg(err, EBADMSG, "%s: malformed %s record", fname, kd->name);
		return NULL;
	}
	json_t *j = enc ? encoded_json(&h, 1) : hdr_json(&h, kd->name);
	json_object_set_new(j, "entry", msg_to_json(m));
	protobuf_c_message_free_unpacked(m, NULL);
	return j;
}

static void print_json(json_t *j, FILE *out)
{
	json_dumpf(j, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', out);
}

int img_show_src(struct img_src *src, const char *only, FILE *out, struct ferry_err *err)
{
	if (only) {
		json_t *j = img_file_to_json(src, only, err);
		if (!j)
			return -(err && err->code ? err->code : EBADMSG);
		print_json(j, out);
		json_decref(j);
		return 0;
	}
	/* The inventory first: its identity is what every other file must carry. */
	Ferry__Inventory *inv = NULL;
	struct ferry_err e0 = { 0 };
	if (img_src_read_msg(src, IMG_INVENTORY, 0, (ProtobufCMessage **)&inv, &e0) == 0)
		img_free(&inv->base);
	char **names;
	size_t n;
	int rc = img_src_list(src, &names, &n, err);
	if (rc < 0)
		return rc;
	json_t *root = json_object();
	for (size_t i = 0; i < n; i++) {
		struct ferry_err e = { 0 };
		json_t *j = img_file_to_json(src, names[i], &e);
		if (!j) {
			j = json_pack("{s:s}", "error", e.msg);
			rc = fe_msg(err, e.code ? e.code : EBADMSG, "%s", e.msg);
		}
		json_object_set_new(root, names[i], j);
	}
	img_src_names_free(names, n);
	print_json(root, out);
	json_decref(root);
	return rc;
}

int img_show_dir(const char *dir, FILE *out, struct ferry_err *err)
{
	struct img_src src;
	int r = img_src_open(&src, dir, err);
	if (r == 0)
		r = img_show_src(&src, NULL, out, err);
	img_src_close(&src);
	return r;
}
