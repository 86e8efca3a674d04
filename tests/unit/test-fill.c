/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mem/fill.c: the page filler writes a store's runs into another process (process_vm_writev, and
 * /proc/PID/mem under FERRY_FAULT=fill-proc-mem), skips runs left to parent images, checks every
 * run (a flipped byte fails the task, named by store and run), checks alone, and hands back every
 * task submitted exactly once; its fault point fails a task (and is traced, fill-proc-mem is not);
 * once cancelled it writes nothing more and its waiter returns. (Its UFFDIO_COPY path needs a
 * traced task: tests/zdtm/tree_shapes.)
 */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <xxhash.h>
#include "engine/chain.h"
#include "image/pagestore.h"
#include "mem/fill.h"
#include "tmpdir.h"

#define PID 77
#define NRUNS 4
#define NPAGES 600	/* stored: runs of 256 + 256 + 88 pages; a fourth run is left to a parent image */
#define STORE "pages-77.img"
#define BASE ((uint8_t *)0x7e1000000000ULL)
#define SPAN (1024 * PS_PAGE)

struct fixture {
	struct tmpdir *dir;
	Ferry__Pagemap pm;
	Ferry__PagemapEntry runs[NRUNS], *runv[NRUNS];
	Ferry__Vma vma, *vmav[1];
	Ferry__Mm mm;
	pid_t kids[3];
};

static uint64_t word(uint64_t page, size_t b) { return page * 1000003 + b + 1; }

/* The store's pages, written one page at a time through the store's own writer. */
static int write_pages(struct page_store *ps)
{
	uint64_t page[PS_PAGE / 8];
	struct ferry_err err = { 0 };
	for (uint64_t i = 0; i < NPAGES; i++) {
		for (size_t w = 0; w < PS_PAGE / 8; w++)
			page[w] = word(i, w * 8);
		if (pages_write(ps, i, page, 1, &err) < 0)
			return -1;
	}
	return 0;
}

/* A store of 600 pages in three runs with holes between them, and an in-parent run after the second. */
static int setup(void **state)
{
	static const uint32_t sizes[NRUNS] = { 256, 256, 8, 88 };
	struct fixture *f = calloc(1, sizeof(*f));
	struct page_store ps;
	struct ferry_err err = { 0 };
	if (!f || !(f->dir = tmpdir_new()) || pages_create(f->dir->fd, PID, NULL, NPAGES, &ps, &err) < 0 ||
	    write_pages(&ps) < 0)
		return -1;
	ferry__pagemap__init(&f->pm);
	f->pm.pid = PID, f->pm.total_pages = NPAGES, f->pm.n_entries = NRUNS, f->pm.entries = f->runv;
	uint64_t vaddr = (uintptr_t)BASE, idx = 0;
	for (int i = 0; i < NRUNS; i++) {
		Ferry__PagemapEntry *e = f->runv[i] = &f->runs[i];
		ferry__pagemap_entry__init(e);
		e->vaddr = vaddr, e->nr_pages = sizes[i];
		if (i == 2) {
			e->has_flags = 1, e->flags = PM_IN_PARENT;
		} else {
			e->xxh3 = XXH3_64bits(pages_slot(&ps, idx), sizes[i] * PS_PAGE);
			idx += sizes[i];
		}
		vaddr += (sizes[i] + 1) * PS_PAGE;
	}
	ferry__mm__init(&f->mm);
	ferry__vma__init(&f->vma);	/* not anonymous memory: no userfaultfd (that needs a traced task) */
	f->vma.start = (uintptr_t)BASE, f->vma.end = (uintptr_t)BASE + SPAN, f->vma.kind = FERRY__VMA_KIND__VMA_FILE_PRIVATE;
	f->vmav[0] = &f->vma;
	f->mm.n_vmas = 1, f->mm.vmas = f->vmav;
	*state = f;
	return pages_commit(&ps, &err) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < 3; i++)
		if (f->kids[i] > 0) {
			kill(f->kids[i], SIGKILL);
			waitpid(f->kids[i], NULL, 0);
		}
	tmpdir_free(f->dir);
	free(f);
	return 0;
}

/* A process with SPAN bytes of zeroed writable memory at BASE, waiting to be killed. */
static pid_t target(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (mmap(BASE, SPAN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != BASE)
			_exit(1);
		for (;;)
			pause();
	}
	usleep(50000);	/* mapped */
	return pid;
}

/* Whether pid holds every stored run, zeroes in the holes and in the in-parent run. */
static int holds_store(const struct fixture *f, pid_t pid)
{
	static uint8_t mem[SPAN];
	struct iovec l = { mem, SPAN }, r = { BASE, SPAN };
	if (process_vm_readv(pid, &l, 1, &r, 1, 0) != (ssize_t)SPAN)
		return 0;
	uint64_t idx = 0;
	size_t at = 0;
	for (int i = 0; i < NRUNS; i++) {
		const Ferry__PagemapEntry *e = f->runs + i;
		for (uint32_t p = 0; p < e->nr_pages; p++, at += PS_PAGE)
			for (size_t b = 0; b < PS_PAGE; b += 8)
				if (*(uint64_t *)(mem + at + b) != ((e->flags & PM_IN_PARENT) ? 0 : word(idx + p, b)))
					return 0;
		idx += (e->flags & PM_IN_PARENT) ? 0 : e->nr_pages;
		for (size_t b = 0; b < PS_PAGE; b++, at++)
			if (mem[at])
				return 0;
	}
	return 1;
}

static void task_for(struct fixture *f, struct rtask *t, pid_t pid)
{
	struct ferry_err err = { 0 };
	memset(t, 0, sizeof(*t));
	t->pid = pid, t->pagemap = &f->pm, t->mm = &f->mm;
	assert_int_equal(pages_open(f->dir->fd, PID, &f->pm, &t->ps, &err), 0);
}

/* Submits tasks [0, n) and waits until each was handed back once. 0, or the first error. */
static int fill_all(struct rtask *t, size_t n, int what, struct ferry_err *err)
{
	struct restore_ctx ctx = { .err = err };
	int r = filler_start(&ctx.filler, NULL, err), first = 0;
	assert_int_equal(r, 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(filler_submit(&ctx, &t[i], what), 0);
	int seen[8] = { 0 };
	for (size_t got = 0;; got++) {
		struct rtask *done;
		struct ferry_err e = { 0 };
		r = filler_wait(ctx.filler, &done, NULL, &e);
		if (!done) {
			assert_int_equal(got, n);
			break;
		}
		seen[done - t]++;
		if (r < 0 && !first) {
			first = r;
			*err = e;
		}
	}
	for (size_t i = 0; i < n; i++)
		assert_int_equal(seen[i], 1);
	assert_true(filler_busy_us(ctx.filler) > 0);
	filler_stop(ctx.filler);
	return first;
}

static void test_write(void **state)
{
	struct fixture *f = *state;
	struct rtask t[3];
	struct ferry_err err = { 0 };
	for (int i = 0; i < 3; i++) {
		f->kids[i] = target();
		task_for(f, &t[i], f->kids[i]);
	}
	assert_int_equal(fill_all(t, 3, FILL_CHECK | FILL_WRITE, &err), 0);
	for (int i = 0; i < 3; i++) {
		assert_true(holds_store(f, f->kids[i]));
		pages_close(&t[i].ps);
	}
}

static void test_write_proc_mem(void **state)
{
	struct fixture *f = *state;
	struct rtask t;
	struct ferry_err err = { 0 };
	f->kids[0] = target();
	task_for(f, &t, f->kids[0]);
	setenv("FERRY_FAULT", "fill-proc-mem", 1);
	int r = fill_all(&t, 1, FILL_CHECK | FILL_WRITE, &err);
	unsetenv("FERRY_FAULT");
	assert_int_equal(r, 0);
	assert_true(holds_store(f, f->kids[0]));
	pages_close(&t.ps);
}

static void test_corrupt_run(void **state)
{
	struct fixture *f = *state;
	struct rtask t[2];
	struct ferry_err err = { 0 };
	int fd = openat(f->dir->fd, STORE, O_RDWR);
	uint8_t b;
	off_t off = PS_HDR_SIZE + 530 * PS_PAGE + 7;	/* inside the last run (run 3) */
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x40;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
	for (int i = 0; i < 2; i++) {
		f->kids[i] = target();
		task_for(f, &t[i], f->kids[i]);
	}
	assert_int_equal(fill_all(t, 2, FILL_CHECK | FILL_WRITE, &err), -EBADMSG);
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, STORE));
	assert_non_null(strstr(err.msg, "run 3"));
	assert_non_null(strstr(err.msg, "checksum"));
	assert_false(holds_store(f, f->kids[0]));	/* the corrupt run was not written */
	err = (struct ferry_err){ 0 };
	assert_int_equal(fill_all(t, 1, FILL_CHECK, &err), -EBADMSG);	/* checking alone finds it too */
	assert_int_equal(fill_all(t, 1, FILL_WRITE, &err), 0);	/* writing unchecked does not */
	for (int i = 0; i < 2; i++)
		pages_close(&t[i].ps);
}

/* FERRY_FAULT=restore-fill fails the task it is met in; FERRY_FAULT=fill-proc-mem is no point. */
static void test_fault_point(void **state)
{
	struct fixture *f = *state;
	struct rtask t;
	struct ferry_err err = { 0 };
	char trace[4096], buf[4096] = "";
	snprintf(trace, sizeof(trace), "%s/trace", f->dir->path);
	f->kids[0] = target();
	task_for(f, &t, f->kids[0]);
	setenv("FERRY_FAULT_TRACE", trace, 1);
	setenv("FERRY_FAULT", "restore-fill", 1);
	int r = fill_all(&t, 1, FILL_CHECK | FILL_WRITE, &err);
	assert_int_equal(r, -EIO);
	assert_non_null(strstr(err.msg, "fault injected in the page filler"));
	assert_false(holds_store(f, f->kids[0]));
	setenv("FERRY_FAULT", "fill-proc-mem", 1);
	assert_int_equal(fill_all(&t, 1, FILL_WRITE, &err), 0);
	unsetenv("FERRY_FAULT");
	unsetenv("FERRY_FAULT_TRACE");
	assert_true(holds_store(f, f->kids[0]));
	int fd = open(trace, O_RDONLY);
	assert_true(fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0);
	close(fd);
	assert_string_equal(buf, "restore-fill\nrestore-fill\n");	/* once per task written, never the mode */
	pages_close(&t.ps);
}

/* Cancelled: the waiter returns -ECANCELED, nothing is written, stopping frees what is queued. */
static void test_cancel(void **state)
{
	struct fixture *f = *state;
	struct rtask t;
	struct ferry_err err = { 0 };
	static volatile sig_atomic_t cancel;
	f->kids[0] = target();
	task_for(f, &t, f->kids[0]);
	struct restore_ctx ctx = { .err = &err };
	cancel = 1;
	assert_int_equal(filler_start(&ctx.filler, &cancel, &err), 0);
	assert_int_equal(filler_submit(&ctx, &t, FILL_CHECK | FILL_WRITE), 0);
	struct rtask *done;	/* (the task itself, failed, when a worker found the flag first) */
	assert_int_equal(filler_wait(ctx.filler, &done, NULL, &err), -ECANCELED);
	assert_true(!done || done == &t);
	assert_string_equal(err.msg, "cancelled");
	filler_stop(ctx.filler);
	assert_false(holds_store(f, f->kids[0]));
	pages_close(&t.ps);
}

static void test_gone(void **state)
{
	struct fixture *f = *state;
	struct rtask t;
	struct ferry_err err = { 0 };
	pid_t pid = target();
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	task_for(f, &t, pid);
	assert_true(fill_all(&t, 1, FILL_WRITE, &err) < 0);
	print_message("%s\n", err.msg);
	assert_non_null(strstr(err.msg, "write memory"));
	pages_close(&t.ps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_proc_mem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_point, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gone, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
