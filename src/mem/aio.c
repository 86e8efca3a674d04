/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AIO contexts (io_setup). The kernel maps each context's ring ("/[aio]") where userspace reads
 * completions; its address is the context's id. Dump: a ring that io_submit(ctx, 0, NULL) accepts
 * is a context of the task: its header and the events completed but not reaped (head to tail)
 * are saved. A ring mapping inherited by fork, whose context lives in the parent, is kept only
 * where the parent's context is. Restore, by injection: io_setup() makes a ring of the same size,
 * completions of writes to /dev/null bring the kernel's head and tail to where they were (the
 * kernel keeps its own copy of the tail), the saved events are written over the unreaped ones,
 * and mremap() puts the ring at its old address, which the kernel follows. Requests still in
 * flight at the dump are invisible to every kernel interface and are not restored.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#define LOG_PREFIX "aio: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "mem/mem.h"

#define AIO_RING_MAGIC 0xa10a10a1
#define RING_HDR 32	/* struct aio_ring before its io_events */
#define EVENT_SIZE 32	/* struct io_event */

struct ring_hdr {
	uint32_t id, nr, head, tail, magic, compat, incompat, header_length;
};

static int read_remote(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	char path[64];
	_cleanup_close_ int fd = open(PROC_PATH(path, pid, "mem"), O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : pread_full(fd, buf, len, (off_t)addr);
}

static const Ferry__AioRing *find_ring(const Ferry__Mm *mm, uint64_t addr)
{
	for (size_t i = 0; mm && i < mm->n_aio; i++)
		if (mm->aio[i]->addr == addr)
			return mm->aio[i];
	return NULL;
}

int aio_is_context(const Ferry__Mm *mm, const Ferry__Vma *v)
{
	return v->kind == FERRY__VMA_KIND__VMA_AIO_RING && find_ring(mm, v->start);
}

static int dump_ring(struct dump_ctx *ctx, struct dtask *t, const Ferry__Vma *v, Ferry__AioRing **out)
{
	struct ring_hdr h;
	uint64_t len = v->end - v->start;
	int r = read_remote(t->pid, v->start, &h, sizeof(h));
	if (r < 0)
		return fe_set(ctx->err, r, "pid %d: read the AIO ring at %#llx", t->pid, (unsigned long long)v->start);
	if (h.magic != AIO_RING_MAGIC || (uint64_t)h.nr * EVENT_SIZE + RING_HDR > len || h.head >= h.nr ||
	    h.tail >= h.nr || v->pgoff)
		return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: the AIO ring at %#llx is not whole (nr %u, head %u, tail %u)",
			      t->pid, (unsigned long long)v->start, h.nr, h.head, h.tail);
	Ferry__AioRing *a = ARENA_NEW(&ctx->arena, Ferry__AioRing);
	uint32_t pending = (h.tail + h.nr - h.head) % h.nr;
	uint8_t *ev = ARENA_ARRAY(&ctx->arena, uint8_t, (size_t)pending * EVENT_SIZE + 1);
	if (!a || !ev)
		return fe_set(ctx->err, ENOMEM, "AIO ring");
	ferry__aio_ring__init(a);
	a->addr = v->start;
	a->len = len;
	a->nr = h.nr;
	a->head = h.head;
	a->tail = h.tail;
	a->has_id = 1;
	a->id = h.id;
	for (uint32_t k = 0; k < pending && r == 0; k++)
		r = read_remote(t->pid, v->start + RING_HDR + (uint64_t)((h.head + k) % h.nr) * EVENT_SIZE,
				ev + (size_t)k * EVENT_SIZE, EVENT_SIZE);
	if (r < 0)
		return fe_set(ctx->err, r, "pid %d: read the AIO ring at %#llx", t->pid, (unsigned long long)v->start);
	a->has_events = 1;
	a->events.data = ev;
	a->events.len = (size_t)pending * EVENT_SIZE;
	*out = a;
	pr_debug("pid %d: AIO context %#llx: %u events, head %u, tail %u\n", t->pid, (unsigned long long)v->start,
		 h.nr, h.head, h.tail);
	return 0;
}

int aio_dump(struct dump_ctx *ctx, struct dtask *t)
{
	Ferry__Mm *mm = t->mm;
	for (size_t i = 0; i < mm->n_vmas; i++) {
		const Ferry__Vma *v = mm->vmas[i];
		long ret;
		if (v->kind != FERRY__VMA_KIND__VMA_AIO_RING)
			continue;
		int r = inj_syscall(&t->inj, &ret, SYS_io_submit, (const unsigned long[6]){ v->start, 0, 0 }, ctx->err);
		if (r < 0)
			return r;
		if (ret != 0) {	/* not a context of this task: a ring mapping its parent's context left by fork */
			const struct dtask *p = t->parent >= 0 ? &ctx->tasks[t->parent] : NULL;
			const Ferry__AioRing *pr = p ? find_ring(p->mm, v->start) : NULL;
			if (!pr || pr->len != v->end - v->start)
				return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: the AIO ring at %#llx belongs to no context of the tree "
					      "(inherited from a context its parent no longer has): not supported", t->pid,
					      (unsigned long long)v->start);
			continue;
		}
		Ferry__AioRing **n = ARENA_ARRAY(&ctx->arena, Ferry__AioRing *, mm->n_aio + 1);
		if (!n)
			return fe_set(ctx->err, ENOMEM, "AIO rings");
		if (mm->n_aio)
			memcpy(n, mm->aio, mm->n_aio * sizeof(*n));
		mm->aio = n;
		if ((r = dump_ring(ctx, t, v, &mm->aio[mm->n_aio])) < 0)
			return r;
		mm->n_aio++;
	}
	return 0;
}

/* The io_setup() argument that makes a ring of len bytes: the kernel doubles what it is asked
 * (at least 4 per possible CPU) and fills whole pages. */
static long setup_nr(uint64_t len)
{
	long cpus = 1;
	_cleanup_free_ char *poss = NULL;
	if (read_file("/sys/devices/system/cpu/possible", &poss, NULL) == 0) {
		char *dash = strrchr(poss, '-');
		cpus = (dash ? atol(dash + 1) : atol(poss)) + 1;
	}
	uint64_t pages = len / 4096;
	for (long n = 1; n < (1L << 20); n++) {
		long nr = 2 * (n > cpus * 4 ? n : cpus * 4);
		if ((RING_HDR + (uint64_t)nr * EVENT_SIZE + 4095) / 4096 == pages)
			return n;
		if ((RING_HDR + (uint64_t)nr * EVENT_SIZE + 4095) / 4096 > pages)
			break;
	}
	return -1;
}

#define BATCH 64

/* Completes n writes of nothing to /dev/null on the context; reaps them unless keep. */
static int complete(struct restore_ctx *ctx, struct injector *inj, uint64_t actx, long nullfd, uint32_t n, int keep)
{
	struct iocb cb = { .aio_lio_opcode = IOCB_CMD_PWRITE, .aio_fildes = (uint32_t)nullfd };
	uint64_t cb_at = inj_scratch_put(inj, 0, &cb, sizeof(cb)), ptrs[BATCH];
	for (int k = 0; k < BATCH; k++)
		ptrs[k] = cb_at;
	uint64_t ptrs_at = inj_scratch_put(inj, 128, ptrs, sizeof(ptrs)), ev_at = ptrs_at + sizeof(ptrs) + 64;
	while (n) {
		uint32_t b = n < BATCH ? n : BATCH;
		long ret;
		int r = RINJ(ctx, inj, &ret, "io_submit", SYS_io_submit, actx, b, ptrs_at);
		if (r == 0 && ret != b)
			r = fe_msg(ctx->err, EIO, "io_submit took %ld of %u requests", ret, b);
		if (r == 0 && !keep)
			r = RINJ(ctx, inj, &ret, "io_getevents", SYS_io_getevents, actx, b, b, ev_at, 0);
		if (r < 0)
			return r;
		n -= b;
	}
	return 0;
}

/* One context: a ring like the saved one, its head and tail where they were, then moved in place. */
static int restore_ring(struct restore_ctx *ctx, struct rtask *t, const Ferry__AioRing *a, long nullfd)
{
	struct injector *inj = &t->threads[0].inj;
	long n = setup_nr(a->len), ret;
	uint64_t actx = 0, at = inj_scratch_put(inj, 3072, &actx, sizeof(actx));
	if (n < 0 || a->nr == 0 || a->head >= a->nr || a->tail >= a->nr ||
	    a->events.len != (size_t)((a->tail + a->nr - a->head) % a->nr) * EVENT_SIZE)
		return fe_msg(ctx->err, EBADMSG, "mm-%d.img: AIO ring at %#llx is malformed", t->pid, (unsigned long long)a->addr);
	int r = RINJ(ctx, inj, &ret, "io_setup", SYS_io_setup, n, at);
	struct ring_hdr h;
	if (r == 0 && (r = inj_read(inj, at, &actx, sizeof(actx))) == 0)
		r = inj_read(inj, actx, &h, sizeof(h));
	if (r < 0)
		return fe_wrap(ctx->err, r, "AIO context at %#llx", (unsigned long long)a->addr);
	if (h.nr != a->nr)
		return fe_msg(ctx->err, EOPNOTSUPP, "AIO context at %#llx: this kernel makes a ring of %u events, not %u",
			      (unsigned long long)a->addr, h.nr, a->nr);
	uint32_t pending = (a->tail + a->nr - a->head) % a->nr;
	if ((r = complete(ctx, inj, actx, nullfd, a->head, 0)) < 0 || (r = complete(ctx, inj, actx, nullfd, pending, 1)) < 0)
		return fe_wrap(ctx->err, r, "AIO context at %#llx", (unsigned long long)a->addr);
	for (uint32_t k = 0; k < pending && r == 0; k++)
		r = inj_write(inj, actx + RING_HDR + (uint64_t)((a->head + k) % a->nr) * EVENT_SIZE,
			      a->events.data + (size_t)k * EVENT_SIZE, EVENT_SIZE);
	if (r < 0)
		return fe_set(ctx->err, r, "write the events of the AIO context at %#llx", (unsigned long long)a->addr);
	if (actx == a->addr)
		return 0;
	r = RINJ(ctx, inj, &ret, "move the AIO ring", SYS_mremap, actx, a->len, a->len, MREMAP_MAYMOVE | MREMAP_FIXED,
		 a->addr);
	return r < 0 ? fe_wrap(ctx->err, r, "AIO context at %#llx", (unsigned long long)a->addr) : 0;
}

static int cmp_id(const void *x, const void *y)
{
	const Ferry__AioRing *a = *(Ferry__AioRing *const *)x, *b = *(Ferry__AioRing *const *)y;
	return a->id < b->id ? -1 : a->id > b->id;
}

/*
 * Contexts get the lowest free slot of the mm's table: restored in the order of their old slots,
 * with stand-ins (destroyed at the end) for slots of contexts that were destroyed, each gets
 * its old id back.
 */
int aio_restore(struct restore_ctx *ctx, struct rtask *t)
{
	const Ferry__Mm *mm = t->mm;
	if (!mm->n_aio)
		return 0;
	struct injector *inj = &t->threads[0].inj;
	_cleanup_free_ Ferry__AioRing **order = calloc(mm->n_aio, sizeof(*order));
	_cleanup_free_ uint64_t *standins = calloc(4096, sizeof(uint64_t));
	if (!order || !standins)
		return fe_set(ctx->err, ENOMEM, "AIO contexts");
	memcpy(order, mm->aio, mm->n_aio * sizeof(*order));
	qsort(order, mm->n_aio, sizeof(*order), cmp_id);
	long nullfd = -1, ret;
	uint64_t at = inj_scratch_put(inj, 0, "/dev/null", 10);
	int r = RINJ(ctx, inj, &nullfd, "open /dev/null", SYS_open, at, O_WRONLY | O_CLOEXEC);
	uint32_t slot = 0;
	size_t nstand = 0;
	for (size_t i = 0; r == 0 && i < mm->n_aio; i++) {
		for (; r == 0 && slot < order[i]->id && order[i]->id < 4096; slot++) {
			uint64_t c = 0, cat = inj_scratch_put(inj, 3072, &c, sizeof(c));
			if ((r = RINJ(ctx, inj, &ret, "io_setup (a stand-in)", SYS_io_setup, 1, cat)) == 0 &&
			    (r = inj_read(inj, cat, &standins[nstand], 8)) == 0)
				nstand++;
		}
		if (r == 0 && (r = restore_ring(ctx, t, order[i], nullfd)) == 0)
			slot++;
	}
	for (size_t i = 0; i < nstand; i++)
		RINJ(ctx, inj, &ret, "io_destroy (a stand-in)", SYS_io_destroy, standins[i]);
	if (nullfd >= 0 && r == 0)
		RINJ(ctx, inj, &ret, "close", SYS_close, nullfd);
	return r;
}
