/* SPDX-License-Identifier: Apache-2.0 */
/* blob.c: contents streamed in checksummed chunks, holes kept, every corruption refused by name. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "image/blob.h"
#include "samples.h"
#include "tmpdir.h"

#define MiB (1ULL << 20)
#define SIZE (8 * MiB + 123)

struct fixture {
	struct tmpdir *dir;
	struct img_src src;
	int fd;		/* the original content */
};

static void fill(int fd, uint64_t off, uint64_t len, unsigned seed)
{
	uint8_t buf[4096];
	for (uint64_t done = 0; done < len;) {
		size_t n = len - done < sizeof(buf) ? len - done : sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)((off + done + i) * 2654435761u >> 13 ^ seed);
		assert_int_equal(pwrite(fd, buf, n, (off_t)(off + done)), (ssize_t)n);
		done += n;
	}
}

/* A sparse content: 3 MiB + 5 of data, a hole, one page at 5 MiB, a hole, a partial last page. */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct ferry_err err = { 0 };
	struct img_sink sink;
	if (!f || !(f->dir = tmpdir_new()) || (f->fd = memfd_create("blob", MFD_CLOEXEC)) < 0)
		return -1;
	fill(f->fd, 0, 3 * MiB + 5, 1);
	fill(f->fd, 5 * MiB, 4096, 2);
	fill(f->fd, SIZE - 100, 100, 3);
	img_sink_local(&sink, f->dir->fd);
	memcpy(sink.ident, sample_ident.id, IMG_ID_LEN);
	if (blob_write(&sink, 5, f->fd, SIZE, "test content", &err) < 0 ||
	    img_src_open_fd(&f->src, f->dir->fd, f->dir->path, &err) < 0)
		return -1;
	f->src.ident = sample_ident;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	img_src_close(&f->src);
	close(f->fd);
	tmpdir_free(f->dir);
	free(f);
	return 0;
}

/* The data/hole map of a file, as "d:start-end" pieces. */
static void layout(int fd, uint64_t size, char *out, size_t len)
{
	out[0] = 0;
	for (off_t at = 0; (uint64_t)at < size;) {
		off_t d = lseek(fd, at, SEEK_DATA);
		if (d < 0)
			break;
		off_t h = lseek(fd, d, SEEK_HOLE);
		snprintf(out + strlen(out), len - strlen(out), "d:%lld-%lld ", (long long)d, (long long)h);
		at = h;
	}
}

static void test_round_trip_keeps_holes(void **state)
{
	struct fixture *f = *state;
	struct ferry_err err = { 0 };
	int out = memfd_create("back", MFD_CLOEXEC);
	uint64_t size = 0;
	assert_int_equal(blob_read(&f->src, 5, SIZE, blob_put_fd, &out, &size, &err), 0);
	assert_int_equal(size, SIZE);
	assert_int_equal(ftruncate(out, (off_t)size), 0);
	char la[256], lb[256];
	struct stat sa, sb;
	layout(f->fd, SIZE, la, sizeof(la));
	layout(out, SIZE, lb, sizeof(lb));
	print_message("original %s\nrestored %s\n", la, lb);
	assert_string_equal(la, "d:0-3149824 d:5242880-5246976 d:8388608-8388731 ");
	assert_string_equal(la, lb);
	assert_int_equal(fstat(f->fd, &sa), 0);
	assert_int_equal(fstat(out, &sb), 0);
	assert_int_equal(sa.st_blocks, sb.st_blocks);
	uint8_t *a = malloc(SIZE), *b = malloc(SIZE);	/* read, not mapped: a mapping would fill the holes */
	assert_int_equal(pread(f->fd, a, SIZE, 0), SIZE);
	assert_int_equal(pread(out, b, SIZE, 0), SIZE);
	assert_memory_equal(a, b, SIZE);
	free(a);
	free(b);
	/* the image holds the data, not the holes */
	struct stat si;
	assert_int_equal(fstatat(f->dir->fd, "ghost-5.img", &si, 0), 0);
	assert_true(si.st_size < (off_t)(3 * MiB + 3 * 4096 + 4096));
	close(out);
}

static void test_empty_and_all_hole(void **state)
{
	struct fixture *f = *state;
	struct ferry_err err = { 0 };
	struct img_sink sink;
	uint64_t size = 1;
	int fd = memfd_create("empty", MFD_CLOEXEC);
	img_sink_local(&sink, f->dir->fd);
	memcpy(sink.ident, sample_ident.id, IMG_ID_LEN);
	assert_int_equal(blob_write(&sink, 6, fd, 0, "empty", &err), 0);
	assert_int_equal(blob_read(&f->src, 6, 0, NULL, NULL, &size, &err), 0);
	assert_int_equal(size, 0);
	assert_int_equal(ftruncate(fd, (off_t)MiB), 0);
	assert_int_equal(blob_write(&sink, 7, fd, MiB, "holes", &err), 0);
	assert_int_equal(blob_read(&f->src, 7, MiB, NULL, NULL, &size, &err), 0);
	assert_int_equal(size, MiB);
	close(fd);
}

static void test_too_large(void **state)
{
	struct fixture *f = *state;
	struct ferry_err err = { 0 };
	struct img_sink sink;
	int fd = memfd_create("huge", MFD_CLOEXEC);
	img_sink_local(&sink, f->dir->fd);
	assert_int_equal(blob_write(&sink, 8, fd, BLOB_MAX_SIZE + 1, "memfd /memfd:huge", &err), -EFBIG);
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, "memfd /memfd:huge"));
	assert_int_equal(tmpdir_count(f->dir), 1);	/* nothing of it was written */
	close(fd);
}

struct counter {
	uint64_t bytes;
};

static int count_put(void *arg, uint64_t off, const void *data, size_t len, struct ferry_err *err)
{
	((struct counter *)arg)->bytes += len;
	return 0;
}

/* Spoils ghost-5.img at off with bytes, then expects the read to fail saying says. */
static void spoiled(struct fixture *f, off_t off, const void *bytes, size_t n, uint64_t want, const char *says,
		    uint64_t max_put)
{
	struct ferry_err err = { 0 };
	struct counter c = { 0 };
	int fd = openat(f->dir->fd, "ghost-5.img", O_RDWR);
	uint8_t keep[64];
	assert_int_equal(pread(fd, keep, n, off), (ssize_t)n);
	assert_int_equal(pwrite(fd, bytes, n, off), (ssize_t)n);
	assert_int_equal(blob_read(&f->src, 5, want, count_put, &c, NULL, &err), -EBADMSG);
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, "ghost-5.img"));
	assert_non_null(strstr(err.msg, says));
	assert_true(c.bytes <= max_put);	/* nothing from a bad chunk was handed on */
	assert_int_equal(pwrite(fd, keep, n, off), (ssize_t)n);
	close(fd);
}

static void test_corruptions(void **state)
{
	struct fixture *f = *state;
	const off_t data0 = 64 + 32 + 24, chunk2 = data0 + 2 * (MiB + 24);
	uint8_t x = 0x5a, bad[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f };
	spoiled(f, data0 + 100, &x, 1, SIZE, "chunk 0 (1048576 bytes at 0) fails its checksum", 0);
	spoiled(f, chunk2 + 7, &x, 1, SIZE, "chunk 2 ", 2 * MiB);
	spoiled(f, 64 + 16, bad, 8, SIZE, "malformed blob header", 0);		/* size */
	spoiled(f, 64 + 24, bad, 8, SIZE, "malformed blob header", 0);		/* nchunks */
	spoiled(f, chunk2 - 24, bad, 8, SIZE, "chunk 2 has a malformed header", 2 * MiB);	/* offset */
	spoiled(f, 48, bad, 4, SIZE, "header fails its checksum", 0);		/* owner */
	struct ferry_err err = { 0 };
	assert_int_equal(blob_read(&f->src, 5, SIZE - 1, NULL, NULL, NULL, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "holds 8388731 bytes where the image says 8388730"));
	/* a file of another dump */
	f->src.ident.id[3] ^= 1;
	assert_int_equal(blob_read(&f->src, 5, SIZE, NULL, NULL, NULL, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "belongs to another dump"));
	f->src.ident = sample_ident;
	/* truncated, or with a byte too many */
	struct stat st;
	uint8_t last;
	int fd = openat(f->dir->fd, "ghost-5.img", O_RDWR);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(pread(fd, &last, 1, st.st_size - 1), 1);
	assert_int_equal(ftruncate(fd, st.st_size - 1), 0);
	assert_int_equal(blob_read(&f->src, 5, SIZE, NULL, NULL, NULL, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "truncated"));
	assert_int_equal(pwrite(fd, &last, 1, st.st_size - 1), 1);
	assert_int_equal(blob_read(&f->src, 5, SIZE, NULL, NULL, NULL, &err), 0);
	assert_int_equal(ftruncate(fd, st.st_size + 1), 0);
	assert_int_equal(blob_read(&f->src, 5, SIZE, NULL, NULL, NULL, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "trailing garbage"));
	close(fd);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_round_trip_keeps_holes), T(test_empty_and_all_hole), T(test_too_large), T(test_corruptions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
