/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Seccomp, per thread. Filters (mode 2): each thread's chain of BPF programs is read with
 * PTRACE_SECCOMP_GET_FILTER/METADATA and installed again in that thread by injection, oldest
 * first (filters shared between threads: task/seccomp-share.c). Strict mode (1) is entered again by injection; ferry's tracer option
 * PTRACE_O_SUSPEND_SECCOMP keeps both out of the way of what it injects afterwards.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>
#define LOG_PREFIX "seccomp: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "engine/context.h"
#include "task/seccomp-internal.h"
#include "task/task.h"

#define GET_FILTER 0x420c	/* PTRACE_SECCOMP_GET_FILTER */
#define GET_METADATA 0x420d	/* PTRACE_SECCOMP_GET_METADATA */
#define SUSPEND_SECCOMP (1 << 21)	/* PTRACE_O_SUSPEND_SECCOMP */
#define MAX_FILTERS 8192	/* the kernel allows 32768 instructions per chain, 4 more per filter */
#define MAX_INSNS 4096		/* BPF_MAXINSNS */

struct kseccomp_metadata {
	uint64_t filter_off;
	uint64_t flags;
};

/* The kernel's struct sock_fprog on x86_64. */
struct kfprog {
	uint16_t len;
	uint16_t pad[3];
	uint64_t filter;
};

static int thread_mode(pid_t pid, pid_t tid, int *mode)
{
	char path[96];
	_cleanup_free_ char *text = NULL;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
	int r = read_file(path, &text, NULL);
	if (r < 0)
		return r;
	const char *v = proc_field(text, "Seccomp");
	*mode = v ? atoi(v) : 0;
	return 0;
}

/* Index of an identical filter already saved, or a new entry. */
static int add_filter(struct dump_ctx *ctx, Ferry__SeccompState *st, const void *insns, size_t len, uint64_t flags)
{
	for (size_t i = 0; i < st->n_filters; i++) {
		const Ferry__SeccompFilter *f = st->filters[i];
		if (f->insns.len == len && f->flags == flags && !memcmp(f->insns.data, insns, len))
			return i;
	}
	Ferry__SeccompFilter *f = ARENA_NEW(&ctx->arena, Ferry__SeccompFilter);
	void **grown = ARENA_ARRAY(&ctx->arena, void *, st->n_filters + 1);
	void *data = arena_memdup(&ctx->arena, insns, len);
	if (!f || !grown || !data)
		return -ENOMEM;
	ferry__seccomp_filter__init(f);
	f->insns.data = data;
	f->insns.len = len;
	f->has_flags = 1;
	f->flags = flags;
	memcpy(grown, st->filters, st->n_filters * sizeof(void *));
	st->filters = (Ferry__SeccompFilter **)grown;
	st->filters[st->n_filters++] = f;
	return st->n_filters - 1;
}

/* Filter number idx counted from the oldest (0); -ENOENT past the newest. */
static int read_filter(struct dump_ctx *ctx, Ferry__SeccompState *st, pid_t tid, unsigned long idx)
{
	long n = ptrace(GET_FILTER, tid, (void *)idx, NULL);
	if (n < 0)
		return errno == ENOENT ? -ENOENT : fe_set(ctx->err, errno, "thread %d: read seccomp filter %lu", tid, idx);
	if (n == 0 || n > MAX_INSNS)
		return fe_msg(ctx->err, EIO, "thread %d: seccomp filter %lu has %ld instructions", tid, idx, n);
	struct sock_filter insns[MAX_INSNS];
	long got = ptrace(GET_FILTER, tid, (void *)idx, insns);
	if (got != n)
		return fe_set(ctx->err, got < 0 ? errno : EIO, "thread %d: read seccomp filter %lu", tid, idx);
	struct kseccomp_metadata md = { .filter_off = idx };
	if (ptrace(GET_METADATA, tid, (void *)sizeof(md), &md) < 0)
		return fe_set(ctx->err, errno, "thread %d: read metadata of seccomp filter %lu", tid, idx);
	return add_filter(ctx, st, insns, n * sizeof(struct sock_filter), md.flags);
}

static int dump_thread(struct dump_ctx *ctx, struct dtask *t, Ferry__SeccompState *st, pid_t tid)
{
	int mode, r = thread_mode(t->pid, tid, &mode);
	if (r < 0)
		return fe_set(ctx->err, r, "pid %d: read the seccomp mode of thread %d", t->pid, tid);
	if (mode != 1 && mode != 2)
		return 0;
	Ferry__SeccompThread *th = ARENA_NEW(&ctx->arena, Ferry__SeccompThread);
	if (mode == 1) {
		if (!th)
			return -ENOMEM;
		ferry__seccomp_thread__init(th);
		th->tid = tid;
		th->has_strict = th->strict = 1;
		st->threads[st->n_threads++] = th;
		return 0;
	}
	_cleanup_free_ uint32_t *chain = calloc(MAX_FILTERS, sizeof(uint32_t));
	if (!th || !chain)
		return -ENOMEM;
	ferry__seccomp_thread__init(th);
	size_t n = 0;
	for (; n < MAX_FILTERS; n++) {
		if ((r = read_filter(ctx, st, tid, n)) == -ENOENT)
			break;
		if (r < 0)
			return fe_wrap(ctx->err, r, "pid %d", t->pid);
		chain[n] = r;
	}
	th->tid = tid;
	th->chain = arena_memdup(&ctx->arena, chain, (n ? n : 1) * sizeof(uint32_t));
	if (!th->chain)
		return -ENOMEM;
	th->n_chain = n;
	st->threads[st->n_threads++] = th;
	pr_debug("pid %d: thread %d has %zu seccomp filters\n", t->pid, tid, n);
	return 0;
}

static int seccomp_dump(struct dump_ctx *ctx, struct dtask *t)
{
	Ferry__SeccompState *st = ARENA_NEW(&ctx->arena, Ferry__SeccompState);
	Ferry__SeccompThread **threads = ARENA_ARRAY(&ctx->arena, Ferry__SeccompThread *, t->nthreads);
	if (!st || !threads)
		return -ENOMEM;
	ferry__seccomp_state__init(st);
	st->threads = threads;
	for (size_t i = 0; i < t->nthreads; i++) {
		int r = dump_thread(ctx, t, st, t->threads[i].tid);
		if (r < 0)
			return r;
	}
	if (!st->n_threads)
		return 0;
	t->core->seccomp = st;
	return seccomp_share_dump(ctx, t, st);
}

/* The program where the thread can read it: the scratch area, or a mapping made for it (*map). */
static int put_program(struct restore_ctx *ctx, struct injector *inj, const Ferry__SeccompFilter *f,
		       uint64_t *prog, uint64_t *map)
{
	size_t need = sizeof(struct kfprog) + f->insns.len;
	uint64_t at = 0;
	long ret;
	*map = 0;
	if (need <= inj->scratch_len) {
		at = inj->scratch;
	} else {
		int r = RINJ(ctx, inj, &ret, "map room for a seccomp filter", SYS_mmap, 0, need,
			     PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (r < 0)
			return r;
		at = *map = ret;
	}
	struct kfprog fp = { .len = f->insns.len / sizeof(struct sock_filter), .filter = at + sizeof(fp) };
	int r = inj_write(inj, at, &fp, sizeof(fp));
	if (r == 0)
		r = inj_write(inj, at + sizeof(fp), f->insns.data, f->insns.len);
	if (r < 0)
		return fe_set(ctx->err, r, "thread %d: write a seccomp filter", inj->tid);
	*prog = at;
	return 0;
}

int seccomp_install(struct restore_ctx *ctx, struct injector *inj, const Ferry__SeccompFilter *f)
{
	uint64_t prog = 0, map = 0;
	long ret;
	size_t n = f->insns.len / sizeof(struct sock_filter);
	if (f->insns.len % sizeof(struct sock_filter) || n == 0 || n > MAX_INSNS ||
	    (f->flags & ~(uint64_t)SECCOMP_FILTER_FLAG_LOG))
		return fe_msg(ctx->err, EBADMSG, "malformed seccomp filter (%zu bytes, flags %#llx)",
			      f->insns.len, (unsigned long long)f->flags);
	int r = put_program(ctx, inj, f, &prog, &map);
	if (r < 0)
		return r;
	/* SPEC_ALLOW: the thread's speculation controls are restored as they were (task/prctl.c). */
	r = RINJ(ctx, inj, &ret, "install a seccomp filter", SYS_seccomp, SECCOMP_SET_MODE_FILTER,
		 f->flags | SECCOMP_FILTER_FLAG_SPEC_ALLOW, prog);
	if (map) {
		long r2;
		int u = RINJ(ctx, inj, &r2, "unmap the room of a seccomp filter", SYS_munmap, map,
			     sizeof(struct kfprog) + f->insns.len);
		if (r == 0)
			r = u;
	}
	return r;
}

/*
 * Runs before credentials, while the thread still has the restorer's CAP_SYS_ADMIN (a filter
 * inherited from a privileged parent may have no no_new_privs behind it). The thread's own
 * filters must not judge what ferry injects next (credentials, limits, the trampoline's unmap),
 * so its tracer suspends them; detaching lifts the suspension and the filters take effect.
 */
static int seccomp_restore_thread(struct restore_ctx *ctx, struct rtask *t, struct rthread *th)
{
	const Ferry__SeccompState *st = t->core->seccomp;
	const Ferry__SeccompThread *sth = NULL;
	for (size_t i = 0; st && i < st->n_threads && !sth; i++)
		if (st->threads[i]->tid == th->tid)
			sth = st->threads[i];
	if (!sth || (!sth->n_chain && !sth->strict))
		return 0;
	long opts = PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_EXITKILL | SUSPEND_SECCOMP;
	if (ptrace(PTRACE_SETOPTIONS, th->tid, NULL, (void *)opts) < 0)
		return fe_set(ctx->err, errno, "pid %d: suspend seccomp in thread %d while restoring", t->pid, th->tid);
	if (sth->strict) {	/* in force once ferry lets the thread go (the suspension ends with the trace) */
		long ret;
		return RINJ(ctx, &th->inj, &ret, "enter seccomp strict mode", SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, 0);
	}
	if (sth->n_chain > MAX_FILTERS)
		return fe_msg(ctx->err, EBADMSG, "core-%d.img: thread %d has %zu seccomp filters", t->pid, th->tid,
			      sth->n_chain);
	for (size_t i = seccomp_installed(st, t->pid, th->tid); i < sth->n_chain; i++) {
		if (sth->chain[i] >= st->n_filters)
			return fe_msg(ctx->err, EBADMSG, "core-%d.img: thread %d: bad seccomp filter index %u",
				      t->pid, th->tid, sth->chain[i]);
		int r = seccomp_install(ctx, &th->inj, st->filters[sth->chain[i]]);
		if (r < 0)
			return fe_wrap(ctx->err, r, "seccomp filter %zu of %zu", i + 1, sth->n_chain);
	}
	pr_debug("pid %d: thread %d: %zu seccomp filters installed\n", t->pid, th->tid, sth->n_chain);
	return 0;
}

const struct task_obj_ops seccomp_obj = {
	.name = "seccomp",
	.dump = seccomp_dump,
	.restore_thread = seccomp_restore_thread,
};
