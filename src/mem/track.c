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
 * Private writable memory. Not shared anonymous memory: write-protect works per mapping, and a
 * write through another process's mapping of the same object leaves this one's pages clean; it
 * is copied in full each time.
 */
static int trackable(const Ferry__Vma *v)
{
	return (v->prot & PROT_WRITE) &&
	       (v->kind == FERRY__VMA_KIND__VMA_ANON || v->kind == FERRY__VMA_KIND__VMA_HEAP ||
		v->kind == FERRY__VMA_KIND__VMA_STACK || v->kind == FERRY__VMA_KIND__VMA_FILE_PRIVATE);
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
	struct page_region vec[512];
	struct pm_scan_arg a = {
		.size = sizeof(a), .flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		.start = v->start, .end = v->end, .vec = (uintptr_t)vec, .vec_len = ARRAY_SIZE(vec),
		.category_mask = PAGE_IS_WRITTEN, .return_mask = PAGE_IS_WRITTEN,
	};
	uint64_t nwritten = 0;
	while (a.start < v->end) {
		long n = ioctl(t->pagemap_fd, PAGEMAP_SCAN, &a);
		if (n < 0)
			return fe_set(ctx->err, errno, "pid %d: scan written pages of %#llx-%#llx", t->pid,
				      (unsigned long long)v->start, (unsigned long long)v->end);
		for (long i = 0; i < n; i++) {
			if (add(written, vec[i].start, vec[i].end) < 0)
				return fe_set(ctx->err, ENOMEM, "written pages");
			nwritten += (vec[i].end - vec[i].start) / 4096;
		}
		if (a.walk_end <= a.start)
			break;
		a.start = a.walk_end;
	}
	pr_debug("pid %d: %#llx-%#llx: %llu page(s) written since the last dump\n", t->pid,
		 (unsigned long long)v->start, (unsigned long long)v->end, (unsigned long long)nwritten);
	*tracked = 1;
	return 0;
}

/* The holder: keeps the uffds open until every tracked task is gone or it is told to stop. */
static __attribute__((noreturn)) void holder_main(int *fds, pid_t *pids, size_t n, int report)
{
	sigset_t set;
	sigfillset(&set);
	sigdelset(&set, SIGTERM);
	sigprocmask(SIG_SETMASK, &set, NULL);
	signal(SIGTERM, SIG_DFL);
	prctl(PR_SET_NAME, "ferry-track");
	setsid();
	if (chdir("/") < 0)
		_exit(1);
	struct pollfd *pfd = calloc(n + 1, sizeof(*pfd));
	for (size_t i = 0; i < n; i++) {
		pfd[i].fd = syscall(SYS_pidfd_open, pids[i], 0);
		pfd[i].events = POLLIN;
	}
	pid_t me = getpid();
	if (write(report, &me, sizeof(me)) != sizeof(me))
		_exit(1);
	close(report);
	for (;;) {
		size_t alive = 0;
		for (size_t i = 0; i < n; i++)
			alive += pfd[i].fd >= 0 && !(pfd[i].revents & POLLIN);
		if (!alive)
			_exit(0);
		if (poll(pfd, n, -1) < 0)
			continue;
		for (size_t i = 0; i < n; i++)
			if (pfd[i].revents & POLLIN) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				close(fds[i]);	/* that task exited: drop its uffd */
			}
	}
}

static int spawn_holder(struct dump_ctx *ctx, Ferry__TrackState *ts)
{
	size_t n = 0;
	int fds[4096];
	pid_t pids[4096];
	for (size_t k = 0; k < ctx->ntasks && n < ARRAY_SIZE(fds); k++)
		if (ctx->tasks[k].uffd >= 0) {
			fds[n] = ctx->tasks[k].uffd;
			pids[n++] = ctx->tasks[k].pid;
		}
	if (!n)
		return 0;
	int pp[2];
	if (pipe2(pp, O_CLOEXEC) < 0)
		return fe_set(ctx->err, errno, "tracking holder");
	pid_t child = fork();
	if (child == 0) {
		close(pp[0]);
		if (fork() != 0)
			_exit(0);	/* the holder is nobody's child but init's */
		for (size_t i = 0; i < n; i++)
			fcntl(fds[i], F_SETFD, 0);
		holder_main(fds, pids, n, pp[1]);
	}
	close(pp[1]);
	pid_t holder = -1;
	int ok = child > 0 && read(pp[0], &holder, sizeof(holder)) == sizeof(holder);
	close(pp[0]);
	if (child > 0)
		waitpid(child, NULL, 0);
	if (!ok)
		return fe_msg(ctx->err, ECHILD, "the tracking holder did not start");
	ts->holder_pid = holder;
	ts->holder_start = start_time(holder);
	ts->tasks = ARENA_ARRAY(&ctx->arena, Ferry__TrackedTask *, n);
	for (size_t i = 0; i < n; i++) {
		Ferry__TrackedTask *tt = ARENA_NEW(&ctx->arena, Ferry__TrackedTask);
		ferry__tracked_task__init(tt);
		tt->pid = pids[i];
		tt->holder_fd = fds[i];	/* fork keeps the numbers */
		tt->has_start_time = 1;
		tt->start_time = start_time(pids[i]);
		ts->tasks[ts->n_tasks++] = tt;
	}
	pr_info("tracking holder %d keeps %zu userfaultfd(s)\n", holder, n);
	return 0;
}

int track_finish(struct dump_ctx *ctx, int ok)
{
	int r = 0;
	if (ok && ctx->opts->track_mem) {
		Ferry__TrackState ts = FERRY__TRACK_STATE__INIT;
		r = spawn_holder(ctx, &ts);
		if (r == 0 && ts.n_tasks)
			r = img_write_msg_to(&ctx->local_sink, IMG_TRACK, 0, &ts.base, ctx->err);
	}
	/* The previous holder has handed over (or tracking ends here): let it go. */
	if (ok && ctx->old_holder > 0)
		kill(ctx->old_holder, SIGTERM);
	for (size_t k = 0; k < ctx->ntasks; k++) {
		if (ctx->tasks[k].uffd >= 0)
			close(ctx->tasks[k].uffd);
		if (ctx->tasks[k].pagemap_fd >= 0)
			close(ctx->tasks[k].pagemap_fd);
		ctx->tasks[k].uffd = ctx->tasks[k].pagemap_fd = -1;
	}
	return r;
}
