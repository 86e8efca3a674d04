/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ferry dump`: a pipeline of named stages over a dump_ctx. Any failing stage unwinds through
 * dump_abort(), which removes what was injected, puts back every register and signal mask and
 * lets the process run on as if nothing had happened.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#define LOG_PREFIX "dump: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/kprobe.h"
#include "common/util.h"
#include "engine/context.h"
#include "engine/stats.h"
#include "inject/ptrace.h"
#include "mem/mem.h"
#include "task/task.h"

int dump_inject(struct dump_ctx *ctx, long *ret, const char *what, long nr, const unsigned long a[6])
{
	int r = inj_syscall(&ctx->task.inj, ret, nr, a, ctx->err);
	if (r < 0)
		return fe_wrap(ctx->err, r, "pid %d: %s", ctx->task.pid, what);
	if (*ret < 0 && *ret > -4096)
		return fe_set(ctx->err, (int)-*ret, "pid %d: %s", ctx->task.pid, what);
	return 0;
}

static int stage_open_dir(struct dump_ctx *ctx)
{
	const struct dump_opts *o = ctx->opts;
	int r = mkdir_p(o->dir, 0755);
	if (r < 0)
		return fe_set(ctx->err, r, "create image directory %s", o->dir);
	ctx->dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ctx->dirfd < 0)
		return fe_set(ctx->err, errno, "open image directory %s", o->dir);
	char path[4096];
	const char *log = o->log_file ? o->log_file : "dump.log";
	snprintf(path, sizeof(path), "%s%s%s", log[0] == '/' ? "" : o->dir, log[0] == '/' ? "" : "/", log);
	if (log_open_file(path) < 0)
		pr_warn("cannot open log file %s\n", path);
	/* The inventory is written last: without it the directory never looks like a whole image. */
	unlinkat(ctx->dirfd, "inventory.img", 0);
	pr_info("dumping pid %d into %s (ferry %s)\n", o->pid, o->dir, FERRY_VERSION);
	return 0;
}

static int seize_threads(struct dump_ctx *ctx, struct dtask *t)
{
	for (int round = 0; round < 100; round++) {
		pid_t *tids;
		size_t n, fresh = 0;
		int r = list_threads(t->pid, &tids, &n);
		if (r < 0) {
			free(tids);
			return fe_set(ctx->err, r, "list threads of pid %d", t->pid);
		}
		struct dthread *nt = realloc(t->threads, (n + t->nthreads) * sizeof(*nt));
		if (!nt) {
			free(tids);
			return fe_set(ctx->err, ENOMEM, "thread list");
		}
		t->threads = nt;
		for (size_t i = 0; i < n; i++) {
			int known = 0;
			for (size_t k = 0; k < t->nthreads && !known; k++)
				known = t->threads[k].tid == tids[i];
			if (known)
				continue;
			struct dthread *th = &t->threads[t->nthreads];
			memset(th, 0, sizeof(*th));
			th->tid = tids[i];
			r = pt_seize(th->tid, ctx->err);
			if (r == -ESRCH && tids[i] != t->pid)
				continue;	/* the thread exited meanwhile */
			if (r < 0) {
				free(tids);
				return r;
			}
			th->seized = 1;
			t->nthreads++;
			fresh++;
		}
		free(tids);
		if (!fresh)
			return 0;
	}
	return fe_msg(ctx->err, EAGAIN, "pid %d keeps creating threads", t->pid);
}

static int stage_seize(struct dump_ctx *ctx)
{
	struct dtask *t = &ctx->task;
	t->pid = ctx->opts->pid;
	char path[64];
	if (kill(t->pid, 0) < 0)
		return fe_set(ctx->err, errno, "process %d", t->pid);
	int ppid, pgid, sid;
	char state;
	if (task_read_stat(t->pid, &ppid, &pgid, &sid, &state) < 0)
		return fe_set(ctx->err, ESRCH, "process %d", t->pid);
	if (state == 'Z')
		return fe_msg(ctx->err, ESRCH, "process %d is a zombie", t->pid);
	if (state == 't' || state == 'T') {
		/* Already traced or stopped by a debugger: report, do not steal it. */
		_cleanup_free_ char *st = NULL;
		read_file(PROC_PATH(path, t->pid, "status"), &st, NULL);
		const char *tr = st ? proc_field(st, "TracerPid") : NULL;
		if (tr && atoi(tr))
			return fe_msg(ctx->err, EBUSY, "process %d is being traced by %d", t->pid, atoi(tr));
	}
	ctx->t_frozen = now_us();
	int r = seize_threads(ctx, t);
	if (r < 0)
		return r;
	/* Make sure the leader comes first. */
	for (size_t i = 0; i < t->nthreads; i++)
		if (t->threads[i].tid == t->pid && i) {
			struct dthread tmp = t->threads[0];
			t->threads[0] = t->threads[i];
			t->threads[i] = tmp;
		}
	for (size_t i = 0; i < t->nthreads; i++) {
		struct dthread *th = &t->threads[i];
		if ((r = pt_getregs(th->tid, &th->regs)) < 0 || (r = pt_get_sigmask(th->tid, &th->sigmask)) < 0)
			return fe_set(ctx->err, r, "read state of thread %d", th->tid);
	}
	pr_info("pid %d: %zu thread(s) frozen\n", t->pid, t->nthreads);
	if (fault_point("dump-after-seize"))
		return fe_msg(ctx->err, EIO, "fault injected after seize");
	return 0;
}

/* This version dumps one process with its threads; a process with children is refused. */
static int check_no_children(struct dump_ctx *ctx, struct dtask *t)
{
	char path[96];
	for (size_t i = 0; i < t->nthreads; i++) {
		_cleanup_free_ char *kids = NULL;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", t->pid, t->threads[i].tid);
		if (read_file(path, &kids, NULL) == 0 && kids[0] && kids[0] != '\n')
			return fe_msg(ctx->err, EOPNOTSUPP,
				      "pid %d has child processes (%.*s): process trees are not supported by this version",
				      t->pid, (int)strcspn(kids, "\n"), kids);
	}
	return 0;
}

static int stage_collect(struct dump_ctx *ctx)
{
	struct dtask *t = &ctx->task;
	struct arena *a = &ctx->arena;
	char path[64];
	int r = check_no_children(ctx, t);
	if (r < 0)
		return r;
	r = read_file(PROC_PATH(path, t->pid, "status"), &t->status, NULL);
	if (r < 0)
		return fe_set(ctx->err, r, "read %s", path);
	t->core = ARENA_NEW(a, Ferry__TaskCore);
	t->mm = ARENA_NEW(a, Ferry__Mm);
	t->fds = ARENA_NEW(a, Ferry__FdTable);
	t->pagemap = ARENA_NEW(a, Ferry__Pagemap);
	t->pstree = ARENA_NEW(a, Ferry__PstreeEntry);
	if (!t->core || !t->mm || !t->fds || !t->pagemap || !t->pstree)
		return fe_set(ctx->err, ENOMEM, "task records");
	ferry__task_core__init(t->core);
	ferry__mm__init(t->mm);
	ferry__fd_table__init(t->fds);
	ferry__pagemap__init(t->pagemap);
	ferry__pstree_entry__init(t->pstree);
	char state;
	r = task_read_stat(t->pid, &t->pstree->ppid, &t->pstree->pgid, &t->pstree->sid, &state);
	if (r < 0)
		return fe_set(ctx->err, r, "read /proc/%d/stat", t->pid);
	t->pstree->pid = t->pid;
	t->pstree->threads = ARENA_ARRAY(a, int32_t, t->nthreads);
	t->core->pid = t->pid;
	t->core->threads = ARENA_ARRAY(a, Ferry__ThreadCore *, t->nthreads);
	_cleanup_free_ char *comm = NULL;
	if (read_file(PROC_PATH(path, t->pid, "comm"), &comm, NULL) == 0)
		comm[strcspn(comm, "\n")] = 0;
	t->core->comm = arena_strdup(a, comm ? comm : "");
	for (size_t i = 0; i < t->nthreads; i++) {
		Ferry__ThreadCore *c = ARENA_NEW(a, Ferry__ThreadCore);
		ferry__thread_core__init(c);
		c->tid = t->threads[i].tid;
		t->threads[i].core = c;
		t->core->threads[t->core->n_threads++] = c;
		t->pstree->threads[t->pstree->n_threads++] = c->tid;
	}
	ctx->stats.tasks = 1;
	ctx->stats.threads = t->nthreads;
	return 0;
}

/* Maps a scratch area in the target for the values injected calls return through memory. */
static int stage_inject_start(struct dump_ctx *ctx)
{
	struct dtask *t = &ctx->task;
	char path[64];
	_cleanup_free_ char *maps = NULL;
	int r = read_file(PROC_PATH(path, t->pid, "maps"), &maps, NULL);
	if (r < 0)
		return fe_set(ctx->err, r, "read %s", path);
	char *v = strstr(maps, "[vdso]");
	if (!v)
		return fe_msg(ctx->err, ENOENT, "pid %d has no vdso: cannot inject", t->pid);
	while (v > maps && v[-1] != '\n')
		v--;
	unsigned long long s, e;
	if (sscanf(v, "%llx-%llx", &s, &e) != 2 || find_syscall_insn(t->pid, s, e, &t->sc_addr) < 0)
		return fe_msg(ctx->err, ENOENT, "pid %d: no syscall instruction in its vdso", t->pid);
	/* Block every signal while injecting: what arrives now stays queued and is dumped as pending. */
	for (size_t i = 0; i < t->nthreads; i++)
		if ((r = pt_set_sigmask(t->threads[i].tid, ~0ULL)) < 0)
			return fe_set(ctx->err, r, "block signals of thread %d", t->threads[i].tid);
	r = inj_open(&t->inj, t->pid, t->sc_addr, ctx->err);
	if (r < 0)
		return r;
	t->injecting = 1;
	long addr;
	r = DINJ(ctx, &addr, "map a scratch area", SYS_mmap, 0, DUMP_SCRATCH_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r < 0)
		return r;
	t->inj.scratch = addr;
	t->inj.scratch_len = DUMP_SCRATCH_SIZE;
	return 0;
}

static int stage_inject_stop(struct dump_ctx *ctx)
{
	struct dtask *t = &ctx->task;
	if (!t->injecting)
		return 0;
	t->injecting = 0;
	long ret;
	int r = 0;
	if (t->inj.scratch)
		r = DINJ(ctx, &ret, "unmap the scratch area", SYS_munmap, t->inj.scratch, DUMP_SCRATCH_SIZE);
	int r2 = inj_finish(&t->inj);
	if (r < 0)
		return r;
	return r2 < 0 ? fe_set(ctx->err, r2, "put back registers of pid %d", t->pid) : 0;
}

static int stage_objects(struct dump_ctx *ctx)
{
	for (int i = 0; task_objects[i]; i++) {
		if (!task_objects[i]->dump)
			continue;
		uint64_t t0 = now_us();
		int r = task_objects[i]->dump(ctx, &ctx->task);
		pr_debug("object %s dumped in %llu us\n", task_objects[i]->name, (unsigned long long)(now_us() - t0));
		if (r < 0)
			return r;
	}
	return fault_point("dump-after-inject") ? fe_msg(ctx->err, EIO, "fault injected after inject") : 0;
}

/* Before injection: the scratch area must not show up in the saved layout. */
static int stage_layout(struct dump_ctx *ctx)
{
	return vma_dump_layout(ctx, &ctx->task);
}

static int stage_pages(struct dump_ctx *ctx)
{
	return mem_dump_pages(ctx, &ctx->task);
}

static int stage_write_images(struct dump_ctx *ctx)
{
	struct dtask *t = &ctx->task;
	Ferry__Pstree tree = FERRY__PSTREE__INIT;
	Ferry__PstreeEntry *entries[1] = { t->pstree };
	tree.tasks = entries;
	tree.n_tasks = 1;
	int r;
	if ((r = img_write_msg(ctx->dirfd, IMG_CORE, t->pid, &t->core->base, ctx->err)) < 0 ||
	    (r = img_write_msg(ctx->dirfd, IMG_MM, t->pid, &t->mm->base, ctx->err)) < 0 ||
	    (r = img_write_msg(ctx->dirfd, IMG_FDS, t->pid, &t->fds->base, ctx->err)) < 0 ||
	    (r = img_write_msg(ctx->dirfd, IMG_PAGEMAP, t->pid, &t->pagemap->base, ctx->err)) < 0 ||
	    (r = img_write_msg(ctx->dirfd, IMG_FILES, 0, &ctx->files.base, ctx->err)) < 0 ||
	    (r = img_write_msg(ctx->dirfd, IMG_PSTREE, 0, &tree.base, ctx->err)) < 0)
		return r;
	return 0;
}

static int write_inventory(struct dump_ctx *ctx)
{
	Ferry__Inventory inv = FERRY__INVENTORY__INIT;
	struct utsname u;
	char host[256] = "";
	const struct kprobe *kp = kprobe_get();
	uname(&u);
	gethostname(host, sizeof(host) - 1);
	inv.format_major = FERRY_FORMAT_MAJOR;
	inv.format_minor = FERRY_FORMAT_MINOR;
	inv.ferry_version = FERRY_VERSION;
	inv.kernel_release = u.release;
	inv.root_pid = ctx->task.pid;
	inv.pids = &ctx->task.pid;
	inv.n_pids = 1;
	inv.has_shell_job = 1;
	inv.shell_job = ctx->opts->shell_job;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	inv.has_created_unix_us = 1;
	inv.created_unix_us = ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000;
	inv.hostname = host;
	inv.has_xcr0 = inv.has_xsave_size = 1;
	inv.xcr0 = kp->xcr0;
	inv.xsave_size = kp->xsave_size;
	inv.cpu_model = (char *)kp->cpu_model;
	return img_write_msg(ctx->dirfd, IMG_INVENTORY, 0, &inv.base, ctx->err);
}

/* Lets every thread go, as it was. Used on success with -R and on every failure. */
static void release_threads(struct dump_ctx *ctx, int resend_stashed)
{
	struct dtask *t = &ctx->task;
	for (size_t i = t->nthreads; i-- > 0;) {
		struct dthread *th = &t->threads[i];
		if (!th->seized)
			continue;
		pt_setregs(th->tid, &th->regs);
		pt_set_sigmask(th->tid, th->sigmask);
		pt_detach(th->tid, 0);
		th->seized = 0;
	}
	for (int i = 0; resend_stashed && i < t->inj.nstashed; i++)
		kill(t->pid, t->inj.stashed[i]);
}

static void dump_abort(struct dump_ctx *ctx)
{
	struct ferry_err ignored = { 0 };
	struct ferry_err *saved = ctx->err;
	ctx->err = &ignored;	/* keep the first error: it is the one the user needs */
	stage_inject_stop(ctx);
	ctx->err = saved;
	release_threads(ctx, 1);
	if (ctx->dirfd >= 0)
		unlinkat(ctx->dirfd, "inventory.img", 0);
}

static void kill_dumped(struct dump_ctx *ctx)
{
	struct dtask *t = &ctx->task;
	kill(t->pid, SIGKILL);
	for (size_t i = t->nthreads; i-- > 0;) {	/* non-leaders first, or the leader's wait hangs */
		int st;
		while (waitpid(t->threads[i].tid, &st, __WALL) < 0 && errno == EINTR)
			;
		t->threads[i].seized = 0;
	}
}

int ferry_dump(const struct dump_opts *o, struct ferry_err *err)
{
	struct dump_ctx ctx = { .opts = o, .dirfd = -1, .err = err };
	static const struct { const char *name; int (*fn)(struct dump_ctx *); } stages[] = {
		{ "open-dir", stage_open_dir },
		{ "seize", stage_seize },
		{ "collect", stage_collect },
		{ "layout", stage_layout },
		{ "inject-start", stage_inject_start },
		{ "objects", stage_objects },
		{ "inject-stop", stage_inject_stop },
		{ "pages", stage_pages },
		{ "write-images", stage_write_images },
	};
	ferry__files__init(&ctx.files);
	ferry__dump_stats__init(&ctx.stats);
	ctx.t_start = now_us();
	int r = 0;
	for (size_t i = 0; i < ARRAY_SIZE(stages) && r == 0; i++) {
		uint64_t t0 = now_us();
		r = stages[i].fn(&ctx);
		pr_debug("stage %s: %s in %llu us\n", stages[i].name, r ? "failed" : "done",
			 (unsigned long long)(now_us() - t0));
	}
	if (r == 0) {
		stats_dump_finish(&ctx);
		r = img_write_msg(ctx.dirfd, IMG_STATS_DUMP, 0, &ctx.stats.base, err);
		if (r == 0)
			r = write_inventory(&ctx);
	}
	if (r < 0) {
		pr_debug("dump of pid %d failed: %s\n", o->pid, fe_str(err, r));
		dump_abort(&ctx);
	} else {
		if (o->leave_running)
			release_threads(&ctx, 1);
		else
			kill_dumped(&ctx);
		ctx.stats.frozen_us = now_us() - ctx.t_frozen;
		pr_info("dump of pid %d done\n", o->pid);
		if (o->display_stats)
			stats_dump_print(&ctx.stats);
	}
	free(ctx.task.threads);
	free(ctx.task.status);
	arena_free(&ctx.arena);
	if (ctx.dirfd >= 0)
		close(ctx.dirfd);
	log_close_file();
	return r;
}
