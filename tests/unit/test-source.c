/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image sources (image/source.c, transport/src-stream.c): an image received from a stream (an
 * export file) into memory reads exactly as the directory it came from, checks the same, and
 * leaves no file behind; a stream cut short holds nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sys/stat.h>
#include "engine/chain.h"
#include "image/source.h"
#include "transport/transport.h"
#include "samples.h"
#include "tmpdir.h"

static int setup(void **state) { return (*state = tmpdir_new()) ? 0 : -1; }
static int teardown(void **state) { tmpdir_free(*state); return 0; }

/* The samples, exported into t/../NAME (outside the directory the export reads). */
static void export_samples(struct tmpdir *t, char *file, size_t len)
{
	struct ferry_err err = { 0 };
	assert_int_equal(samples_write_all(t->fd, &err), 0);
	snprintf(file, len, "%s.export", t->path);
	int r = image_export(t->path, file, &err);
	if (r < 0)
		fail_msg("export: %s", err.msg);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	for (struct dirent *de; d && (de = readdir(d));)
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static void test_stream_reads_as_dir(void **state)
{
	struct tmpdir *t = *state;
	struct ferry_err err = { 0 };
	struct img_src dir, mem;
	char file[128], **names = NULL, **mnames = NULL;
	size_t n = 0, mn = 0;
	export_samples(t, file, sizeof(file));
	int before = tmpdir_count(t);
	assert_int_equal(img_src_open(&dir, t->path, &err), 0);
	if (img_src_open_export(&mem, file, &err) < 0)
		fail_msg("stream source: %s", err.msg);
	assert_int_equal(img_src_list(&dir, &names, &n, &err), 0);
	assert_int_equal(img_src_list(&mem, &mnames, &mn, &err), 0);
	assert_int_equal(n, mn);
	assert_true(n >= 8);
	for (size_t i = 0; i < n; i++) {
		void *a = NULL, *b = NULL;
		size_t la = 0, lb = 0;
		assert_string_equal(names[i], mnames[i]);
		if (img_src_read(&dir, names[i], 1 << 24, &a, &la, &err) < 0)
			fail_msg("%s: %s", names[i], err.msg);
		assert_int_equal(img_src_read(&mem, names[i], 1 << 24, &b, &lb, &err), 0);
		assert_int_equal(la, lb);
		assert_memory_equal(a, b, la);
		free(a);
		free(b);
	}
	/* every file's header, checksum, identity and owner, as verify checks a directory */
	ProtobufCMessage *inv = NULL;
	assert_int_equal(img_src_read_msg(&mem, IMG_INVENTORY, 0, &inv, &err), 0);
	if (verify_files(&mem, &err) < 0)
		fail_msg("verify through the stream source: %s", err.msg);
	img_free(inv);
	struct stat st;
	assert_int_equal(img_src_encoded(&mem, "nosuch.img", NULL, NULL, &err), -ENOENT);
	img_src_names_free(names, n);
	img_src_names_free(mnames, mn);
	img_src_close(&dir);
	img_src_close(&mem);
	assert_int_equal(tmpdir_count(t), before);	/* nothing written beside the image */
	assert_int_equal(stat(file, &st), 0);
	unlink(file);
}

/* A stream without its end record (a sender that died) gives no source and keeps no memfd. */
static void test_stream_cut_short(void **state)
{
	struct tmpdir *t = *state;
	struct ferry_err err = { 0 };
	struct img_src mem;
	char file[128];
	struct stat st;
	export_samples(t, file, sizeof(file));
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(truncate(file, st.st_size - 20), 0);
	int fds = count_fds();
	assert_true(img_src_open_export(&mem, file, &err) < 0);
	assert_int_equal(count_fds(), fds);
	unlink(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stream_reads_as_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_cut_short, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
