/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ferry restore`: read and verify the whole image first (nothing starts on a corrupt image),
 * create the task at its old PID, let it set up what it can itself, then rebuild its memory,
 * threads and remaining state by injection and release it. A failing stage kills what was built.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#define LOG_PREFIX "restore: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "engine/context.h"
#include "engine/restore-child.h"
#include "engine/stats.h"
#include "files/files.h"
#include "inject/ptrace.h"
#include "mem/mem.h"
#include "task/task.h"

int rst_inject(struct restore_ctx *ctx, struct injector *inj, long *ret, const char *what, long nr,
	       const unsigned long a[6])
{
	int r = inj_syscall(inj, ret, nr, a, ctx->err);
	if (r < 0)
		return fe_wrap(ctx->err, r, "pid %d: %s", ctx->task.pid, what);
	if (*ret < 0 && *ret > -4096)
		return fe_set(ctx->err, (int)-*ret, "pid %d: %s", ctx->task.pid, what);
	return 0;
}

static int stage_open_dir(struct restore_ctx *ctx)
{
	const struct restore_opts *o = ctx->opts;
	ctx->dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ctx->dirfd < 0)
		return fe_set(ctx->err, errno, "open image directory %s", o->dir);
	char path[4096];
	const char *log = o->log_file ? o->log_file : "restore.log";
	snprintf(path, sizeof(path), "%s%s%s", log[0] == '/' ? "" : o->dir, log[0] == '/' ? "" : "/", log);
	if (log_open_file(path) < 0)
		pr_warn("cannot open log file %s\n", path);
	pr_info("restoring from %s (ferry %s)\n", o->dir, FERRY_VERSION);
	return 0;
}

#define READ_IMG(ctx, kind, id, type, out) \
	img_read_msg((ctx)->dirfd, (kind), (id), (ProtobufCMessage **)(out), (ctx)->err)

static int stage_read_images(struct restore_ctx *ctx)
{
	int r = READ_IMG(ctx, IMG_INVENTORY, 0, Ferry__Inventory, &ctx->inv);
	if (r == -ENOENT)
		return fe_msg(ctx->err, ENOENT, "%s holds no complete image (inventory.img is missing)", ctx->opts->dir);
	if (r < 0)
		return r;
	if ((r = READ_IMG(ctx, IMG_PSTREE, 0, Ferry__Pstree, &ctx->pstree)) < 0 ||
	    (r = READ_IMG(ctx, IMG_FILES, 0, Ferry__Files, &ctx->files)) < 0)
		return r;
	if (ctx->pstree->n_tasks != 1 || ctx->pstree->tasks[0]->pid != ctx->inv->root_pid ||
	    ctx->pstree->tasks[0]->pid <= 0 || ctx->pstree->tasks[0]->n_threads < 1 ||
	    ctx->pstree->tasks[0]->threads[0] != ctx->pstree->tasks[0]->pid)
		return fe_msg(ctx->err, EBADMSG, "pstree.img: not a single process tree rooted at pid %d", ctx->inv->root_pid);
	struct rtask *t = &ctx->task;
	t->pstree = ctx->pstree->tasks[0];
	t->pid = t->pstree->pid;
	if ((r = READ_IMG(ctx, IMG_CORE, t->pid, Ferry__TaskCore, &t->core)) < 0 ||
	    (r = READ_IMG(ctx, IMG_MM, t->pid, Ferry__Mm, &t->mm)) < 0 ||
	    (r = READ_IMG(ctx, IMG_FDS, t->pid, Ferry__FdTable, &t->fds)) < 0 ||
	    (r = READ_IMG(ctx, IMG_PAGEMAP, t->pid, Ferry__Pagemap, &t->pagemap)) < 0)
		return r;
	if (t->core->n_threads != t->pstree->n_threads)
		return fe_msg(ctx->err, EBADMSG, "core-%d.img: %zu threads, pstree.img says %zu", t->pid,
			      t->core->n_threads, t->pstree->n_threads);
	for (size_t i = 0; i < t->core->n_threads; i++) {
		Ferry__ThreadCore *c = t->core->threads[i];
		if (c->tid != t->pstree->threads[i] || c->tid <= 0 || !c->regs)
			return fe_msg(ctx->err, EBADMSG, "core-%d.img: thread %zu does not match pstree.img", t->pid, i);
	}
	if ((r = mm_validate(t->mm, t->pid, ctx->err)) < 0 || (r = files_validate(ctx->files, ctx->err)) < 0)
		return r;
	t->threads = calloc(t->core->n_threads, sizeof(*t->threads));
	if (!t->threads)
		return fe_set(ctx->err, ENOMEM, "thread list");
	t->nthreads = t->core->n_threads;
	for (size_t i = 0; i < t->nthreads; i++) {
		t->threads[i].tid = t->core->threads[i]->tid;
		t->threads[i].core = t->core->threads[i];
	}
	return 0;
}

static int stage_verify_pages(struct restore_ctx *ctx)
{
	struct rtask *t = &ctx->task;
	uint64_t t0 = now_us();
	int r = pages_open(ctx->dirfd, t->pid, t->pagemap, &t->ps, ctx->err);
	if (r == 0)
		r = pages_verify(&t->ps, t->pagemap, ctx->err);
	pages_close(&t->ps);
	ctx->stats.verify_us = now_us() - t0;
	ctx->stats.has_verify_us = 1;
	return r;
}

/* A PID still held by a zombie is waited for a while (PID 1 may reap late); a live one is an error. */
static int wait_pid_free(struct restore_ctx *ctx, pid_t pid)
{
	for (int i = 0; i < 1000; i++) {
		int ppid, pgid, sid;
		char state;
		if (task_read_stat(pid, &ppid, &pgid, &sid, &state) < 0)
			return 0;
		if (state != 'Z') {
			char path[64];
			_cleanup_free_ char *comm = NULL;
			if (read_file(PROC_PATH(path, pid, "comm"), &comm, NULL) == 0)
				comm[strcspn(comm, "\n")] = 0;
			return fe_msg(ctx->err, EEXIST, "pid %d is taken by a running process (%s): stop it or restore elsewhere",
				      pid, comm ? comm : "?");
		}
		usleep(10000);
	}
	return fe_msg(ctx->err, EEXIST, "pid %d is held by a zombie that its parent does not reap", pid);
}

static int stage_check_pids(struct restore_ctx *ctx)
{
	for (size_t i = 0; i < ctx->task.nthreads; i++) {
		int r = wait_pid_free(ctx, ctx->task.threads[i].tid);
		if (r < 0)
			return r;
	}
	return 0;
}

static int stage_fork(struct restore_ctx *ctx)
{
	struct rtask *t = &ctx->task;
	uint64_t t0 = now_us();
	int sync[2];
	if (pipe2(sync, O_CLOEXEC) < 0)
		return fe_set(ctx->err, errno, "pipe");
	ctx->restorer_pid = getpid();
	ctx->inherit_moved = calloc(ctx->opts->n_inherit + 1, sizeof(*ctx->inherit_moved));
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	pid_t tid = t->pid;
	struct clone_args ca = { .exit_signal = SIGCHLD, .set_tid = (uintptr_t)&tid, .set_tid_size = 1 };
	fflush(NULL);
	long pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0) {
		close(sync[0]);
		restore_child_main(ctx, t, sync[1]);
	}
	close(sync[1]);
	if (pid < 0) {
		close(sync[0]);
		return fe_set(ctx->err, errno, "create pid %d (clone3 with set_tid)", t->pid);
	}
	t->alive = 1;
	struct child_report rep;
	int r = read_full(sync[0], &rep, sizeof(rep));
	close(sync[0]);
	if (r < 0)
		return fe_msg(ctx->err, EIO, "pid %d died while setting itself up", t->pid);
	if (rep.code) {
		rep.msg[sizeof(rep.msg) - 1] = 0;
		return fe_msg(ctx->err, rep.code, "%s", rep.msg);
	}
	t->remote_pages_fd = rep.pages_fd;
	int st;
	r = pt_wait_stop(t->pid, &st);
	if (r < 0)
		return fe_set(ctx->err, r, "pid %d did not stop for the restorer", t->pid);
	if (ptrace(PTRACE_SETOPTIONS, t->pid, NULL, (void *)(long)(PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL)) < 0)
		return fe_set(ctx->err, errno, "trace pid %d", t->pid);
	t->threads[0].attached = 1;
	ctx->stats.forking_us = now_us() - t0;
	ctx->stats.has_forking_us = 1;
	return fault_point("restore-after-fork") ? fe_msg(ctx->err, EIO, "fault injected after fork") : 0;
}

static int stage_memory(struct restore_ctx *ctx)
{
	struct rtask *t = &ctx->task;
	int r;
	if ((r = mem_restore_prepare(ctx, t)) < 0 || (r = mem_restore_vmas(ctx, t)) < 0 ||
	    (r = mem_restore_mm_fields(ctx, t)) < 0)
		return r;
	return fault_point("restore-after-mm") ? fe_msg(ctx->err, EIO, "fault injected after mm") : 0;
}

/* Threads are cloned from the leader with their old TIDs; they stop before running any code. */
static int stage_threads(struct restore_ctx *ctx)
{
	struct rtask *t = &ctx->task;
	struct injector *lead = &t->threads[0].inj;
	for (size_t i = 1; i < t->nthreads; i++) {
		struct rthread *th = &t->threads[i];
		pid_t tid = th->tid;
		uint64_t tid_at = inj_scratch_put(lead, 512, &tid, sizeof(tid));
		struct clone_args ca = {
			.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM,
			.set_tid = tid_at, .set_tid_size = 1,
		};
		uint64_t at = inj_scratch_put(lead, 0, &ca, sizeof(ca));
		long ret;
		int r = RINJ(ctx, lead, &ret, "clone a thread", SYS_clone3, at, sizeof(ca));
		if (r < 0)
			return fe_wrap(ctx->err, r, "thread %d", tid);
		if (ret != tid)
			return fe_msg(ctx->err, EEXIST, "thread %d came back as %ld", tid, ret);
		int st;
		r = pt_wait_stop(tid, &st);
		if (r < 0)
			return fe_set(ctx->err, r, "thread %d did not stop", tid);
		th->attached = 1;
		r = inj_open(&th->inj, tid, t->tramp, ctx->err);
		if (r < 0)
			return r;
		th->inj.scratch = lead->scratch;
		th->inj.scratch_len = lead->scratch_len;
	}
	t->threads[0].tid = t->pid;
	return 0;
}

static int stage_objects(struct restore_ctx *ctx)
{
	struct rtask *t = &ctx->task;
	int r;
	for (int i = 0; task_objects[i]; i++)
		if (task_objects[i]->restore_inject && (r = task_objects[i]->restore_inject(ctx, t)) < 0)
			return fe_wrap(ctx->err, r, "restore %s", task_objects[i]->name);
	for (size_t k = 0; k < t->nthreads; k++)
		for (int i = 0; task_objects[i]; i++)
			if (task_objects[i]->restore_thread &&
			    (r = task_objects[i]->restore_thread(ctx, t, &t->threads[k])) < 0)
				return fe_wrap(ctx->err, r, "thread %d: restore %s", t->threads[k].tid, task_objects[i]->name);
	for (int i = 0; task_objects[i]; i++)
		if (task_objects[i]->restore_late && (r = task_objects[i]->restore_late(ctx, t)) < 0)
			return fe_wrap(ctx->err, r, "restore %s", task_objects[i]->name);
	return 0;
}

/* Last injection, then registers, FPU state and masks; threads are released before the leader. */
static int stage_release(struct restore_ctx *ctx)
{
	struct rtask *t = &ctx->task;
	int r = mem_restore_drop_trampoline(ctx, t);
	if (r < 0)
		return r;
	for (size_t i = 0; i < t->nthreads; i++) {
		inj_close(&t->threads[i].inj);
		if ((r = thread_restore_final(ctx, &t->threads[i])) < 0)
			return r;
	}
	for (size_t i = t->nthreads; i-- > 0;) {
		if ((r = pt_detach(t->threads[i].tid, 0)) < 0)
			return fe_set(ctx->err, r, "release thread %d", t->threads[i].tid);
		t->threads[i].attached = 0;
	}
	return 0;
}

static void restore_abort(struct restore_ctx *ctx)
{
	struct rtask *t = &ctx->task;
	if (!t->alive)
		return;
	kill(t->pid, SIGKILL);
	for (size_t i = t->nthreads; i-- > 1;)
		if (t->threads[i].attached)
			waitpid(t->threads[i].tid, NULL, __WALL);
	while (waitpid(t->pid, NULL, __WALL) < 0 && errno == EINTR)
		;
	t->alive = 0;
}

static void write_pidfile(struct restore_ctx *ctx)
{
	if (!ctx->opts->pidfile)
		return;
	FILE *f = fopen(ctx->opts->pidfile, "w");
	if (!f) {
		pr_warn("cannot write pidfile %s: %m\n", ctx->opts->pidfile);
		return;
	}
	fprintf(f, "%d\n", ctx->task.pid);
	fclose(f);
}

static void free_images(struct restore_ctx *ctx)
{
	struct rtask *t = &ctx->task;
	for (size_t i = 0; t->threads && i < t->nthreads; i++)
		inj_close(&t->threads[i].inj);
	free(t->threads);
	free(ctx->inherit_moved);
	img_free(&t->core->base);
	img_free(&t->mm->base);
	img_free(&t->fds->base);
	img_free(&t->pagemap->base);
	img_free(ctx->files ? &ctx->files->base : NULL);
	img_free(ctx->pstree ? &ctx->pstree->base : NULL);
	img_free(ctx->inv ? &ctx->inv->base : NULL);
}

int ferry_restore(const struct restore_opts *o, int *wstatus, struct ferry_err *err)
{
	struct restore_ctx ctx = { .opts = o, .dirfd = -1, .tty_fd = -1, .err = err };
	static const struct { const char *name; int (*fn)(struct restore_ctx *); } stages[] = {
		{ "open-dir", stage_open_dir },
		{ "read-images", stage_read_images },
		{ "verify-pages", stage_verify_pages },
		{ "check-pids", stage_check_pids },
		{ "fork", stage_fork },
		{ "memory", stage_memory },
		{ "threads", stage_threads },
		{ "objects", stage_objects },
		{ "release", stage_release },
	};
	ferry__restore_stats__init(&ctx.stats);
	uint64_t t0 = now_us();
	int r = 0;
	for (size_t i = 0; i < ARRAY_SIZE(stages) && r == 0; i++) {
		uint64_t ts = now_us();
		r = stages[i].fn(&ctx);
		pr_debug("stage %s: %s in %llu us\n", stages[i].name, r ? "failed" : "done",
			 (unsigned long long)(now_us() - ts));
	}
	if (r < 0) {
		pr_debug("restore from %s failed: %s\n", o->dir, fe_str(err, r));
		restore_abort(&ctx);
	} else {
		Ferry__RestoreStats *s = &ctx.stats;
		s->has_total_us = s->has_memrestore_us = s->has_pages_restored = s->has_tasks = s->has_threads = 1;
		s->total_us = now_us() - t0;
		s->tasks = 1;
		s->threads = ctx.task.nthreads;
		struct ferry_err e2 = { 0 };
		if (img_write_msg(ctx.dirfd, IMG_STATS_RESTORE, 0, &s->base, &e2) < 0)
			pr_warn("%s\n", e2.msg);
		pr_info("pid %d restored in %.3f ms\n", ctx.task.pid, s->total_us / 1000.0);
		write_pidfile(&ctx);
		if (o->display_stats)
			stats_restore_print(s);
		log_close_file();
		if (!o->detached) {
			int st = 0;
			while (waitpid(ctx.task.pid, &st, 0) < 0 && errno == EINTR)
				;
			*wstatus = st;
		}
	}
	free_images(&ctx);
	if (ctx.dirfd >= 0)
		close(ctx.dirfd);
	log_close_file();
	return r;
}
