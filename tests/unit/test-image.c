/* SPDX-License-Identifier: Apache-2.0 */
/* image.c: round trips of every kind, header validation, the kind table, atomic writes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <xxhash.h>
#include "common/cleanup.h"
#include "image/image.h"
#include "image/source.h"
#include "samples.h"
#include "tmpdir.h"

static int setup(void **state) { return (*state = tmpdir_new()) ? 0 : -1; }
static int teardown(void **state) { tmpdir_free(*state); return 0; }

static void assert_same_msg(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t la = protobuf_c_message_get_packed_size(a), lb = protobuf_c_message_get_packed_size(b);
	assert_int_equal(la, lb);
	uint8_t *pa = malloc(la + 1), *pb = malloc(lb + 1);
	protobuf_c_message_pack(a, pa);
	protobuf_c_message_pack(b, pb);
	assert_memory_equal(pa, pb, la);
	free(pa);
	free(pb);
}

static void test_round_trip_all_kinds(void **state)
{
	struct tmpdir *t = *state;
	struct ferry_err err = { 0 };
	for (int k = 1; k < IMG_KIND_MAX; k++) {
		const ProtobufCMessage *m = sample_msg(k);
		if (!m)
			continue;
		ProtobufCMessage *back = NULL;
		assert_int_equal(img_write_msg(t->fd, &sample_ident, k, sample_id(k), m, &err), 0);
		assert_int_equal(img_read_msg(t->fd, k, sample_id(k), &back, &err), 0);
		assert_ptr_equal(back->descriptor, m->descriptor);
		assert_same_msg(m, back);
		img_free(back);
	}
	Ferry__TaskCore *core = NULL;
	assert_int_equal(img_read_msg(t->fd, IMG_CORE, SAMPLE_PID, (ProtobufCMessage **)&core, &err), 0);
	assert_string_equal(core->comm, "sample");
	assert_int_equal(core->threads[0]->regs->rip, SAMPLE_RIP);
	img_free(&core->base);
	assert_int_equal(tmpdir_count(t), 9);	/* no temporaries left behind */
}

/* Through a source: the inventory gives the identity every other file must carry. */
static void test_identity(void **state)
{
	struct tmpdir *t = *state;
	struct ferry_err err = { 0 };
	struct img_src src;
	struct img_ident other = sample_ident;
	ProtobufCMessage *m = NULL;
	other.id[0] ^= 1;
	assert_int_equal(samples_write_all(t->fd, &err), 0);
	assert_int_equal(img_write_msg(t->fd, &other, IMG_FDS, SAMPLE_PID, sample_msg(IMG_FDS), &err), 0);
	assert_int_equal(img_src_open_fd(&src, t->fd, t->path, &err), 0);
	assert_int_equal(img_src_read_msg(&src, IMG_INVENTORY, 0, &m, &err), 0);
	img_free(m);
	assert_memory_equal(src.ident.id, sample_ident.id, IMG_ID_LEN);
	assert_int_equal(img_src_read_msg(&src, IMG_CORE, SAMPLE_PID, &m, &err), 0);
	img_free(m);
	assert_int_equal(img_src_read_msg(&src, IMG_FDS, SAMPLE_PID, &m, &err), -EBADMSG);
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, "fds-4242.img belongs to another dump"));
	/* a file renamed to another pid's name */
	assert_int_equal(renameat(t->fd, "core-4242.img", t->fd, "core-7.img"), 0);
	assert_int_equal(img_src_read_msg(&src, IMG_CORE, 7, &m, &err), -EBADMSG);
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, "core-7.img holds the core image of 4242, not of 7"));
	img_src_close(&src);
}

static void test_missing_file(void **state)
{
	struct tmpdir *t = *state;
	struct ferry_err err = { 0 };
	ProtobufCMessage *m = NULL;
	assert_int_equal(img_read_msg(t->fd, IMG_MM, 1, &m, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "mm-1.img"));
}

/* Header corruptions: each mutates a valid core image (resealing its header) and names the failure. */
static struct img_hdr *hdr(uint8_t *b) { return (struct img_hdr *)b; }
static struct img_hdr *sealed(uint8_t *b) { return (struct img_hdr *)b; }
#define RESEAL(b, stmt) do { stmt; img_hdr_seal(hdr(b)); } while (0)
static void bad_magic(uint8_t *b, size_t *n) { RESEAL(b, b[0] ^= 1); }
static void wrong_kind(uint8_t *b, size_t *n) { RESEAL(b, hdr(b)->kind = IMG_MM); }
static void unknown_kind(uint8_t *b, size_t *n) { RESEAL(b, hdr(b)->kind = 77); }
static void kind_zero(uint8_t *b, size_t *n) { RESEAL(b, hdr(b)->kind = 0); }
static void newer_major(uint8_t *b, size_t *n) { RESEAL(b, hdr(b)->major = FERRY_FORMAT_MAJOR + 1); }
static void older_major(uint8_t *b, size_t *n) { RESEAL(b, hdr(b)->major = 1); }
static void newer_minor(uint8_t *b, size_t *n) { RESEAL(b, hdr(b)->minor = 9); }
static void flip_hdr(uint8_t *b, size_t *n) { sealed(b)->owner ^= 0x100; }
static void other_owner(uint8_t *b, size_t *n) { RESEAL(b, hdr(b)->owner = 1); }
static void reserved_set(uint8_t *b, size_t *n) { RESEAL(b, hdr(b)->reserved = 1); }
static void truncated(uint8_t *b, size_t *n) { *n -= 1; }
static void header_cut(uint8_t *b, size_t *n) { *n = 10; }
static void empty(uint8_t *b, size_t *n) { *n = 0; }
static void trailing(uint8_t *b, size_t *n) { b[(*n)++] = 0; }
static void flip_payload(uint8_t *b, size_t *n) { b[sizeof(struct img_hdr) + 3] ^= 0x20; }
static void flip_sum(uint8_t *b, size_t *n) { RESEAL(b, hdr(b)->payload_xxh3 ^= 1); }
static void huge_len(uint8_t *b, size_t *n) { RESEAL(b, hdr(b)->payload_len = UINT64_MAX); }
static void garbage_resummed(uint8_t *b, size_t *n)
{
	memset(b + sizeof(struct img_hdr), 0xff, *n - sizeof(struct img_hdr));
	RESEAL(b, hdr(b)->payload_xxh3 = XXH3_64bits(b + sizeof(struct img_hdr), *n - sizeof(struct img_hdr)));
}

static const struct corruption {
	const char *what;
	void (*mutate)(uint8_t *b, size_t *n);
	int rc;
	const char *says;
} corruptions[] = {
	{ "wrong magic", bad_magic, -EBADMSG, "not a ferry image" },
	{ "wrong kind", wrong_kind, -EBADMSG, "holds a mm image where a core image was expected" },
	{ "unknown kind", unknown_kind, -EBADMSG, "unknown image kind 77" },
	{ "kind 0", kind_zero, -EBADMSG, "unknown image kind 0" },
	{ "newer major", newer_major, -EPROTONOSUPPORT, "image format 3.0" },
	{ "older major", older_major, -EPROTONOSUPPORT, "made by an older ferry" },
	{ "newer minor", newer_minor, 0, NULL },
	{ "flipped header byte", flip_hdr, -EBADMSG, "header fails its checksum" },
	{ "reserved field set", reserved_set, -EBADMSG, "header fails its checksum" },
	{ "another pid's file", other_owner, -EBADMSG, "holds the core image of 1, not of 4242" },
	{ "truncated payload", truncated, -EBADMSG, "truncated image" },
	{ "truncated header", header_cut, -EBADMSG, "truncated image" },
	{ "empty file", empty, -EBADMSG, "truncated image" },
	{ "trailing garbage", trailing, -EBADMSG, "trailing garbage" },
	{ "flipped payload byte", flip_payload, -EBADMSG, "checksum mismatch" },
	{ "flipped checksum", flip_sum, -EBADMSG, "checksum mismatch" },
	{ "huge payload_len", huge_len, -EBADMSG, "truncated image" },
	{ "garbage with a valid checksum", garbage_resummed, -EBADMSG, "malformed core record" },
};

static void test_header_corruptions(void **state)
{
	struct tmpdir *t = *state;
	struct ferry_err err = { 0 };
	uint8_t orig[8192], buf[8192];
	assert_int_equal(img_write_msg(t->fd, &sample_ident, IMG_CORE, SAMPLE_PID, sample_msg(IMG_CORE), &err), 0);
	size_t olen = file_get(t->fd, "core-4242.img", orig, sizeof(orig) - 1);
	assert_true(olen > sizeof(struct img_hdr) + 8);
	for (size_t i = 0; i < ARRAY_SIZE(corruptions); i++) {
		const struct corruption *c = &corruptions[i];
		size_t len = olen;
		ProtobufCMessage *m = NULL;
		memcpy(buf, orig, olen);
		c->mutate(buf, &len);
		assert_int_equal(file_put(t->fd, "core-4242.img", buf, len), 0);
		fe_clear(&err);
		int r = img_read_msg(t->fd, IMG_CORE, SAMPLE_PID, &m, &err);
		print_message("%-30s -> %d %s\n", c->what, r, err.msg);
		assert_int_equal(r, c->rc);
		if (c->rc == 0) {
			img_free(m);
			continue;
		}
		assert_int_equal(err.code, -c->rc);
		assert_non_null(strstr(err.msg, "core-4242.img"));
		assert_non_null(strstr(err.msg, c->says));
	}
}

static void test_check_buf(void **state)
{
	struct ferry_err err = { 0 };
	uint8_t buf[128];
	const void *payload;
	size_t plen;
	enum img_kind kind = 0;
	img_hdr_init((struct img_hdr *)buf, IMG_STATS_DUMP, 0, &sample_ident, "abcd", 4, 1);
	memcpy(buf + 64, "abcd", 4);
	assert_int_equal(img_check_buf(buf, 68, 0, "s.img", &payload, &plen, &kind, &err), 0);
	assert_int_equal(kind, IMG_STATS_DUMP);
	assert_int_equal(plen, 4);
	assert_ptr_equal(payload, buf + 64);
	assert_int_equal(img_check_buf(buf, 68, IMG_CORE, "s.img", &payload, &plen, NULL, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "s.img"));
	/* page stores and blobs are never read whole */
	img_hdr_init((struct img_hdr *)buf, IMG_PAGES, 3, &sample_ident, NULL, 4, 0);
	assert_int_equal(img_check_buf(buf, 68, IMG_PAGES, "p.img", &payload, &plen, &kind, &err), -EBADMSG);
	img_hdr_init((struct img_hdr *)buf, IMG_GHOST, 3, &sample_ident, "abcd", 4, 1);
	assert_int_equal(img_check_buf(buf, 68, 0, "g.img", &payload, &plen, &kind, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "not read whole"));
}

static void test_kind_by_name(void **state)
{
	static const struct { const char *name; int kind; } cases[] = {
		{ "inventory.img", IMG_INVENTORY }, { "pstree.img", IMG_PSTREE },
		{ "core-12.img", IMG_CORE }, { "mm-12.img", IMG_MM }, { "fds-1.img", IMG_FDS },
		{ "files.img", IMG_FILES }, { "pagemap-3.img", IMG_PAGEMAP }, { "pages-3.img", IMG_PAGES },
		{ "ghost-9.img", IMG_GHOST }, { "stats-dump.img", IMG_STATS_DUMP },
		{ "stats-restore.img", IMG_STATS_RESTORE },
		{ "coredump.img", 0 }, { "stats.img", 0 }, { "page-1.img", 0 }, { "core", 0 },
		{ "", 0 }, { "x-core-1.img", 0 }, { "dump.log", 0 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct img_kind_desc *k = img_kind_by_name(cases[i].name);
		assert_int_equal(k ? (int)k->kind : 0, cases[i].kind);
	}
	char buf[64];
	assert_string_equal(img_name(buf, sizeof(buf), IMG_CORE, 77), "core-77.img");
	assert_string_equal(img_name(buf, sizeof(buf), IMG_INVENTORY, 77), "inventory.img");
	assert_null(img_kind_get(0));
	assert_null(img_kind_get(IMG_KIND_MAX));
	for (int k = 1; k < IMG_KIND_MAX; k++)
		assert_int_equal(img_kind_by_name(img_name(buf, sizeof(buf), k, 5))->kind, k);
	enum img_kind kind;
	int id;
	assert_int_equal(img_parse_name("core-12.img", &kind, &id), 0);
	assert_int_equal(kind, IMG_CORE);
	assert_int_equal(id, 12);
	assert_int_equal(img_parse_name("files.img", &kind, &id), 0);
	assert_int_equal(id, 0);
	static const char *const bad[] = { "core-012.img", "core-1x.img", "core-.img", "files-3.img", "core-1.img.img",
					   "dump.log", "inventory.imgx" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(img_parse_name(bad[i], &kind, &id), -1);
}

static void test_write_fault_leaves_nothing(void **state)
{
	struct tmpdir *t = *state;
	struct ferry_err err = { 0 };
	setenv("FERRY_FAULT", "image-write", 1);
	int r = img_write_msg(t->fd, &sample_ident, IMG_MM, 3, sample_msg(IMG_MM), &err);
	unsetenv("FERRY_FAULT");
	assert_int_equal(r, -ENOSPC);
	assert_non_null(strstr(err.msg, "mm-3.img"));
	assert_int_equal(tmpdir_count(t), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_all_kinds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_corruptions, setup, teardown),
		cmocka_unit_test(test_check_buf),
		cmocka_unit_test(test_kind_by_name),
		cmocka_unit_test_setup_teardown(test_write_fault_leaves_nothing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
