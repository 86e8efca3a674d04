/* SPDX-License-Identifier: Apache-2.0 */
/* Dirty-page tracking with userfaultfd write-protect (async) and PAGEMAP_SCAN: see track.h. */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#define LOG_PREFIX "track: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/kprobe.h"
#include "common/util.h"
#include "mem/mem.h"
#include "mem/pagemap-scan.h"
#include "mem/track.h"
#include "engine/treeobj.h"

static uint64_t start_time(pid_t pid)
{
	return proc_stat_field(pid, 22);
}

static int is_uffd(int fd)
{
	char path[64], link[64] = "";
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	return n > 0 && strstr(link, "userfaultfd") != NULL;
}

int track_begin(struct dump_ctx *ctx, const char *prev)
{
	const char *force = getenv("FERRY_TRACK");
	ctx->hash_track = !kprobe_get()->uffd_wp_async || (force && !strcmp(force, "hash"));
	if (ctx->hash_track && (ctx->opts->track_mem || prev))
		pr_info("dirty-page tracking by page hashes (%s)\n",
			kprobe_get()->uffd_wp_async ? "FERRY_TRACK=hash" : "no userfaultfd write-protect here");
	if (!prev || ctx->hash_track)
		return 0;
	_cleanup_close_ int dfd = open(prev, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	Ferry__TrackState *ts = NULL;
	struct ferry_err e2 = { 0 };
	if (dfd < 0 || img_read_msg(dfd, IMG_TRACK, 0, (ProtobufCMessage **)&ts, &e2) < 0) {
		pr_info("no dirty-page tracking in %s: every present page is copied\n", prev);
		ctx->stats.has_tracking_lost = 1;
		ctx->stats.tracking_lost = 1;
		return 0;
	}
	ctx->old_holder = ts->holder_pid;
	int hfd = syscall(SYS_pidfd_open, ts->holder_pid, 0);
	int alive = hfd >= 0 && start_time(ts->holder_pid) == ts->holder_start;
	size_t got = 0, wanted = 0;
	for (size_t i = 0; alive && i < ts->n_tasks; i++) {
		const Ferry__TrackedTask *tt = ts->tasks[i];
		for (size_t k = 0; k < ctx->ntasks; k++) {
			struct dtask *t = &ctx->tasks[k];
			if (t->pid != tt->pid || t->zombie || (tt->has_start_time && start_time(t->pid) != tt->start_time))
				continue;
			wanted++;
			int fd = syscall(SYS_pidfd_getfd, hfd, tt->holder_fd, 0);
			if (fd >= 0 && is_uffd(fd)) {
				t->uffd = fd;
				got++;
			} else if (fd >= 0) {
				close(fd);
			}
		}
	}
	/* A holder killed but not yet reaped still has its PID: what counts is what it gave back. */
	if (alive && got < wanted)
		alive = 0;
	if (!alive) {
		pr_warn("the tracking holder %d of %s is gone: every present page is copied\n", ts->holder_pid, prev);
		ctx->stats.has_tracking_lost = 1;
		ctx->stats.tracking_lost = 1;
		ctx->old_holder = 0;
	}
	if (hfd >= 0)
		close(hfd);
	img_free((ProtobufCMessage *)ts);
	return 0;
}

int track_task_prepare(struct dump_ctx *ctx, struct dtask *t)
{
	if (t->zombie || t->uffd >= 0 || !ctx->opts->track_mem || ctx->hash_track)
		return 0;
	long rfd, ret;
	int r = DINJ(ctx, t, &rfd, "userfaultfd", SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (r < 0)
		return r;
	int fd = syscall(SYS_pidfd_getfd, t->pidfd, rfd, 0);
	int e = errno;
	DINJ(ctx, t, &ret, "close the userfaultfd", SYS_close, rfd);	/* the task keeps nothing */
	if (fd < 0)
		return fe_set(ctx->err, e, "pid %d: take its userfaultfd", t->pid);
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED };
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		e = errno;
		close(fd);
		return fe_set(ctx->err, e, "pid %d: userfaultfd write-protect (async) is not available", t->pid);
	}
	t->uffd = fd;
	return 0;
}

/*
 * Private writable memory, and every mapping of shared anonymous memory that may become writable
 * (write-protect works per mapping: mem/shmem.c tracks an object only when all its mappings are
 * tracked, and unions what they report).
 */
static int trackable(const Ferry__Vma *v)
{
	if (v->kind == FERRY__VMA_KIND__VMA_SHARED_ANON)
		return !v->has_vmflags || (v->vmflags & VMF_MAYWRITE);
	return (v->prot & PROT_WRITE) &&
	       (v->kind == FERRY__VMA_KIND__VMA_ANON || v->kind == FERRY__VMA_KIND__VMA_HEAP ||
		v->kind == FERRY__VMA_KIND__VMA_STACK || v->kind == FERRY__VMA_KIND__VMA_FILE_PRIVATE);
}

/*
 * Runs PAGEMAP_SCAN over v with the given categories, protecting again what matches, and adds the
 * matching ranges to `written`.
 */
static int scan_protect(struct dump_ctx *ctx, struct dtask *t, const Ferry__Vma *v, uint64_t mask, uint64_t inverted,
			int (*add)(void *list, uint64_t s, uint64_t e), void *written, uint64_t *count)
{
	struct page_region vec[512];
	struct pm_scan_arg a = {
		.size = sizeof(a), .flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		.start = v->start, .end = v->end, .vec = (uintptr_t)vec, .vec_len = ARRAY_SIZE(vec),
		.category_mask = mask, .category_inverted = inverted, .return_mask = mask,
	};
	while (a.start < v->end) {
		long n = ioctl(t->pagemap_fd, PAGEMAP_SCAN, &a);
		if (n < 0)
			return fe_set(ctx->err, errno, "pid %d: scan written pages of %#llx-%#llx", t->pid,
				      (unsigned long long)v->start, (unsigned long long)v->end);
		for (long i = 0; i < n; i++) {
			if (add(written, vec[i].start, vec[i].end) < 0)
				return fe_set(ctx->err, ENOMEM, "written pages");
			*count += (vec[i].end - vec[i].start) / 4096;
		}
		if (a.walk_end <= a.start)
			break;
		a.start = a.walk_end;
	}
	return 0;
}

/* Whether the whole VMA is registered for async write-protect (the kernel's view, not ours). */
static int wp_allowed(int pmfd, const Ferry__Vma *v)
{
	struct page_region reg[4];
	struct pm_scan_arg a = {
		.size = sizeof(a), .start = v->start, .end = v->end, .vec = (uintptr_t)reg, .vec_len = 4,
		.category_mask = PAGE_IS_WPALLOWED, .return_mask = PAGE_IS_WPALLOWED,
	};
	long n = ioctl(pmfd, PAGEMAP_SCAN, &a);
	return n == 1 && reg[0].start == v->start && reg[0].end == v->end;
}

static int register_vma(struct dtask *t, const Ferry__Vma *v)
{
	struct uffdio_register reg = { .range = { v->start, v->end - v->start }, .mode = UFFDIO_REGISTER_MODE_WP };
	if (ioctl(t->uffd, UFFDIO_REGISTER, &reg) < 0)
		return -errno;
	struct uffdio_writeprotect wp = { .range = { v->start, v->end - v->start }, .mode = UFFDIO_WRITEPROTECT_MODE_WP };
	return ioctl(t->uffd, UFFDIO_WRITEPROTECT, &wp) < 0 ? -errno : 0;
}

int track_vma(struct dump_ctx *ctx, struct dtask *t, const Ferry__Vma *v, int *tracked,
	      int (*add)(void *list, uint64_t s, uint64_t e), void *written)
{
	*tracked = 0;
	if (t->uffd < 0 || !trackable(v))
		return 0;
	if (t->pagemap_fd < 0) {
		char path[64];
		t->pagemap_fd = open(PROC_PATH(path, t->pid, "pagemap"), O_RDONLY | O_CLOEXEC);
		if (t->pagemap_fd < 0)
			return fe_set(ctx->err, errno, "open %s", path);
	}
	if (!ctx->opts->prev_dir || !wp_allowed(t->pagemap_fd, v)) {
		/* New to tracking (or lost it): everything counts as written; register for next time. */
		if (ctx->opts->prev_dir)
			pr_debug("pid %d: %#llx-%#llx was not tracked: copied in full\n", t->pid,
				 (unsigned long long)v->start, (unsigned long long)v->end);
		int r = register_vma(t, v);
		if (r < 0)
			pr_debug("pid %d: %#llx-%#llx cannot be tracked (%s): copied in full each time\n", t->pid,
				 (unsigned long long)v->start, (unsigned long long)v->end, strerror(-r));
		return 0;
	}
	ctx->track_consumed = 1;	/* written bits are reset from here on: a failed dump loses them */
	uint64_t nwritten = 0;
	int r = scan_protect(ctx, t, v, PAGE_IS_WRITTEN, 0, add, written, &nwritten);
	/*
	 * A shared page table entry that was written and then zapped (MADV_DONTNEED, reclaim) is left
	 * empty, without the marker a protected one keeps: its data is still in the object, and its
	 * write was not seen elsewhere. Empty entries count as written, and get a marker again.
	 */
	if (r == 0 && v->kind == FERRY__VMA_KIND__VMA_SHARED_ANON)
		r = scan_protect(ctx, t, v, PAGE_IS_PRESENT | PAGE_IS_SWAPPED, PAGE_IS_PRESENT | PAGE_IS_SWAPPED, add,
				 written, &nwritten);
	if (r < 0)
		return r;
	pr_debug("pid %d: %#llx-%#llx: %llu page(s) written since the last dump\n", t->pid,
		 (unsigned long long)v->start, (unsigned long long)v->end, (unsigned long long)nwritten);
	*tracked = 1;
	return 0;
}

/*
 * The holder keeps the uffds open until every tracked task is gone or it is told to stop. It is
 * a fork of a process that may have threads, so everything it needs is prepared before fork:
 * after it, only system calls (no allocation, no stdio). It keeps nothing of its caller: its
 * stdio is /dev/null and every descriptor but its uffds and pidfds is closed (the caller's
 * stdout, the image directory, the log, a pipe of the calling shell: `out=$(ferry pre-dump
 * --track-mem …)` must not wait for it).
 */
struct holder_plan {
	size_t n;
	int *uffds;		/* >= 3 */
	struct pollfd *pfd;	/* pidfds of the tracked tasks */
	int *keep;		/* sorted: descriptors that survive in the holder (stdio included) */
	size_t nkeep;
	int devnull;
	int report;		/* pipe to the dump: the holder's PID */
};

static __attribute__((noreturn)) void holder_main(const struct holder_plan *p)
{
	sigset_t set;
	sigfillset(&set);
	sigdelset(&set, SIGTERM);
	sigprocmask(SIG_SETMASK, &set, NULL);
	signal(SIGTERM, SIG_DFL);
	prctl(PR_SET_NAME, "ferry-track");
	setsid();
	if (chdir("/") < 0 || dup2(p->devnull, 0) < 0 || dup2(p->devnull, 1) < 0 || dup2(p->devnull, 2) < 0)
		_exit(1);
	close_all_but(p->keep, p->nkeep);
	pid_t me = getpid();
	if (write(p->report, &me, sizeof(me)) != sizeof(me))
		_exit(1);
	close(p->report);
	close(p->devnull);
	for (;;) {
		size_t alive = 0;
		for (size_t i = 0; i < p->n; i++)
			alive += p->pfd[i].fd >= 0;
		if (!alive)
			_exit(0);
		if (poll(p->pfd, p->n, -1) < 0)
			continue;
		for (size_t i = 0; i < p->n; i++)
			if (p->pfd[i].fd >= 0 && (p->pfd[i].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
				close(p->pfd[i].fd);
				p->pfd[i].fd = -1;	/* poll ignores negative descriptors */
				close(p->uffds[i]);	/* that task exited: drop its uffd */
			}
	}
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Everything holder_main needs, allocated and opened here, before fork. */
static int plan_holder(struct dump_ctx *ctx, struct holder_plan *p, pid_t *pids)
{
	struct arena *a = &ctx->arena;
	size_t n = 0;
	for (size_t k = 0; k < ctx->ntasks; k++)
		n += ctx->tasks[k].uffd >= 0;
	p->n = 0;
	p->uffds = ARENA_ARRAY(a, int, n + 1);
	p->pfd = ARENA_ARRAY(a, struct pollfd, n + 1);
	p->keep = ARENA_ARRAY(a, int, 2 * n + 5);
	if (!p->uffds || !p->pfd || !p->keep)
		return fe_set(ctx->err, ENOMEM, "tracking holder");
	for (int fd = 0; fd < 3; fd++)	/* its stdio, /dev/null by then */
		p->keep[p->nkeep++] = fd;
	for (size_t k = 0; k < ctx->ntasks; k++) {
		struct dtask *t = &ctx->tasks[k];
		if (t->uffd < 0)
			continue;
		if (t->uffd < 3) {	/* our stdio was closed: keep clear of the holder's */
			int fd = fcntl(t->uffd, F_DUPFD_CLOEXEC, 3);
			if (fd < 0)
				return fe_set(ctx->err, errno, "tracking holder");
			close(t->uffd);
			t->uffd = fd;
		}
		int pfd = syscall(SYS_pidfd_open, t->pid, 0);
		if (pfd < 0)
			return fe_set(ctx->err, errno, "pidfd_open(%d)", t->pid);
		pids[p->n] = t->pid;
		p->uffds[p->n] = t->uffd;
		p->pfd[p->n] = (struct pollfd){ .fd = pfd, .events = POLLIN };
		p->keep[p->nkeep++] = t->uffd;
		p->keep[p->nkeep++] = pfd;
		p->n++;
	}
	return 0;
}

static void unplan_holder(struct holder_plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		close(p->pfd[i].fd);
	if (p->devnull >= 0)
		close(p->devnull);
}

/* Forks the holder (a grandchild: nobody's child but init's); its PID into *holder. */
static int fork_holder(struct dump_ctx *ctx, struct holder_plan *p, pid_t *holder)
{
	int pp[2];
	p->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (p->devnull < 0 || pipe2(pp, O_CLOEXEC) < 0)
		return fe_set(ctx->err, errno, "tracking holder");
	p->report = pp[1];
	p->keep[p->nkeep++] = pp[1];
	p->keep[p->nkeep++] = p->devnull;
	qsort(p->keep, p->nkeep, sizeof(*p->keep), cmp_int);
	pid_t child = fork();
	if (child == 0) {
		if (fork() != 0)
			_exit(0);
		holder_main(p);
	}
	close(pp[1]);
	*holder = -1;
	int ok = child > 0 && read(pp[0], holder, sizeof(*holder)) == sizeof(*holder);
	close(pp[0]);
	if (child > 0)
		waitpid(child, NULL, 0);
	return ok ? 0 : fe_msg(ctx->err, ECHILD, "the tracking holder did not start");
}

static int spawn_holder(struct dump_ctx *ctx, Ferry__TrackState *ts)
{
	struct holder_plan p = { .devnull = -1 };
	pid_t *pids = ARENA_ARRAY(&ctx->arena, pid_t, ctx->ntasks + 1), holder;
	int r = pids ? plan_holder(ctx, &p, pids) : fe_set(ctx->err, ENOMEM, "tracking holder");
	if (r == 0 && p.n)
		r = fork_holder(ctx, &p, &holder);
	unplan_holder(&p);
	if (r < 0 || !p.n)
		return r;
	ctx->new_holder = holder;
	ts->holder_pid = holder;
	ts->holder_start = start_time(holder);
	ts->tasks = ARENA_ARRAY(&ctx->arena, Ferry__TrackedTask *, p.n);
	for (size_t i = 0; ts->tasks && i < p.n; i++) {
		Ferry__TrackedTask *tt = ARENA_NEW(&ctx->arena, Ferry__TrackedTask);
		if (!tt)
			return fe_set(ctx->err, ENOMEM, "track.img");
		ferry__tracked_task__init(tt);
		tt->pid = pids[i];
		tt->holder_fd = p.uffds[i];	/* the holder kept the numbers */
		tt->has_start_time = 1;
		tt->start_time = start_time(pids[i]);
		ts->tasks[ts->n_tasks++] = tt;
	}
	pr_info("tracking holder %d keeps %zu userfaultfd(s)\n", holder, p.n);
	return ts->tasks ? 0 : fe_set(ctx->err, ENOMEM, "track.img");
}

/* A holder we started (PID and start time both ours): stopped. */
static void stop_holder(pid_t pid, uint64_t start)
{
	if (pid > 0 && (!start || start_time(pid) == start))
		kill(pid, SIGTERM);
}

int track_finish(struct dump_ctx *ctx, int ok)
{
	int r = 0;
	if (ok && ctx->opts->track_mem) {
		Ferry__TrackState ts = FERRY__TRACK_STATE__INIT;
		r = spawn_holder(ctx, &ts);
		if (r == 0 && ts.n_tasks)
			r = img_write_msg_to(&ctx->local_sink, IMG_TRACK, 0, &ts.base, ctx->err);
		ctx->new_holder_start = ts.holder_start;
	}
	if (!ok) {
		/* A failed dump: its holder goes; the previous one too if this dump consumed its record. */
		stop_holder(ctx->new_holder, ctx->new_holder_start);
		if (ctx->new_holder && ctx->local_sink.ops) {
			char name[64];
			ctx->local_sink.ops->remove(&ctx->local_sink, img_name(name, sizeof(name), IMG_TRACK, 0));
		}
		ctx->new_holder = 0;
		if (ctx->track_consumed && ctx->old_holder > 0) {
			pr_warn("the failed dump used up the tracking of the previous image: the next dump copies every page\n");
			kill(ctx->old_holder, SIGTERM);
		}
	}
	for (size_t k = 0; k < ctx->ntasks; k++) {
		if (ctx->tasks[k].uffd >= 0)
			close(ctx->tasks[k].uffd);
		if (ctx->tasks[k].pagemap_fd >= 0)
			close(ctx->tasks[k].pagemap_fd);
		ctx->tasks[k].uffd = ctx->tasks[k].pagemap_fd = -1;
	}
	return r;
}

void track_commit(struct dump_ctx *ctx)
{
	/* The previous holder has handed over (or tracking ends here): let it go. */
	if (ctx->old_holder > 0)
		kill(ctx->old_holder, SIGTERM);
	ctx->old_holder = 0;
}

/* ---------------------------------------------------------------- the tree-level object */

static int track_tree_begin(struct dump_ctx *ctx)
{
	char prev[4096];
	return track_begin(ctx, dump_prev_path(ctx, prev, sizeof(prev)));
}

static int track_tree_seal(struct dump_ctx *ctx)
{
	return track_finish(ctx, 1);
}

static void track_tree_end(struct dump_ctx *ctx, int ok)
{
	if (ok)
		track_commit(ctx);
	else
		track_finish(ctx, 0);
}

const struct tree_obj_ops track_tree_ops = {
	.name = "dirty-page tracking",
	.dump_begin = track_tree_begin,
	.dump_seal = track_tree_seal,
	.dump_end = track_tree_end,
};
