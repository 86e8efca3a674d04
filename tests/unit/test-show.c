/* SPDX-License-Identifier: Apache-2.0 */
/* show.c: messages as JSON (fields, enums by name, big numbers as hex), files and directories. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "image/show.h"
#include "image/source.h"
#include "samples.h"
#include "tmpdir.h"

static int setup(void **state) { return (*state = tmpdir_new()) ? 0 : -1; }
static int teardown(void **state) { tmpdir_free(*state); return 0; }

/* The value at a path such as "threads/0/regs/rip" (array indexes are numbers). */
static json_t *at(json_t *j, const char *path)
{
	char buf[256], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *tok = strtok_r(buf, "/", &save); tok && j; tok = strtok_r(NULL, "/", &save))
		j = json_is_array(j) ? json_array_get(j, strtoul(tok, NULL, 10)) : json_object_get(j, tok);
	return j;
}

static void assert_str_at(json_t *j, const char *path, const char *want)
{
	json_t *v = at(j, path);
	if (!json_is_string(v))
		fail_msg("%s: not a string", path);
	assert_string_equal(json_string_value(v), want);
}

static void assert_int_at(json_t *j, const char *path, json_int_t want)
{
	json_t *v = at(j, path);
	if (!json_is_integer(v))
		fail_msg("%s: not an integer", path);
	assert_int_equal(json_integer_value(v), want);
}

static void test_task_core(void **state)
{
	json_t *j = msg_to_json(sample_msg(IMG_CORE));
	assert_int_at(j, "pid", SAMPLE_PID);
	assert_str_at(j, "comm", "sample");
	assert_int_at(j, "umask", 022);
	assert_str_at(j, "cwd", "/tmp");
	assert_null(at(j, "root"));		/* unset optional string: absent */
	assert_null(at(j, "dumpable"));		/* unset optional scalar: absent */
	assert_null(at(j, "personality"));
	assert_str_at(j, "threads/0/regs/rip", "0x7f1234567890");
	assert_int_at(j, "threads/0/regs/rax", 42);
	assert_int_at(j, "threads/0/regs/r15", 0);	/* required zero: present */
	assert_str_at(j, "threads/0/xsave", "0102feff");
	assert_str_at(j, "threads/0/rseq/ptr", "0x7f0000001000");
	assert_null(at(j, "threads/0/altstack"));	/* unset optional message: absent */
	assert_int_at(j, "sigactions/0/handler", 0x401000);
	assert_str_at(j, "rlimits/0/max", "0xffffffffffffffff");
	assert_int_at(j, "creds/uid/3", 1000);
	assert_int_equal(json_array_size(at(j, "creds/groups")), 0);
	assert_true(json_is_array(at(j, "itimers")));
	assert_int_equal(json_string_length(at(j, "shared_pending/0/siginfo")), 256);
	json_decref(j);
}

static void test_mm(void **state)
{
	json_t *j = msg_to_json(sample_msg(IMG_MM));
	assert_str_at(j, "vmas/0/kind", "VMA_FILE_PRIVATE");
	assert_str_at(j, "vmas/1/kind", "VMA_ANON");
	assert_str_at(j, "vmas/1/start", "0x7f0000000000");
	assert_int_at(j, "vmas/0/start", 0x400000);
	assert_int_at(j, "vmas/0/ino", 1234);
	assert_null(at(j, "vmas/1/path"));
	assert_str_at(j, "exe_path", "/usr/bin/sample");
	assert_int_equal(json_array_size(at(j, "auxv")), 4);
	assert_int_at(j, "auxv/1", 4096);
	assert_str_at(j, "auxv/3", "0x7ffff7fc1000");
	json_decref(j);
	j = msg_to_json(NULL);
	assert_true(json_is_null(j));
	json_decref(j);
}

static void test_bool_and_enum_fallback(void **state)
{
	Ferry__FileEntry fe = FERRY__FILE_ENTRY__INIT;
	fe.kind = 42;	/* not in the enum: printed as its number */
	fe.has_deleted = 1, fe.deleted = 1;
	json_t *j = msg_to_json(&fe.base);
	assert_int_at(j, "kind", 42);
	assert_true(json_is_true(at(j, "deleted")));
	json_decref(j);
}

static void test_file_and_dir(void **state)
{
	struct tmpdir *t = *state;
	struct ferry_err err = { 0 };
	assert_int_equal(samples_write_all(t->fd, &err), 0);
	struct img_src src;
	assert_int_equal(img_src_open_fd(&src, t->fd, t->path, &err), 0);
	json_t *j = img_file_to_json(&src, "stats-dump.img", &err);
	assert_non_null(j);
	assert_str_at(j, "kind", "stats-dump");
	assert_str_at(j, "version", "2.0");
	assert_str_at(j, "image_id", "5a4d504c450102030405060708090a0b");
	assert_int_at(j, "entry/total_us", 1500);
	assert_true(json_integer_value(at(j, "payload_bytes")) > 0);
	json_decref(j);
	j = img_file_to_json(&src, "pages-4242.img", &err);
	assert_int_at(j, "pages", 3);
	assert_int_at(j, "owner", 4242);
	json_decref(j);
	j = img_file_to_json(&src, "ghost-1.img", &err);
	assert_str_at(j, "kind", "ghost");
	assert_null(at(j, "entry"));
	json_decref(j);
	img_src_close(&src);

	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	assert_int_equal(img_show_dir(t->path, out, &err), 0);
	fclose(out);
	j = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(j);
	assert_int_equal(json_object_size(j), 11);
	assert_str_at(j, "core-4242.img/entry/threads/0/regs/rip", "0x7f1234567890");
	assert_str_at(j, "mm-4242.img/kind", "mm");
	json_decref(j);
}

static void test_dir_with_corrupt_file(void **state)
{
	struct tmpdir *t = *state;
	struct ferry_err err = { 0 };
	assert_int_equal(samples_write_all(t->fd, &err), 0);
	assert_int_equal(file_put(t->fd, "mm-4242.img", "FRRYgarbage", 11), 0);
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	assert_int_equal(img_show_dir(t->path, out, &err), -EBADMSG);
	fclose(out);
	assert_non_null(strstr(err.msg, "mm-4242.img"));
	json_t *j = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(strstr(json_string_value(at(j, "mm-4242.img/error")), "truncated"));
	assert_str_at(j, "core-4242.img/kind", "core");	/* the others are still shown */
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_task_core),
		cmocka_unit_test(test_mm),
		cmocka_unit_test(test_bool_and_enum_fallback),
		cmocka_unit_test_setup_teardown(test_file_and_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_with_corrupt_file, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
