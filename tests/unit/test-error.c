/* SPDX-License-Identifier: Apache-2.0 */
/* error.c: fe_set/fe_msg/fe_wrap chains, fe_str fallbacks, truncation, fault points. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "common/error.h"

static void test_set(void **state)
{
	struct ferry_err err = { 0 };
	assert_int_equal(fe_set(&err, ENOENT, "open %s", "/x.so"), -ENOENT);
	assert_int_equal(err.code, ENOENT);
	assert_string_equal(err.msg, "open /x.so: No such file or directory");
	assert_int_equal(fe_set(&err, -EPERM, "ptrace"), -EPERM);	/* negative codes too */
	assert_string_equal(err.msg, "ptrace: Operation not permitted");
	assert_int_equal(fe_set(&err, 0, "odd"), -EIO);			/* 0 is not a success here */
	assert_int_equal(err.code, EIO);
	assert_int_equal(fe_set(NULL, ENOMEM, "x"), -ENOMEM);
}

static void test_msg(void **state)
{
	struct ferry_err err = { 0 };
	assert_int_equal(fe_msg(&err, EBADMSG, "core-1.img: checksum mismatch"), -EBADMSG);
	assert_string_equal(err.msg, "core-1.img: checksum mismatch");
	assert_int_equal(fe_msg(NULL, EBADMSG, "x"), -EBADMSG);
}

static void test_wrap_chain(void **state)
{
	struct ferry_err err = { 0 };
	int r = fe_set(&err, ENOENT, "open %s", "/usr/lib/x.so");
	r = fe_wrap(&err, r, "restore vma %#lx", 0x7f0000001000UL);
	r = fe_wrap(&err, r, "restore pid %d", 42);
	assert_int_equal(r, -ENOENT);
	assert_int_equal(err.code, ENOENT);
	assert_string_equal(err.msg, "restore pid 42: restore vma 0x7f0000001000: open /usr/lib/x.so: "
			    "No such file or directory");
	assert_string_equal(fe_str(&err, r), err.msg);
}

static void test_wrap_without_cause(void **state)
{
	struct ferry_err err = { 0 };
	assert_int_equal(fe_wrap(&err, -EACCES, "seize %d", 7), -EACCES);
	assert_int_equal(err.code, EACCES);
	assert_string_equal(err.msg, "seize 7: Permission denied");
	assert_int_equal(fe_wrap(NULL, -EACCES, "x"), -EACCES);
}

static void test_str(void **state)
{
	struct ferry_err err = { 0 };
	assert_string_equal(fe_str(NULL, -ENOENT), strerror(ENOENT));
	assert_string_equal(fe_str(&err, -EINVAL), strerror(EINVAL));
	fe_msg(&err, EINVAL, "bad flag");
	assert_string_equal(fe_str(&err, -EINVAL), "bad flag");
	fe_clear(&err);
	assert_int_equal(err.code, 0);
	assert_string_equal(err.msg, "");
	assert_string_equal(fe_str(&err, ENOSPC), strerror(ENOSPC));	/* positive rc accepted */
}

static void test_truncation(void **state)
{
	struct ferry_err err = { 0 };
	char big[3000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	fe_set(&err, ENOENT, "%s", big);
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
	for (int i = 0; i < 5; i++)
		assert_int_equal(fe_wrap(&err, -ENOENT, "%s", big), -ENOENT);
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
	assert_int_equal(err.code, ENOENT);
	assert_int_equal(fe_wrap(&err, -ENOENT, "ctx"), -ENOENT);
	assert_memory_equal(err.msg, "ctx: aaaa", 9);	/* the newest context survives */
}

static void test_fault_point(void **state)
{
	unsetenv("FERRY_FAULT");
	assert_false(fault_point("image-write"));
	setenv("FERRY_FAULT", "image-write", 1);
	assert_true(fault_point("image-write"));
	assert_false(fault_point("image"));
	assert_false(fault_point("image-write-x"));
	unsetenv("FERRY_FAULT");
}

static void test_fault_stage_and_trace(void **state)
{
	char path[] = "/tmp/ferry-test-trace-XXXXXX", buf[256] = "";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	setenv("FERRY_FAULT_TRACE", path, 1);
	setenv("FERRY_FAULT", "dump-after-seize", 1);
	assert_true(fault_stage("dump-after", "seize"));
	assert_false(fault_stage("dump-after", "collect"));
	assert_false(fault_stage("restore-after", "seize"));
	unsetenv("FERRY_FAULT");
	unsetenv("FERRY_FAULT_TRACE");
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	unlink(path);
	assert_true(n > 0);
	assert_string_equal(buf, "dump-after-seize\ndump-after-collect\nrestore-after-seize\n");
}

/* A stall ends at once when the operation was already cancelled (a signal that came first). */
static void test_stall_cancelled(void **state)
{
	volatile sig_atomic_t cancel = 1;
	struct timespec t0, t1;
	setenv("FERRY_STALL", "dump-after-pages", 1);
	setenv("FERRY_STALL_MS", "5000", 1);
	fault_set_cancel(&cancel);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_false(fault_point("dump-after-pages"));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fault_set_cancel(NULL);
	unsetenv("FERRY_STALL");
	unsetenv("FERRY_STALL_MS");
	assert_true(t1.tv_sec - t0.tv_sec < 2);
}

/* The chain: each fe_wrap() is a link, outermost first; the class survives wrapping. */
static void test_chain_links_and_class(void **state)
{
	struct ferry_err e = { 0 };
	char buf[256];
	int r = fe_class(&e, FE_IMAGE_CORRUPT, fe_msg(&e, EBADMSG, "core-7.img: checksum mismatch"));
	r = fe_wrap(&e, r, "read core of %d", 7);
	r = fe_wrap(&e, r, "restore: tree");
	assert_int_equal(r, -EBADMSG);
	assert_string_equal(e.msg, "restore: tree: read core of 7: core-7.img: checksum mismatch");
	assert_int_equal(fe_chain_len(&e), 3);
	assert_int_equal(fe_chain_at(&e, 0, buf, sizeof(buf)), 13);
	assert_string_equal(buf, "restore: tree");	/* a ": " inside a link stays in it */
	fe_chain_at(&e, 1, buf, sizeof(buf));
	assert_string_equal(buf, "read core of 7");
	fe_chain_at(&e, 2, buf, sizeof(buf));
	assert_string_equal(buf, "core-7.img: checksum mismatch");
	assert_int_equal(fe_chain_at(&e, 3, buf, sizeof(buf)), -ERANGE);
	assert_int_equal(fe_class_of(&e, r), FE_IMAGE_CORRUPT);
	/* a new root cause replaces the class and the links */
	fe_set(&e, ECONNRESET, "send");
	assert_int_equal(fe_chain_len(&e), 1);
	assert_int_equal(fe_class_of(&e, -ECONNRESET), FE_PEER_LOST);	/* derived from the errno */
	fe_clear(&e);
	assert_int_equal(fe_chain_len(&e), 0);
	assert_int_equal(fe_class_of(&e, -ENOSPC), FE_RESOURCE);
	assert_int_equal(fe_class_of(NULL, -ECANCELED), FE_CANCELLED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set), cmocka_unit_test(test_msg), cmocka_unit_test(test_wrap_chain),
		cmocka_unit_test(test_wrap_without_cause), cmocka_unit_test(test_str),
		cmocka_unit_test(test_truncation), cmocka_unit_test(test_fault_point),
		cmocka_unit_test(test_fault_stage_and_trace), cmocka_unit_test(test_stall_cancelled),
		cmocka_unit_test(test_chain_links_and_class),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
