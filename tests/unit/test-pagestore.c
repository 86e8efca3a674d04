/* SPDX-License-Identifier: Apache-2.0 */
/* pagestore.c: write, commit, open and verify a store; corruption and malformed pagemaps. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <xxhash.h>
#include "common/cleanup.h"
#include "image/pagestore.h"
#include "tmpdir.h"

#define PID 77
#define NPAGES 600	/* more than two runs' worth: runs of 256 + 256 + 88 pages */
#define NRUNS 3
#define STORE "pages-77.img"

struct fixture {
	struct tmpdir *dir;
	Ferry__Pagemap pm;
	Ferry__PagemapEntry runs[NRUNS], *runv[NRUNS];
};

/* A committed 600-page store in a fresh directory, and its pagemap (runs with gaps between). */
static int setup(void **state)
{
	static const uint32_t sizes[NRUNS] = { 256, 256, 88 };
	struct fixture *f = calloc(1, sizeof(*f));
	struct page_store ps;
	struct ferry_err err = { 0 };
	if (!f || !(f->dir = tmpdir_new()) || pages_create(f->dir->fd, PID, NULL, NPAGES, &ps, &err) < 0)
		return -1;
	for (uint64_t i = 0; i < NPAGES; i++)
		for (size_t b = 0; b < PS_PAGE; b += 8)
			*(uint64_t *)(pages_slot(&ps, i) + b) = i * 1000003 + b;
	ferry__pagemap__init(&f->pm);
	f->pm.pid = PID, f->pm.total_pages = NPAGES, f->pm.n_entries = NRUNS, f->pm.entries = f->runv;
	uint64_t vaddr = 0x7f0000000000ULL, idx = 0;
	for (int i = 0; i < NRUNS; i++) {
		Ferry__PagemapEntry *e = f->runv[i] = &f->runs[i];
		ferry__pagemap_entry__init(e);
		e->vaddr = vaddr, e->nr_pages = sizes[i];
		e->xxh3 = XXH3_64bits(pages_slot(&ps, idx), sizes[i] * PS_PAGE);
		vaddr += (sizes[i] + 1) * PS_PAGE;
		idx += sizes[i];
	}
	*state = f;
	return pages_commit(&ps, &err) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	tmpdir_free(f->dir);
	free(f);
	return 0;
}

static void test_open_verify(void **state)
{
	struct fixture *f = *state;
	struct page_store ps;
	struct ferry_err err = { 0 };
	assert_int_equal(tmpdir_count(f->dir), 1);	/* the temporary was renamed */
	assert_int_equal(pages_open(f->dir->fd, PID, &f->pm, &ps, &err), 0);
	assert_int_equal(pages_verify(&ps, &f->pm, &err), 0);
	assert_int_equal(*(uint64_t *)(pages_slot(&ps, 599) + 8), 599 * 1000003ULL + 8);
	pages_close(&ps);
	pages_close(&ps);	/* idempotent */
}

static void test_flipped_byte(void **state)
{
	struct fixture *f = *state;
	struct page_store ps;
	struct ferry_err err = { 0 };
	int fd = openat(f->dir->fd, STORE, O_RDWR);
	uint8_t b;
	off_t off = PS_HDR_SIZE + 300 * PS_PAGE + 123;	/* inside run 1 */
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x10;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
	assert_int_equal(pages_open(f->dir->fd, PID, &f->pm, &ps, &err), 0);
	assert_int_equal(pages_verify(&ps, &f->pm, &err), -EBADMSG);
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, STORE));
	assert_non_null(strstr(err.msg, "run 1"));
	assert_non_null(strstr(err.msg, "0x7f0000101000"));
	pages_close(&ps);
}

static void expect_open_fails(struct fixture *f, const char *says)
{
	struct page_store ps;
	struct ferry_err err = { 0 };
	assert_int_equal(pages_open(f->dir->fd, PID, &f->pm, &ps, &err), -EBADMSG);
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, STORE));
	assert_non_null(strstr(err.msg, says));
	assert_int_equal(ps.fd, -1);
	assert_null(ps.map);
}

static void test_truncated(void **state)
{
	struct fixture *f = *state;
	int fd = openat(f->dir->fd, STORE, O_RDWR);
	assert_int_equal(ftruncate(fd, PS_HDR_SIZE + 599 * PS_PAGE), 0);
	expect_open_fails(f, "truncated");
	assert_int_equal(ftruncate(fd, PS_HDR_SIZE + 601 * PS_PAGE), 0);
	expect_open_fails(f, "overlong");
	assert_int_equal(ftruncate(fd, 20), 0);
	expect_open_fails(f, "no header");
	close(fd);
}

static void test_bad_header_and_total(void **state)
{
	struct fixture *f = *state;
	f->pm.total_pages = NPAGES + 1;	/* the pagemap wants more than the store holds */
	expect_open_fails(f, "pagemap wants");
	f->pm.total_pages = NPAGES;
	int fd = openat(f->dir->fd, STORE, O_RDWR);
	assert_int_equal(pwrite(fd, "X", 1, 0), 1);
	close(fd);
	expect_open_fails(f, "not a ferry page store");
}

static void expect_invalid(Ferry__Pagemap *pm, const char *says)
{
	struct ferry_err err = { 0 };
	assert_int_equal(pagemap_validate(pm, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "pagemap-77.img"));
	assert_non_null(strstr(err.msg, says));
}

static void test_validate(void **state)
{
	struct fixture *f = *state;
	Ferry__Pagemap *pm = &f->pm;
	Ferry__PagemapEntry *r1 = &f->runs[1];
	const Ferry__PagemapEntry saved = *r1;
	assert_int_equal(pagemap_validate(pm, NULL), 0);

	r1->vaddr = f->runs[0].vaddr + 255 * PS_PAGE;	/* overlaps run 0's last page */
	expect_invalid(pm, "run 1");
	r1->vaddr = f->runs[0].vaddr;			/* duplicate start */
	expect_invalid(pm, "run 1");
	r1->vaddr = f->runs[0].vaddr - 16 * PS_PAGE;	/* out of order */
	expect_invalid(pm, "run 1");
	*r1 = saved, r1->vaddr += 8;			/* unaligned */
	expect_invalid(pm, "run 1");
	*r1 = saved, r1->nr_pages = 0;			/* zero-length */
	expect_invalid(pm, "run 1");
	*r1 = saved, r1->nr_pages = PS_RUN_MAX_PAGES + 1;	/* oversize */
	expect_invalid(pm, "run 1");
	*r1 = saved, f->runs[2].vaddr = 1ULL << 57;	/* beyond any user address */
	expect_invalid(pm, "run 2");
	f->runs[2].vaddr = UINT64_MAX & ~(PS_PAGE - 1);	/* would wrap */
	expect_invalid(pm, "run 2");
	f->runs[2].vaddr = saved.vaddr + 300 * PS_PAGE;
	assert_int_equal(pagemap_validate(pm, NULL), 0);
	pm->total_pages = NPAGES - 1;			/* wrong total */
	expect_invalid(pm, "add up to 600 pages, header says 599");
	pm->n_entries = 0, pm->total_pages = 0;		/* an empty map is fine */
	assert_int_equal(pagemap_validate(pm, NULL), 0);
	pm->total_pages = 1;
	expect_invalid(pm, "add up to 0 pages");
}

static void test_empty_store(void **state)
{
	struct fixture *f = *state;
	struct page_store ps;
	struct ferry_err err = { 0 };
	Ferry__Pagemap pm = FERRY__PAGEMAP__INIT;
	pm.pid = 5;
	assert_int_equal(pages_create(f->dir->fd, 5, NULL, 0, &ps, &err), 0);
	assert_int_equal(pages_commit(&ps, &err), 0);
	assert_int_equal(pages_open(f->dir->fd, 5, &pm, &ps, &err), 0);
	assert_int_equal(pages_verify(&ps, &pm, &err), 0);
	pages_close(&ps);
}

static void test_enospc_and_abort(void **state)
{
	struct fixture *f = *state;
	struct page_store ps;
	struct ferry_err err = { 0 };
	setenv("FERRY_FAULT", "pages-enospc", 1);
	int r = pages_create(f->dir->fd, 6, NULL, 10, &ps, &err);
	unsetenv("FERRY_FAULT");
	assert_int_equal(r, -ENOSPC);
	assert_non_null(strstr(err.msg, "pages-6.img"));
	assert_int_equal(tmpdir_count(f->dir), 1);	/* only the fixture's store */
	assert_int_equal(pages_create(f->dir->fd, 6, NULL, 10, &ps, &err), 0);
	assert_int_equal(tmpdir_count(f->dir), 1);	/* unnamed until committed */
	pages_abort(&ps);
	assert_int_equal(tmpdir_count(f->dir), 1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_verify), T(test_flipped_byte), T(test_truncated), T(test_bad_header_and_total),
		T(test_validate), T(test_empty_store), T(test_enospc_and_abort),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
