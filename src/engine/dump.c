/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ferry dump`: a pipeline of named stages over a dump_ctx holding the whole frozen tree. Any
 * failing stage, or a cancel request, unwinds through dump_abort(), which puts back every
 * register and signal mask and lets every process run on as if nothing had happened. Injection
 * leaves nothing behind between two calls (inject/syscall.h, seized mode), so the tree survives
 * the death of ferry at any moment but a single step. Nothing is killed before the image is
 * complete, committed by every sink and read back.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#define LOG_PREFIX "dump: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/cpuid.h"
#include "common/kprobe.h"
#include "common/safefile.h"
#include "common/util.h"
#include "engine/context.h"
#include "engine/pstree.h"
#include "engine/stats.h"
#include "engine/treeobj.h"
#include "files/path.h"
#include "files/sktree.h"
#include "inject/ptrace.h"
#include "mem/mem.h"
#include "mem/track.h"
#include "engine/chain.h"
#include "transform/transform.h"
#include "task/task.h"

int dump_inject(struct dump_ctx *ctx, struct dtask *t, long *ret, const char *what, long nr, const unsigned long a[6])
{
	int r = inj_syscall(&t->inj, ret, nr, a, ctx->err);
	if (r < 0 && pt_thread_gone(t->pid))
		return fe_msg(ctx->err, ESRCH, "process %d exited during the dump", t->pid);
	if (r < 0)
		return fe_wrap(ctx->err, r, "pid %d: %s", t->pid, what);
	if (*ret < 0 && *ret > -4096)
		return fe_set(ctx->err, (int)-*ret, "pid %d: %s", t->pid, what);
	return 0;
}

static int not_pages(const char *name)
{
	return strncmp(name, "pages-", 6) != 0;
}

static int stage_open_dir(struct dump_ctx *ctx)
{
	const struct dump_opts *o = ctx->opts;
	int r;
	ctx->dirfd = safe_dir_open(o->dir, 1, ctx->err);
	if (ctx->dirfd < 0)
		return fe_wrap(ctx->err, ctx->dirfd, "image directory");
	char path[4096];
	const char *log = o->log_file ? o->log_file : "dump.log";
	struct ferry_err le = { 0 };
	if (o->work_dir && (ctx->work_dirfd = safe_dir_open(o->work_dir, 1, ctx->err)) < 0)
		return fe_wrap(ctx->err, ctx->work_dirfd, "work directory");
	record_path(path, sizeof(path), o->work_dir, o->dir, log);
	if ((r = log_open_file(path, &le)) < 0)
		pr_warn("no log file: %s\n", fe_str(&le, r));
	if ((r = img_sink_local_open(&ctx->local_sink, ctx->dirfd, ctx->err)) < 0)
		return r;
	ctx->base_sink = &ctx->local_sink;
	if (o->sink) {	/* the next dump of a chain reads which pages its parent holds from here */
		ctx->tee = (struct img_tee){ .primary = o->sink, .mirror = &ctx->local_sink, .mirrored = not_pages };
		img_sink_tee(&ctx->tee_sink, &ctx->tee);
		ctx->base_sink = &ctx->tee_sink;
	}
	ctx->sink = ctx->base_sink;
	/* Every file of this dump carries its identity: files of two dumps cannot be mixed. */
	if ((r = img_ident_new(&ctx->ident)) < 0)
		return fe_set(ctx->err, r, "a random image id");
	memcpy(ctx->local_sink.ident, ctx->ident.id, IMG_ID_LEN);
	memcpy(ctx->base_sink->ident, ctx->ident.id, IMG_ID_LEN);
	if (o->transform && (r = transform_sink_wrap(ctx->base_sink, o->transform, &ctx->sink, ctx->err)) < 0) {
		ctx->sink = ctx->base_sink;
		return r;
	}
	/* The inventory is written last: without it the directory never looks like a whole image. */
	ctx->sink->ops->remove(ctx->sink, "inventory.img");
	img_dir_clear(ctx->dirfd);	/* the older image's files, its tracking holder's track.img too */
	pr_info("dumping the tree of pid %d into %s (ferry %s)\n", o->pid, o->dir, FERRY_VERSION);
	return 0;
}

static int stage_seize(struct dump_ctx *ctx)
{
	return pstree_seize(ctx);
}

static int collect_one(struct dump_ctx *ctx, struct dtask *t)
{
	struct arena *a = &ctx->arena;
	char path[64];
	t->pstree = ARENA_NEW(a, Ferry__PstreeEntry);
	t->core = ARENA_NEW(a, Ferry__TaskCore);
	t->mm = ARENA_NEW(a, Ferry__Mm);
	t->fds = ARENA_NEW(a, Ferry__FdTable);
	t->pagemap = ARENA_NEW(a, Ferry__Pagemap);
	if (!t->core || !t->mm || !t->fds || !t->pagemap || !t->pstree)
		return fe_set(ctx->err, ENOMEM, "task records");
	ferry__pstree_entry__init(t->pstree);
	ferry__task_core__init(t->core);
	ferry__mm__init(t->mm);
	ferry__fd_table__init(t->fds);
	ferry__pagemap__init(t->pagemap);
	char state;
	int r = task_read_stat(t->pid, &t->pstree->ppid, &t->pstree->pgid, &t->pstree->sid, &state);
	if (r < 0)
		return fe_set(ctx->err, r, "read /proc/%d/stat", t->pid);
	t->pstree->pid = t->pid;
	t->pstree->has_stop_signal = t->stop_signal != 0;
	t->pstree->stop_signal = t->stop_signal;
	t->pstree->has_exit_signal = 1;
	t->pstree->exit_signal = (int)proc_stat_field(t->pid, 38);
	t->pstree->threads = ARENA_ARRAY(a, int32_t, t->nthreads + 1);
	if (t->zombie) {
		t->pstree->has_zombie = t->pstree->has_exit_status = 1;
		t->pstree->zombie = 1;
		t->pstree->exit_status = t->exit_code;
		t->pstree->threads[t->pstree->n_threads++] = t->pid;
		return 0;
	}
	r = read_file(PROC_PATH(path, t->pid, "status"), &t->status, NULL);
	if (r < 0)
		return fe_set(ctx->err, r, "read %s", path);
	t->pidfd = syscall(SYS_pidfd_open, t->pid, 0);
	if (t->pidfd < 0)
		return fe_set(ctx->err, errno, "pidfd_open(%d)", t->pid);
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
	ctx->stats.threads += t->nthreads;
	return 0;
}

/* A zombie child of t's parent that leads session sid (engine/restore-tree.c rebuilds that). */
static int zombie_sibling_leads(struct dump_ctx *ctx, size_t i, int sid)
{
	for (size_t k = 1; k < ctx->ntasks; k++)
		if (ctx->tasks[k].pid == sid && ctx->tasks[k].zombie && ctx->tasks[k].parent == ctx->tasks[i].parent)
			return 1;
	return 0;
}

/*
 * Sessions: a task is in its own session, its parent's, one led by a zombie sibling, or (the
 * root) its caller's. Anything else needs session helpers this version does not have.
 */
static int check_sessions(struct dump_ctx *ctx)
{
	for (size_t i = 1; i < ctx->ntasks; i++) {
		const Ferry__PstreeEntry *e = ctx->tasks[i].pstree;
		const Ferry__PstreeEntry *p = ctx->tasks[ctx->tasks[i].parent].pstree;
		if (e->sid != e->pid && e->sid != p->sid && !zombie_sibling_leads(ctx, i, e->sid))
			return fe_msg(ctx->err, EOPNOTSUPP,
				      "pid %d is in session %d, neither its own nor its parent's (%d): not supported by this version",
				      e->pid, e->sid, p->sid);
	}
	return 0;
}

static int stage_collect(struct dump_ctx *ctx)
{
	/* What a restore would refuse is refused now, while the tree runs on untouched. */
	if (ctx->ntasks > IMG_MAX_TASKS)
		return fe_msg(ctx->err, EOPNOTSUPP, "the tree has %zu processes; an image holds at most %d",
			      ctx->ntasks, IMG_MAX_TASKS);
	size_t nthreads = 0;
	for (size_t i = 0; i < ctx->ntasks; i++)
		nthreads += ctx->tasks[i].nthreads;
	if (nthreads > IMG_MAX_THREADS)
		return fe_msg(ctx->err, EOPNOTSUPP, "the tree has %zu threads; an image holds at most %d", nthreads,
			      IMG_MAX_THREADS);
	for (size_t i = 0; i < ctx->ntasks; i++) {
		int r = collect_one(ctx, &ctx->tasks[i]);
		if (r == 0)
			r = task_ns_pids(ctx, &ctx->tasks[i]);
		if (r < 0)
			return r;
	}
	ctx->stats.tasks = ctx->ntasks;
	return check_sessions(ctx);
}

/* Before injection: the scratch area must not show up in the saved layout. */
static int stage_layout(struct dump_ctx *ctx)
{
	for (size_t i = 0; i < ctx->ntasks; i++) {
		int r = ctx->tasks[i].zombie ? 0 : vma_dump_layout(ctx, &ctx->tasks[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Private writable memory of the task itself, where injected calls can put what they return. */
static int borrowable(const Ferry__Vma *v)
{
	return (v->prot & (PROT_READ | PROT_WRITE)) == (PROT_READ | PROT_WRITE) &&
	       (v->kind == FERRY__VMA_KIND__VMA_STACK || v->kind == FERRY__VMA_KIND__VMA_ANON ||
		v->kind == FERRY__VMA_KIND__VMA_HEAP);
}

/*
 * The scratch area is borrowed, not mapped (inject/syscall.h): preferably the live stack at the
 * leader's RSP (present, private, and ours alone while the tree is frozen), else the start of any
 * private writable anonymous mapping.
 */
static int borrow_scratch(struct dump_ctx *ctx, struct dtask *t)
{
	const uint64_t len = INJ_BORROW_MAX, sp = t->inj.base.rsp;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < t->mm->n_vmas; i++) {
			const Ferry__Vma *v = t->mm->vmas[i];
			int holds_sp = sp >= v->start && sp < v->end;
			if (!borrowable(v) || holds_sp != (pass == 0))
				continue;
			uint64_t cand[2] = { sp & ~63ULL, (sp - 128 - len) & ~63ULL };
			if (!holds_sp)
				cand[0] = cand[1] = v->start;
			for (int k = 0; k < 2; k++) {
				if (cand[k] < v->start || cand[k] + len > v->end)
					continue;
				if (t->sc_addr + 2 > cand[k] && t->sc_addr < cand[k] + len)
					continue;	/* the instruction injected with (an executable stack) */
				struct ferry_err e2 = { 0 };
				if (inj_borrow_scratch(&t->inj, cand[k], len, &e2) == 0)
					return 0;
				pr_debug("pid %d: %s\n", t->pid, e2.msg);
			}
		}
	return fe_msg(ctx->err, ENOMEM, "pid %d has no private writable memory to inject through", t->pid);
}

/* Prepares injection into the leader: its vdso's syscall instruction and a borrowed scratch area. */
static int inject_start(struct dump_ctx *ctx, struct dtask *t)
{
	char path[64];
	_cleanup_free_ char *maps = NULL;
	int r = read_file(PROC_PATH(path, t->pid, "maps"), &maps, NULL);
	if (r < 0)
		return fe_set(ctx->err, r, "read %s", path);
	if (find_syscall_in_maps(t->pid, maps, &t->sc_addr) < 0)
		return fe_msg(ctx->err, ENOENT, "pid %d: no syscall instruction in its vdso or any executable mapping: "
			      "cannot inject", t->pid);
	r = inj_open_seized(&t->inj, t->pid, t->sc_addr, ctx->err);
	if (r < 0)
		return r;
	t->inj.trap_ok = task_sigtrap_unused(t->pid);
	t->injecting = 1;
	if ((r = task_sud_dump(ctx, t)) < 0)
		return r;
	return borrow_scratch(ctx, t);
}

/* Nothing to take out of the task: each call already put everything back. */
static int inject_stop(struct dump_ctx *ctx, struct dtask *t)
{
	if (!t->injecting)
		return 0;
	t->injecting = 0;
	int r = inj_finish(&t->inj);
	return r < 0 && !pt_thread_gone(t->pid) ? fe_set(ctx->err, r, "put back registers of pid %d", t->pid) : 0;
}

static int objects_one(struct dump_ctx *ctx, struct dtask *t)
{
	for (int i = 0; task_objects[i]; i++) {
		if (!task_objects[i]->dump)
			continue;
		uint64_t t0 = now_us();
		int r = task_objects[i]->dump(ctx, t);
		pr_debug("pid %d: object %s dumped in %llu us\n", t->pid, task_objects[i]->name,
			 (unsigned long long)(now_us() - t0));
		if (r == 0 && fault_stage("dump-object", task_objects[i]->name))
			r = fe_msg(ctx->err, EIO, "fault injected after dumping %s of pid %d", task_objects[i]->name, t->pid);
		if (r == 0)
			r = dump_cancelled(ctx);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Per task: inject, dump every object, uninject. */
static int stage_objects(struct dump_ctx *ctx)
{
	for (size_t i = 0; i < ctx->ntasks; i++) {
		struct dtask *t = &ctx->tasks[i];
		if (t->zombie)
			continue;
		int r = inject_start(ctx, t);
		if (r == 0)
			r = objects_one(ctx, t);
		if (r == 0)
			r = pstree_dump_stops(ctx, t);
		if (r == 0 && fault_point("dump-after-inject"))
			r = fe_msg(ctx->err, EIO, "fault injected after inject");
		if (r < 0)
			return r;
		if ((r = track_task_prepare(ctx, t)) < 0 || (r = inject_stop(ctx, t)) < 0)
			return r;
	}
	return 0;
}

const char *dump_prev_path(struct dump_ctx *ctx, char *buf, size_t len)
{
	const char *p = ctx->opts->prev_dir;
	if (!p)
		return NULL;
	snprintf(buf, len, "%s%s%s", p[0] == '/' ? "" : ctx->opts->dir, p[0] == '/' ? "" : "/", p);
	return buf;
}

/* Tree-level objects begin: the previous image's tracking taken over, its chain opened. */
static int stage_track(struct dump_ctx *ctx)
{
	return treeobj_dump_begin(ctx);
}

static int scan_pages(struct dump_ctx *ctx)
{
	int r = 0;
	for (size_t i = 0; i < ctx->ntasks && r == 0; i++)
		r = ctx->tasks[i].zombie ? 0 : mem_scan_pages(ctx, &ctx->tasks[i]);
	/*
	 * process_vm_readv is faster but unshares copy-on-write pages it reads (mem/pages.c): only
	 * when the tree dies after the dump and shares nothing is that harmless.
	 */
	ctx->pin_free = ctx->opts->leave_running || ctx->opts->pre_dump;
	for (size_t i = 0; i < ctx->ntasks && !ctx->pin_free; i++)
		ctx->pin_free = !ctx->tasks[i].zombie && ctx->tasks[i].pagemap->n_inherited > 0;
	return r;
}

static int copy_pages(struct dump_ctx *ctx)
{
	int r = 0;
	uint64_t total = 0;
	for (size_t i = 0; i < ctx->ntasks; i++)
		total += ctx->tasks[i].zombie ? 0 : ctx->tasks[i].npages * 4096;
	progress_start(&ctx->progress, log_get_console_level() >= LOG_WARN, "copied");
	progress_set_total(&ctx->progress, total, ctx->opts->pre_dump ? "tree running" : "tree frozen");
	progress_report(&ctx->progress, ctx->opts->report, ctx->opts->pre_dump ? OP_TREE_RUNNING : OP_TREE_FROZEN);
	for (size_t i = 0; i < ctx->ntasks && r == 0; i++)
		r = ctx->tasks[i].zombie ? 0 : mem_copy_pages(ctx, &ctx->tasks[i]);
	for (size_t i = 0; i < ctx->ntasks; i++)
		mem_free_ranges(&ctx->tasks[i]);
	if (r < 0)	/* the line's last state: the error, printed next, says what becomes of the tree */
		progress_set_total(&ctx->progress, total, r == -ECANCELED ? "cancelled" : "failed");
	progress_end(&ctx->progress);
	return r;
}

static int stage_pages(struct dump_ctx *ctx)
{
	int r = scan_pages(ctx);
	return r < 0 ? r : copy_pages(ctx);
}

/*
 * Pre-dump: the tree is frozen only to read its layout and give each task its tracking (an
 * injected userfaultfd()). Once it runs on, each VMA is protected (and what was written since the
 * last round collected), then its pages are listed, then copied. A write that comes before a
 * page's protect comes before its listing and its copy, so the copy holds it; one that comes
 * after is seen by the next round. Children reaped meanwhile are counted while frozen.
 */
static int stage_pre_freeze(struct dump_ctx *ctx)
{
	int r = 0;
	for (size_t i = 0; i < ctx->ntasks && r == 0; i++) {
		struct dtask *t = &ctx->tasks[i];
		if (t->zombie)
			continue;
		mem_note_reaped(t);
		if (t->uffd >= 0 || !ctx->opts->track_mem)
			continue;
		r = inject_start(ctx, t);
		if (r == 0)
			r = track_task_prepare(ctx, t);
		if (r == 0 && fault_point("pre-dump-mid-inject"))
			r = fe_msg(ctx->err, EIO, "fault injected while injecting");
		int r2 = inject_stop(ctx, t);
		r = r < 0 ? r : r2;
	}
	if (r == 0) {
		r = pstree_release(ctx, 1);
		ctx->t_thawed = now_us();
	}
	return r;
}

static int stage_pre_copy(struct dump_ctx *ctx)
{
	int r = copy_pages(ctx);
	for (size_t i = 0; i < ctx->ntasks && r == 0; i++) {
		struct dtask *t = &ctx->tasks[i];
		if (t->zombie)
			continue;
		t->pstree->has_zombie = 0;
		if ((r = img_write_msg_to(ctx->sink, IMG_MM, t->pid, &t->mm->base, ctx->err)) < 0 ||
		    (r = img_write_msg_to(ctx->sink, IMG_PAGEMAP, t->pid, &t->pagemap->base, ctx->err)) < 0)
			return r;
	}
	Ferry__Pstree tree = FERRY__PSTREE__INIT;
	Ferry__PstreeEntry **entries = ARENA_ARRAY(&ctx->arena, Ferry__PstreeEntry *, ctx->ntasks);
	if (!entries)
		return fe_set(ctx->err, ENOMEM, "pstree");
	for (size_t i = 0; i < ctx->ntasks; i++)
		entries[i] = ctx->tasks[i].pstree;
	tree.tasks = entries;
	tree.n_tasks = ctx->ntasks;
	return r < 0 ? r : img_write_msg_to(ctx->sink, IMG_PSTREE, 0, &tree.base, ctx->err);
}

static int stage_write_images(struct dump_ctx *ctx)
{
	Ferry__Pstree tree = FERRY__PSTREE__INIT;
	Ferry__PstreeEntry **entries = ARENA_ARRAY(&ctx->arena, Ferry__PstreeEntry *, ctx->ntasks);
	if (!entries)
		return fe_set(ctx->err, ENOMEM, "pstree");
	int r;
	for (size_t i = 0; i < ctx->ntasks; i++) {
		struct dtask *t = &ctx->tasks[i];
		entries[i] = t->pstree;
		if (t->zombie)
			continue;
		if ((r = img_write_msg_to(ctx->sink, IMG_CORE, t->pid, &t->core->base, ctx->err)) < 0 ||
		    (r = img_write_msg_to(ctx->sink, IMG_MM, t->pid, &t->mm->base, ctx->err)) < 0 ||
		    (r = img_write_msg_to(ctx->sink, IMG_FDS, t->pid, &t->fds->base, ctx->err)) < 0 ||
		    (r = img_write_msg_to(ctx->sink, IMG_PAGEMAP, t->pid, &t->pagemap->base, ctx->err)) < 0)
			return r;
	}
	tree.tasks = entries;
	tree.n_tasks = ctx->ntasks;
	if ((r = img_write_msg_to(ctx->sink, IMG_FILES, 0, &ctx->files.base, ctx->err)) < 0 ||
	    (r = treeobj_dump_write(ctx)) < 0 ||
	    (r = img_write_msg_to(ctx->sink, IMG_PSTREE, 0, &tree.base, ctx->err)) < 0)
		return r;
	return 0;
}

/* The CPU's feature words, compared at restore (engine/precheck.c). */
static int cpu_words(Ferry__CpuidWord *w, Ferry__CpuidWord **wp)
{
	struct cpuid_word c[CPUID_NWORDS];
	cpuid_words(c);
	for (size_t i = 0; i < CPUID_NWORDS; i++) {
		ferry__cpuid_word__init(&w[i]);
		w[i].leaf = c[i].leaf;
		w[i].subleaf = c[i].subleaf;
		w[i].reg = c[i].reg;
		w[i].value = c[i].value;
		wp[i] = &w[i];
	}
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
	inv.root_pid = ctx->tasks[0].pid;
	int32_t *pids = ARENA_ARRAY(&ctx->arena, int32_t, ctx->ntasks);
	if (!pids)
		return fe_set(ctx->err, ENOMEM, "inventory");
	for (size_t i = 0; i < ctx->ntasks; i++)
		pids[i] = ctx->tasks[i].pid;
	inv.pids = pids;
	inv.n_pids = ctx->ntasks;
	inv.has_shell_job = 1;
	inv.shell_job = ctx->opts->shell_job;
	inv.has_pre_dump = ctx->opts->pre_dump;
	inv.pre_dump = ctx->opts->pre_dump;
	inv.parent_dir = (char *)ctx->opts->prev_dir;
	inv.has_image_id = 1;
	inv.image_id = (ProtobufCBinaryData){ IMG_ID_LEN, ctx->ident.id };
	if (ctx->prev) {	/* restore and verify check that the parent is still this one */
		inv.has_parent_image_id = 1;
		inv.parent_image_id = (ProtobufCBinaryData){ IMG_ID_LEN, (uint8_t *)chain_ident(ctx->prev)->id };
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	inv.has_created_unix_us = 1;
	inv.created_unix_us = ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000;
	inv.hostname = host;
	inv.has_xcr0 = inv.has_xsave_size = 1;
	inv.xcr0 = kp->xcr0;
	inv.xsave_size = kp->xsave_size;
	inv.cpu_model = (char *)kp->cpu_model;
	Ferry__CpuidWord words[CPUID_NWORDS], *wp[CPUID_NWORDS];
	if (cpu_words(words, wp) == 0) {
		inv.cpuid = wp;
		inv.n_cpuid = CPUID_NWORDS;
	}
	return img_write_msg_to(ctx->sink, IMG_INVENTORY, 0, &inv.base, ctx->err);
}

int dump_cancelled(struct dump_ctx *ctx)
{
	const volatile sig_atomic_t *c = ctx->opts->cancel;
	return c && *c ? fe_class(ctx->err, FE_CANCELLED, fe_msg(ctx->err, ECANCELED, "cancelled")) : 0;
}

/* A stage failed while a process of the tree died: that is the error the user needs. */
static int name_exited(struct dump_ctx *ctx, int r)
{
	for (size_t i = 0; i < ctx->ntasks && r != -ECANCELED; i++) {
		const struct dtask *t = &ctx->tasks[i];
		if (!t->zombie && t->nthreads && pt_thread_gone(t->pid)) {
			char was[sizeof(ctx->err->msg)];
			snprintf(was, sizeof(was), "%s", fe_str(ctx->err, r));
			return fe_msg(ctx->err, ESRCH, "process %d exited during the dump (%s)", t->pid, was);
		}
	}
	return r;
}

static void dump_abort(struct dump_ctx *ctx)
{
	struct ferry_err ignored = { 0 };
	struct ferry_err *saved = ctx->err;
	ctx->err = &ignored;	/* keep the first error: it is the one the user needs */
	for (size_t i = 0; i < ctx->ntasks; i++)
		inject_stop(ctx, &ctx->tasks[i]);
	if (pstree_release(ctx, 1) < 0)
		pr_warn("%s\n", ignored.msg);
	ctx->err = saved;
	ghost_dump_abort(ctx);	/* hidden links of --link-remap */
	if (ctx->sink)
		ctx->sink->ops->remove(ctx->sink, "inventory.img");
}

typedef int (*stage_fn)(struct dump_ctx *);
struct dump_stage {
	const char *name;
	stage_fn fn;
};

/* The caller's progress callback, at a stage's start (engine.h: op_report). */
static void report_stage(struct dump_ctx *ctx, const char *name, size_t i, size_t n)
{
	struct op_report *rp = ctx->opts->report;
	int tree = ctx->t_frozen && !ctx->t_thawed ? OP_TREE_FROZEN : OP_TREE_RUNNING;
	if (rp && rp->progress)
		rp->progress(rp->arg, name, i, n, OP_UNIT_STAGES, tree);
}

static int run_stages(struct dump_ctx *ctx, const struct dump_stage *stages, size_t n)
{
	const char *op = ctx->opts->pre_dump ? "pre-dump-after" : "dump-after";
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		uint64_t t0 = now_us();
		report_stage(ctx, stages[i].name, i, n + 1);
		r = stages[i].fn(ctx);
		pr_debug("stage %s: %s in %llu us\n", stages[i].name, r ? "failed" : "done",
			 (unsigned long long)(now_us() - t0));
		if (r == 0 && fault_stage(op, stages[i].name))
			r = fe_msg(ctx->err, EIO, "fault injected after %s", stages[i].name);
		if (r == 0)
			r = dump_cancelled(ctx);
	}
	return r < 0 ? name_exited(ctx, r) : 0;
}

/*
 * The local image as `image verify` reads it, but for page data (just hashed from the very
 * buffers written): every file whole (engine/verify.c), every page store's header, identity and
 * size against its pagemap.
 */
static int check_images(struct dump_ctx *ctx)
{
	if (ctx->opts->sink || ctx->opts->transform)
		return 0;	/* the page server checks what it stores; encoded files are checked when decoded */
	struct img_src src;
	Ferry__Inventory *inv = NULL;
	char name[64];
	int r = img_src_open_fd(&src, ctx->dirfd, ctx->opts->dir, ctx->err);
	if (r < 0)
		return r;
	if ((r = img_src_read_msg(&src, IMG_INVENTORY, 0, (ProtobufCMessage **)&inv, ctx->err)) == 0)
		r = verify_files(&src, ctx->err);
	img_free((ProtobufCMessage *)inv);
	for (size_t i = 0; i < ctx->ntasks && r == 0; i++) {
		struct dtask *t = &ctx->tasks[i];
		struct page_store ps = { .fd = -1 };
		if (t->zombie)
			continue;
		int fd = img_src_fd(&src, img_name(name, sizeof(name), IMG_PAGES, t->pid), ctx->err);
		if ((r = fd < 0 ? fd : pages_open_fd(fd, t->pid, t->pagemap, &src.ident, &ps, ctx->err)) == 0)
			pages_close(&ps);
	}
	img_src_close(&src);
	return r < 0 ? fe_wrap(ctx->err, r, "the image just written does not read back") : 0;
}

static int close_sinks(struct dump_ctx *ctx, int ok)
{
	struct ferry_err e2 = { 0 };
	int r = 0;
	if (ctx->sink && ctx->sink != ctx->base_sink)
		r = ctx->sink->ops->close(ctx->sink, ok, ok ? ctx->err : &e2);
	if (ctx->base_sink) {
		int rc = ctx->base_sink->ops->close(ctx->base_sink, ok && r == 0, ok && r == 0 ? ctx->err : &e2);
		r = r < 0 ? r : rc;
		ctx->sink = ctx->base_sink;
	}
	return r;
}

/* The caller's action at a stage of the dump (dump_opts.hook): non-zero fails the dump. */
static int dump_hook(struct dump_ctx *ctx, const char *stage)
{
	const struct dump_opts *o = ctx->opts;
	if (o->hook && o->hook(stage, o->pid, o->hook_arg) != 0)
		return fe_class(ctx->err, FE_CANCELLED, fe_msg(ctx->err, ECANCELED, "the %s action failed: the tree runs "
								 "on, the image is dropped", stage));
	return 0;
}

/*
 * The tracking holder, the inventory last; then every sink must commit, the image must read
 * back and the post-dump action must agree. Only then may anything be killed: past this, the
 * dump cannot be undone. Its statistics are no part of it: they measure until the tree runs
 * again or is killed (dump_leave_tree), so they are written after (stats_dump_report).
 */
static int finish_image(struct dump_ctx *ctx)
{
	int r = treeobj_dump_seal(ctx);	/* the tracking holder */
	if (r == 0)
		r = dump_cancelled(ctx);
	/* the last step before the inventory: it accepts connections, which cannot be undone */
	if (r == 0)
		r = sk_dump_pending(ctx);
	if (r == 0 && fault_point("dump-before-inventory"))
		r = fe_msg(ctx->err, EIO, "fault injected before the inventory");
	if (r == 0)
		r = dump_cancelled(ctx);
	if (r == 0)
		r = write_inventory(ctx);
	if (r == 0 && fault_point("dump-before-close"))
		r = fe_msg(ctx->err, EIO, "fault injected before the sinks commit");
	if (r == 0)
		r = dump_cancelled(ctx);
	int rc = close_sinks(ctx, r == 0);
	r = r < 0 ? r : rc;
	uint64_t t0 = now_us();
	if (r == 0)
		r = check_images(ctx);
	pr_debug("image read back in %llu us\n", (unsigned long long)(now_us() - t0));
	if (r == 0)
		r = dump_hook(ctx, "post-dump");
	if (r == 0 && fault_point("dump-before-kill"))
		r = fe_msg(ctx->err, EIO, "fault injected before the tree is killed or released");
	return r == 0 ? dump_cancelled(ctx) : r;	/* the last chance to say no */
}

/*
 * Past the point of no return: the tree runs on (-R; a pre-dump's already does), stays stopped
 * (--leave-stopped: a SIGSTOP queued while it is still frozen is the first thing it meets; a
 * task that was stopped keeps its own stop), or is killed. The frozen time ends here, once.
 * 0, or the first thread that could not be released.
 */
static int dump_leave_tree(struct dump_ctx *ctx)
{
	const struct dump_opts *o = ctx->opts;
	if (o->pre_dump)
		return 0;
	if (!o->leave_running && !o->leave_stopped) {
		ctx->t_thawed = now_us();
		pstree_kill(ctx);
		return 0;
	}
	for (size_t i = 0; o->leave_stopped && i < ctx->ntasks; i++)
		if (!ctx->tasks[i].zombie && !ctx->tasks[i].stop_signal)
			kill(ctx->tasks[i].pid, SIGSTOP);
	int r = pstree_release(ctx, 1);
	ctx->t_thawed = now_us();
	/* A SIGCONT that arrived during the dump, sent again, ended that stop: stop it once more. */
	for (size_t i = 0; o->leave_stopped && i < ctx->ntasks; i++)
		for (int k = 0; k < ctx->tasks[i].inj.nstashed; k++)
			if (ctx->tasks[i].inj.stashed[k] == SIGCONT)
				kill(ctx->tasks[i].pid, SIGSTOP);
	return r;
}

static const struct dump_stage dump_stages[] = {
	{ "open-dir", stage_open_dir },
	{ "seize", stage_seize },
	{ "collect", stage_collect },
	{ "layout", stage_layout },
	{ "track", stage_track },
	{ "objects", stage_objects },
	{ "pages", stage_pages },
	{ "write-images", stage_write_images },
}, pre_stages[] = {
	{ "open-dir", stage_open_dir },
	{ "seize", stage_seize },
	{ "collect", stage_collect },
	{ "layout", stage_layout },
	{ "track", stage_track },
	{ "freeze", stage_pre_freeze },
	{ "scan", scan_pages },
	{ "copy", stage_pre_copy },
};

int ferry_dump(const struct dump_opts *o, struct ferry_err *err)
{
	struct dump_ctx ctx = { .opts = o, .dirfd = -1, .work_dirfd = -1, .err = err };
	ferry__files__init(&ctx.files);
	ferry__dump_stats__init(&ctx.stats);
	fault_set_cancel(o->cancel);
	ctx.t_start = now_us();
	size_t nst = o->pre_dump ? ARRAY_SIZE(pre_stages) : ARRAY_SIZE(dump_stages);
	int r = run_stages(&ctx, o->pre_dump ? pre_stages : dump_stages, nst);
	if (r == 0) {
		report_stage(&ctx, "finish", nst, nst + 1);
		r = finish_image(&ctx);
	} else
		close_sinks(&ctx, 0);
	r = sk_dump_end(&ctx, r);	/* pending unix connections: handed back or named as lost on failure */
	treeobj_dump_end(&ctx, r == 0);
	if (r < 0) {
		pr_debug("dump of pid %d failed: %s\n", o->pid, fe_str(err, r));
		dump_abort(&ctx);
	} else {
		r = dump_leave_tree(&ctx);
		stats_dump_finish(&ctx);
		pr_info("dump of pid %d done: frozen %.3f ms\n", o->pid, ctx.stats.frozen_us / 1000.0);
		if (r == 0)
			stats_dump_report(&ctx);
		if (o->report) {
			memcpy(o->report->image_id, ctx.ident.id, IMG_ID_LEN);
			o->report->has_image_id = 1;
			stats_to_report(o->report, &ctx.stats.base);
		}
		if (o->report && o->report->progress)
			o->report->progress(o->report->arg, "done", 1, 1, OP_UNIT_STAGES, ctx.opts->pre_dump ||
					    o->leave_running ? OP_TREE_RUNNING : OP_TREE_UNKNOWN);
	}
	pstree_free(&ctx);
	free(ctx.seen);
	free(ctx.seen_order);
	arena_free(&ctx.arena);
	if (ctx.dirfd >= 0)
		close(ctx.dirfd);
	if (ctx.work_dirfd >= 0)
		close(ctx.work_dirfd);
	log_close_file();
	fault_set_cancel(NULL);
	return r;
}
