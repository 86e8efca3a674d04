/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the image parser: the input is an image file. It is decoded as is, checked
 * against every kind, then decoded again with its header repaired (length, checksum, magic) so that
 * mutated payloads get past the checksum and reach the protobuf decoder and the JSON printer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include "image/blob.h"
#include "image/image.h"
#include "image/pagestore.h"
#include "image/show.h"

static void check_json(const ProtobufCMessage *msg, json_t *j);

static void check_sub(const ProtobufCFieldDescriptor *f, const void *field, json_t *v)
{
	if (f->type == PROTOBUF_C_TYPE_MESSAGE && v)
		check_json(*(ProtobufCMessage *const *)field, v);
}

/* `ferry show` prints everything it decoded: every required field, every repeated element. */
static void check_json(const ProtobufCMessage *msg, json_t *j)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *field = (const char *)msg + f->offset;
		json_t *v = json_object_get(j, f->name);
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)msg + f->quantifier_offset);
			if (json_array_size(v) != n)
				abort();
			for (size_t k = 0; k < n; k++)
				check_sub(f, *(char *const *)field + k * sizeof(void *), json_array_get(v, k));
			continue;
		}
		if (f->label == PROTOBUF_C_LABEL_REQUIRED && !v)
			abort();
		check_sub(f, field, v);
	}
}

static void decode_and_show(const uint8_t *data, size_t size)
{
	struct ferry_err err = { 0 };
	ProtobufCMessage *msg = NULL;
	int r = img_decode_buf(data, size, 0, "fuzz.img", &msg, &err);
	if (r < 0) {
		if (!strstr(fe_str(&err, r), "fuzz.img"))
			abort();	/* every refusal names the file */
		return;
	}
	json_t *j = msg_to_json(msg);
	check_json(msg, j);
	char *text = json_dumps(j, JSON_COMPACT);
	free(text);
	json_decref(j);
	if (msg->descriptor == &ferry__pagemap__descriptor)
		pagemap_validate((const Ferry__Pagemap *)msg, &err);
	img_free(msg);
}

/* The blob store's reader (ghost-ID.img), fed in two pieces so chunks straddle them. */
static void parse_blob(const uint8_t *data, size_t size)
{
	struct ferry_err err = { 0 };
	struct blob_reader *br;
	struct img_hdr h;
	if (size < sizeof(h))
		return;
	memcpy(&h, data, sizeof(h));
	if (blob_reader_new("fuzz.img", (uint32_t)h.owner, NULL, UINT64_MAX, NULL, NULL, &br, &err) < 0)
		return;
	size_t cut = size / 3;
	if (blob_reader_feed(br, data, cut, &err) == 0 && blob_reader_feed(br, data + cut, size - cut, &err) == 0)
		blob_reader_end(br, NULL, &err);
	blob_reader_free(br);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ferry_err err = { 0 };
	const void *payload;
	size_t plen;
	enum img_kind kind;

	decode_and_show(data, size);
	parse_blob(data, size);
	for (int k = 1; k < IMG_KIND_MAX; k++)
		if (img_check_buf(data, size, k, "fuzz.img", &payload, &plen, &kind, &err) == 0 &&
		    (kind != (enum img_kind)k || plen != size - sizeof(struct img_hdr)))
			abort();

	if (size < sizeof(struct img_hdr))
		return 0;
	uint8_t *copy = malloc(size);
	struct img_hdr h;
	memcpy(copy, data, size);
	memcpy(&h, copy, sizeof(h));
	uint32_t k = h.kind;
	if (!img_kind_get(k))
		k = 1 + k % (IMG_KIND_MAX - 1);
	struct img_ident id;
	memcpy(id.id, h.image_id, IMG_ID_LEN);
	img_hdr_init(&h, k, h.owner, &id, copy + sizeof(h), size - sizeof(h), 1);
	memcpy(copy, &h, sizeof(h));
	decode_and_show(copy, size);
	if (k == IMG_GHOST)
		parse_blob(copy, size);
	free(copy);
	return 0;
}
