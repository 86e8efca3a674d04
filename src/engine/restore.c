/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ferry restore`: read and verify the whole image first (nothing starts on a corrupt image),
 * create every open file once in ferry, create the root task at its old PID and rebuild its
 * memory; fork every other task from its restored parent (keeping copy-on-write sharing) and
 * fix up what differs; then threads, sessions, every object, and release. A failing stage kills
 * whatever was built.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#define LOG_PREFIX "restore: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/safefile.h"
#include "common/util.h"
#include "engine/chain.h"
#include "engine/context.h"
#include "engine/restore-child.h"
#include "engine/restore-tree.h"
#include "engine/restore-stop.h"
#include "engine/restore-guard.h"
#include "engine/stats.h"
#include "files/files.h"
#include "files/path.h"
#include "files/sktree.h"
#include "inject/ptrace.h"
#include "mem/mem.h"
#include "task/task.h"
#include "transform/transform.h"

int rst_inject(struct restore_ctx *ctx, struct injector *inj, long *ret, const char *what, long nr,
	       const unsigned long a[6])
{
	int r = inj_syscall(inj, ret, nr, a, ctx->err);
	if (r < 0)
		return fe_wrap(ctx->err, r, "pid %d: %s", inj->tid, what);
	if (*ret < 0 && *ret > -4096)
		return fe_set(ctx->err, (int)-*ret, "pid %d: %s", inj->tid, what);
	return 0;
}

static int stage_open_dir(struct restore_ctx *ctx)
{
	const struct restore_opts *o = ctx->opts;
	ctx->dirfd = safe_dir_open(o->dir, 0, ctx->err);
	if (ctx->dirfd < 0)
		return fe_wrap(ctx->err, ctx->dirfd, "image directory");
	char path[4096];
	int r;
	const char *log = o->log_file ? o->log_file : "restore.log";
	struct ferry_err le = { 0 };
	if (o->work_dir && (ctx->work_dirfd = safe_dir_open(o->work_dir, 1, ctx->err)) < 0)
		return fe_wrap(ctx->err, ctx->work_dirfd, "work directory");
	record_path(path, sizeof(path), o->work_dir, o->dir, log);
	if ((r = log_open_file(path, &le)) < 0)
		pr_warn("no log file: %s\n", fe_str(&le, r));
	pr_info("restoring from %s (ferry %s)\n", o->dir, FERRY_VERSION);
	if ((r = img_src_open_fd(&ctx->src, ctx->dirfd, o->dir, ctx->err)) < 0)
		return r;
	return transform_src_attach(&ctx->src, o->key_file, ctx->err);
}

#define READ_IMG(ctx, kind, id, out) img_src_read_msg(&(ctx)->src, (kind), (id), (ProtobufCMessage **)(out), (ctx)->err)

static int read_task(struct restore_ctx *ctx, struct rtask *t)
{
	int r;
	if ((r = READ_IMG(ctx, IMG_CORE, t->pid, &t->core)) < 0 || (r = READ_IMG(ctx, IMG_MM, t->pid, &t->mm)) < 0 ||
	    (r = READ_IMG(ctx, IMG_FDS, t->pid, &t->fds)) < 0 || (r = READ_IMG(ctx, IMG_PAGEMAP, t->pid, &t->pagemap)) < 0)
		return r;
	if (t->core->n_threads != t->pstree->n_threads || t->core->pid != t->pid || t->pagemap->pid != t->pid)
		return fe_msg(ctx->err, EBADMSG, "core-%d.img: does not match pstree.img", t->pid);
	for (size_t i = 0; i < t->core->n_threads; i++) {
		Ferry__ThreadCore *c = t->core->threads[i];
		if (c->tid != t->pstree->threads[i] || c->tid <= 0 || !c->regs)
			return fe_msg(ctx->err, EBADMSG, "core-%d.img: thread %zu does not match pstree.img", t->pid, i);
	}
	if ((r = mm_validate(t->mm, t->pid, ctx->err)) < 0)
		return r;
	t->threads = calloc(t->core->n_threads, sizeof(*t->threads));
	if (!t->threads)
		return fe_set(ctx->err, ENOMEM, "thread list");
	t->nthreads = t->core->n_threads;
	for (size_t i = 0; i < t->nthreads; i++) {
		t->threads[i].tid = t->core->threads[i]->tid;
		t->threads[i].core = t->core->threads[i];
		t->threads[i].inj.memfd = -1;
	}
	return 0;
}

static uint64_t pstree_pid_key(const void *arr, size_t i)
{
	return (uint32_t)((const Ferry__Pstree *)arr)->tasks[i]->pid;
}

static uint64_t int_key(const void *arr, size_t i)
{
	return (uint32_t)((const int32_t *)arr)[i];
}

/* No pid or tid appears twice in the tree. */
static int check_tids(struct restore_ctx *ctx)
{
	const Ferry__Pstree *tree = ctx->pstree;
	size_t n = 0;
	for (size_t i = 0; i < tree->n_tasks; i++)
		n += tree->tasks[i]->n_threads;
	if (n > IMG_MAX_THREADS)
		return fe_msg(ctx->err, EBADMSG, "pstree.img: %zu threads, more than %d", n, IMG_MAX_THREADS);
	_cleanup_free_ int32_t *all = malloc((n + 1) * sizeof(*all));
	if (!all)
		return fe_set(ctx->err, ENOMEM, "thread list");
	n = 0;
	for (size_t i = 0; i < tree->n_tasks; i++)
		for (size_t k = 0; k < tree->tasks[i]->n_threads; k++)
			all[n++] = tree->tasks[i]->threads[k];
	struct id_index ix;
	uint64_t dup;
	int r = idx_build(&ix, n, int_key, all, &dup);
	idx_free(&ix);
	if (r == -EEXIST)
		return fe_msg(ctx->err, EBADMSG, "pstree.img: pid or tid %d appears twice", (int)dup);
	return r < 0 ? fe_set(ctx->err, r, "thread list") : 0;
}

/* Parents must come before children; each non-root task's parent is an earlier entry. */
static int link_tree(struct restore_ctx *ctx)
{
	const Ferry__Pstree *tree = ctx->pstree;
	struct id_index pids;
	if (tree->n_tasks < 1 || tree->tasks[0]->pid != ctx->inv->root_pid || tree->n_tasks > IMG_MAX_TASKS)
		return fe_msg(ctx->err, EBADMSG, "pstree.img: no tree rooted at pid %d", ctx->inv->root_pid);
	int r = check_tids(ctx);
	if (r < 0 || (r = idx_build(&pids, tree->n_tasks, pstree_pid_key, tree, NULL)) < 0)
		return r < 0 && r != -ENOMEM ? r : fe_set(ctx->err, ENOMEM, "task list");
	ctx->tasks = calloc(tree->n_tasks, sizeof(*ctx->tasks));
	if (!ctx->tasks)
		r = fe_set(ctx->err, ENOMEM, "task list");
	ctx->ntasks = ctx->tasks ? tree->n_tasks : 0;
	for (size_t i = 0; r == 0 && i < ctx->ntasks; i++) {
		struct rtask *t = &ctx->tasks[i];
		const Ferry__PstreeEntry *e = tree->tasks[i];
		long k = i ? idx_find(&pids, (uint32_t)e->ppid) : -1;
		t->pstree = tree->tasks[i];
		t->pid = e->pid;
		t->parent = k >= 0 && (size_t)k < i && !tree->tasks[k]->zombie ? (int)k : -1;
		t->zombie = e->zombie;
		t->ps.fd = -1;
		if (e->pid <= 0 || e->n_threads < 1 || e->threads[0] != e->pid || (i > 0 && t->parent < 0) ||
		    (i == 0 && e->zombie))
			r = fe_msg(ctx->err, EBADMSG, "pstree.img: entry %zu (pid %d) is malformed or has no parent before it",
				   i, e->pid);
	}
	idx_free(&pids);
	return r;
}

static int stage_read_images(struct restore_ctx *ctx)
{
	int r = READ_IMG(ctx, IMG_INVENTORY, 0, &ctx->inv);
	if (r == -ENOENT)
		return fe_msg(ctx->err, ENOENT, "%s holds no complete image (inventory.img is missing)", ctx->opts->dir);
	if (r == 0 && ctx->inv->pre_dump)
		return fe_msg(ctx->err, EINVAL, "%s is a pre-dump (memory only): restore the dump made after it "
			      "with --prev-images-dir", ctx->opts->dir);
	if (r < 0 || (r = READ_IMG(ctx, IMG_PSTREE, 0, &ctx->pstree)) < 0 ||
	    (r = READ_IMG(ctx, IMG_FILES, 0, &ctx->files)) < 0 || (r = sk_restore_read(ctx)) < 0 ||
	    (r = link_tree(ctx)) < 0 ||
	    (r = files_validate(ctx->files, &ctx->file_idx, ctx->err)) < 0)
		return r;
	for (size_t i = 0; i < ctx->ntasks; i++)
		if (!ctx->tasks[i].zombie && ((r = read_task(ctx, &ctx->tasks[i])) < 0 ||
					      (r = files_validate_fds(&ctx->file_idx, ctx->tasks[i].fds, ctx->tasks[i].pid,
								      ctx->err)) < 0))
			return r;
	return 0;
}

static int count_piece(const struct chain_piece *p, void *arg)
{
	return 0;
}

/* The parent images: opened, every store verified, every run left to them resolvable. */
static int verify_chain(struct restore_ctx *ctx)
{
	int r = chain_open(&ctx->src, ctx->inv, &ctx->chain, ctx->err);
	if (r == 0)
		r = chain_verify_pages(ctx->chain, ctx->err);
	for (size_t k = 0; r == 0 && k < ctx->ntasks; k++) {
		const Ferry__Pagemap *pm = ctx->tasks[k].pagemap;
		for (size_t i = 0; pm && r == 0 && i < pm->n_entries; i++)
			if (pm->entries[i]->flags & PM_IN_PARENT)
				r = chain_resolve(ctx->chain, ctx->tasks[k].pid, pm->entries[i]->vaddr,
						  pm->entries[i]->nr_pages * PS_PAGE, count_piece, NULL, ctx->err);
	}
	return r;
}

static int stage_verify_pages(struct restore_ctx *ctx)
{
	uint64_t t0 = now_us();
	int r = verify_chain(ctx);
	for (size_t i = 0; i < ctx->ntasks && r == 0; i++) {
		struct rtask *t = &ctx->tasks[i];
		if (t->zombie)
			continue;
		char name[64];
		int fd = img_src_fd(&ctx->src, img_name(name, sizeof(name), IMG_PAGES, t->pid), ctx->err);
		r = fd < 0 ? fd : pages_open_fd(fd, t->pid, t->pagemap, &ctx->src.ident, &t->ps, ctx->err);
		if (r == 0)
			r = pages_verify(&t->ps, t->pagemap, ctx->err);
	}
	ctx->stats.verify_us = now_us() - t0;
	ctx->stats.has_verify_us = 1;
	return r;
}

/* Who holds a number as its process group or session: the processes of the system, read once. */
struct pid_user {
	pid_t pid, pgid, sid;
	char state;
};

static size_t read_pid_users(struct pid_user **out)
{
	_cleanup_closedir_ DIR *d = opendir("/proc");
	struct dirent *de;
	size_t n = 0, cap = 0;
	*out = NULL;
	while (d && (de = readdir(d))) {
		struct pid_user u = { .pid = (pid_t)strtol(de->d_name, NULL, 10) };
		int ppid;
		if (u.pid <= 0 || task_read_stat(u.pid, &ppid, &u.pgid, &u.sid, &u.state) < 0)
			continue;
		if (n == cap) {
			struct pid_user *m = realloc(*out, (cap = cap ? 2 * cap : 256) * sizeof(*m));
			if (!m)
				break;
			*out = m;
		}
		(*out)[n++] = u;
	}
	return n;
}

static int pid_taken(struct restore_ctx *ctx, pid_t pid, pid_t by)
{
	char path[64];
	_cleanup_free_ char *comm = NULL;
	if (read_file(PROC_PATH(path, by, "comm"), &comm, NULL) == 0)
		comm[strcspn(comm, "\n")] = 0;
	if (by == pid)
		return fe_msg(ctx->err, EEXIST, "pid %d is taken by a running process (%s): stop it or restore elsewhere",
			      pid, comm ? comm : "?");
	return fe_msg(ctx->err, EEXIST, "pid %d is taken: it is the process group or session of running process "
		      "%d (%s): stop it or restore elsewhere", pid, by, comm ? comm : "?");
}

/*
 * 1 while pid is held only by zombies (itself, or zombies whose group or session it names), 0 when
 * free, an error naming a live holder. A number stays taken while any process has it as its
 * process group or session, even after the process of that number is gone.
 */
static int pid_busy(struct restore_ctx *ctx, pid_t pid, const struct pid_user *u, size_t n)
{
	int ppid, pgid, sid, zombie = 0;
	char state;
	if (task_read_stat(pid, &ppid, &pgid, &sid, &state) == 0)	/* a thread's number too */
		return state == 'Z' ? 1 : pid_taken(ctx, pid, pid);
	for (size_t i = 0; i < n; i++) {
		if (u[i].pgid != pid && u[i].sid != pid)
			continue;
		if (u[i].state != 'Z' && task_read_stat(u[i].pid, &ppid, &pgid, &sid, &state) == 0 &&
		    (pgid == pid || sid == pid) && state != 'Z')
			return pid_taken(ctx, pid, u[i].pid);
		zombie = 1;
	}
	return zombie;
}

/* Every PID of the tree free; zombies are waited for a while (PID 1 may reap late). */
static int stage_check_pids(struct restore_ctx *ctx)
{
	pid_t held = 0;
	for (int round = 0; round < 1000; round++) {
		_cleanup_free_ struct pid_user *u = NULL;
		size_t n = read_pid_users(&u);
		held = 0;
		for (size_t k = 0; k < ctx->ntasks && !held; k++)
			for (size_t i = 0; i < ctx->tasks[k].pstree->n_threads && !held; i++) {
				pid_t pid = ctx->tasks[k].pstree->threads[i];
				int r = pid_busy(ctx, pid, u, n);
				if (r < 0)
					return r;
				held = r ? pid : 0;
			}
		if (!held)
			return 0;
		usleep(10000);
	}
	return fe_msg(ctx->err, EEXIST, "pid %d is held by a zombie that its parent does not reap", held);
}

static int stage_open_files(struct restore_ctx *ctx)
{
	int r = shm_restore_create(ctx);
	if (r < 0)
		return r;
	ctx->tty_fd = -1;
	if (ctx->opts->shell_job)
		for (int fd = 0; fd < 3 && ctx->tty_fd < 0; fd++)
			if (isatty(fd))
				ctx->tty_fd = fd;
	return files_open_all(ctx);
}

/*
 * The root is ferry's child, or ferry's sibling (CLONE_PARENT): with --restore-sibling, and
 * when ferry exits first (-d) and the root has a parent-death signal (unless the caller waits
 * for the root). A sibling's parent is the restorer's caller, as the original's was its own
 * caller, and its parent-death signal fires when that one dies, not when ferry exits. A sibling
 * is seized instead of asking to be traced (its parent would become the tracer).
 */
static int fork_root(struct restore_ctx *ctx, struct rtask *t)
{
	int sv[2] = { -1, -1 };
	ctx->hold_fd = -1;
	int pdeath = t->core->has_pdeath_sig && t->core->pdeath_sig;
	for (size_t i = 1; i < t->nthreads; i++)	/* a thread's own counts too */
		pdeath |= t->threads[i].core->attrs && t->threads[i].core->attrs->pdeath_sig;
	ctx->sibling = ctx->opts->restore_sibling || (ctx->opts->detached && !ctx->opts->caller_waits && pdeath);
	if (ctx->sibling && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return fe_set(ctx->err, errno, "socketpair");
	ctx->hold_fd = sv[1];
	int sig = t->pstree->has_exit_signal ? t->pstree->exit_signal : SIGCHLD;
	pid_t tid = t->pid;
	struct clone_args ca = { .flags = ctx->sibling ? CLONE_PARENT : 0, .exit_signal = ctx->sibling ? 0 : sig,
				 .set_tid = (uintptr_t)&tid, .set_tid_size = 1 };
	fflush(NULL);
	long pid;
	/* a number whose last holder was reaped a moment ago can still be on its way out: a short retry */
	for (int i = 0; (pid = syscall(SYS_clone3, &ca, sizeof(ca))) < 0 && errno == EEXIST && i < 200; i++)
		usleep(10000);
	if (pid == 0)
		restore_child_main(ctx, t);
	int e = errno, st, r;
	if (sv[1] >= 0)
		close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return fe_set(ctx->err, e, "create pid %d (clone3 with set_tid)", t->pid);
	}
	t->alive = 1;
	if (ctx->sibling) {
		char c;	/* it says it is set up; EOF if it died */
		r = read(sv[0], &c, 1) == 1 ? pt_seize(t->pid, NULL, 0, ctx->err) : -ECHILD;
		close(sv[0]);
	} else {
		r = pt_wait_stop(t->pid, &st);
	}
	return r < 0 ? fe_msg(ctx->err, ECHILD, "pid %d died while setting itself up", t->pid) : 0;
}

static int stage_fork_root(struct restore_ctx *ctx)
{
	struct rtask *t = &ctx->tasks[0];
	uint64_t t0 = now_us();
	ctx->restorer_pid = getpid();
	ctx->restorer_ppid = getppid();
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	int r = fork_root(ctx, t);
	if (r < 0)
		return r;
	long opts = PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_EXITKILL | PTRACE_O_SUSPEND_SECCOMP;
	if (ptrace(PTRACE_SETOPTIONS, t->pid, NULL, (void *)opts) < 0)
		return fe_set(ctx->err, errno, "trace pid %d", t->pid);
	t->threads[0].attached = 1;
	ctx->stats.forking_us += now_us() - t0;
	ctx->stats.has_forking_us = 1;
	return 0;
}

static int stage_root_memory(struct restore_ctx *ctx)
{
	struct rtask *t = &ctx->tasks[0];
	int r;
	uint64_t total = 0;
	for (size_t k = 0; k < ctx->ntasks; k++)
		for (size_t i = 0; !ctx->tasks[k].zombie && i < ctx->tasks[k].pagemap->n_entries; i++)
			total += (uint64_t)ctx->tasks[k].pagemap->entries[i]->nr_pages * 4096;
	progress_start(&ctx->progress, log_get_console_level() >= LOG_WARN, "restored");
	progress_set_total(&ctx->progress, total, "tree not running yet");
	if ((r = mem_restore_prepare(ctx, t)) < 0 || (r = mem_restore_vmas(ctx, t, NULL)) < 0 ||
	    (r = mem_restore_mm_fields(ctx, t)) < 0)
		return r;
	return 0;
}

static int stage_objects(struct restore_ctx *ctx)
{
	int r;
	for (size_t k = 0; k < ctx->ntasks; k++) {
		struct rtask *t = &ctx->tasks[k];
		if (t->zombie)
			continue;
		for (int i = 0; task_objects[i]; i++)
			if (task_objects[i]->restore_inject && (r = task_objects[i]->restore_inject(ctx, t)) < 0)
				return fe_wrap(ctx->err, r, "restore %s", task_objects[i]->name);
		for (size_t n = 0; n < t->nthreads; n++)
			for (int i = 0; task_objects[i]; i++)
				if (task_objects[i]->restore_thread &&
				    (r = task_objects[i]->restore_thread(ctx, t, &t->threads[n])) < 0)
					return fe_wrap(ctx->err, r, "thread %d: restore %s", t->threads[n].tid,
						       task_objects[i]->name);
		for (int i = 0; task_objects[i]; i++)
			if (task_objects[i]->restore_late && (r = task_objects[i]->restore_late(ctx, t)) < 0)
				return fe_wrap(ctx->err, r, "restore %s", task_objects[i]->name);
	}
	return 0;
}

/* The tree is complete and still stopped: the caller's post-restore and pre-resume actions. */
static int stage_pre_resume(struct restore_ctx *ctx)
{
	const struct restore_opts *o = ctx->opts;
	static const char *const stages[] = { "post-restore", "pre-resume" };
	for (size_t i = 0; o->hook && i < ARRAY_SIZE(stages); i++)
		if (o->hook(stages[i], ctx->tasks[0].pid, o->hook_arg) != 0)
			return fe_msg(ctx->err, ECANCELED, "the %s action failed", stages[i]);
	return 0;
}

/* Last injection, then registers, FPU state and masks; children and threads go before leaders. */
static int stage_release(struct restore_ctx *ctx)
{
	int r;
	for (size_t k = 0; k < ctx->ntasks; k++) {
		struct rtask *t = &ctx->tasks[k];
		if (t->zombie)
			continue;
		if ((r = mem_restore_drop_trampoline(ctx, t)) < 0)
			return r;
		for (size_t i = 0; i < t->nthreads; i++) {
			inj_close(&t->threads[i].inj);
			if ((r = thread_restore_final(ctx, &t->threads[i])) < 0)
				return r;
		}
	}
	progress_end(&ctx->progress);
	/* ferry's own ends go first: a restored reader must see EOF once the last writer is gone. */
	files_close_all(ctx);
	/*
	 * --leave-stopped: a SIGSTOP queued while traced is the first thing each task meets; a task
	 * the image says was stopped is already in its own stop (restore-stop.c) and stays in it.
	 */
	for (size_t k = 0; ctx->opts->leave_stopped && k < ctx->ntasks; k++)
		if (!ctx->tasks[k].zombie && !ctx->tasks[k].pstree->stop_signal)
			kill(ctx->tasks[k].pid, SIGSTOP);
	struct restore_guard g;
	if ((r = guard_start(ctx, &g)) < 0)
		return r;
	for (size_t k = ctx->ntasks; k-- > 0 && r == 0;) {
		struct rtask *t = &ctx->tasks[k];
		for (size_t i = t->nthreads; !t->zombie && i-- > 0 && r == 0;) {
			if ((r = pt_detach(t->threads[i].tid, 0)) < 0)
				r = fe_set(ctx->err, r, "release thread %d", t->threads[i].tid);
			else
				t->threads[i].attached = 0;
		}
		if (r == 0 && k == ctx->ntasks - 1 && fault_point("restore-mid-release"))
			r = fe_msg(ctx->err, EIO, "fault injected in the middle of the release");
	}
	guard_stop(&g);	/* on failure, restore_abort kills the tree */
	return r;
}

static void restore_abort(struct restore_ctx *ctx)
{
	for (size_t k = ctx->ntasks; k-- > 0;)
		if (ctx->tasks[k].alive)
			kill(ctx->tasks[k].pid, SIGKILL);
	for (size_t k = ctx->ntasks; k-- > 0;) {
		struct rtask *t = &ctx->tasks[k];
		if (!t->alive)
			continue;
		for (size_t i = t->nthreads; i-- > 1;)
			if (t->threads[i].attached)
				waitpid(t->threads[i].tid, NULL, __WALL);
		while (waitpid(t->pid, NULL, __WALL) < 0 && errno == EINTR)
			;
		t->alive = 0;
	}
}

/* Relative names go into the work directory (as CRIU's); published whole, never through a link. */
static void write_pidfile(struct restore_ctx *ctx)
{
	const struct restore_opts *o = ctx->opts;
	if (!o->pidfile)
		return;
	char path[4096], buf[32];
	struct ferry_err e = { 0 };
	record_path(path, sizeof(path), o->work_dir, o->dir, o->pidfile);
	int n = snprintf(buf, sizeof(buf), "%d\n", ctx->tasks[0].pid);
	int r = fault_point("restore-write-pidfile") ? fe_msg(&e, EIO, "fault injected")
						       : safe_write_path(path, buf, (size_t)n, 0644, &e);
	if (r < 0)
		pr_warn("cannot write pidfile %s: %s\n", path, fe_str(&e, r));
}

static void free_images(struct restore_ctx *ctx)
{
	files_close_all(ctx);
	ghost_restore_finish(ctx, 0);	/* what is left of it: nothing is removed */
	chain_close(ctx->chain);
	ctx->chain = NULL;
	for (size_t k = 0; k < ctx->ntasks; k++) {
		struct rtask *t = &ctx->tasks[k];
		for (size_t i = 0; t->threads && i < t->nthreads; i++)
			inj_close(&t->threads[i].inj);
		free(t->threads);
		pages_close(&t->ps);
		img_free((ProtobufCMessage *)t->core);
		img_free((ProtobufCMessage *)t->mm);
		img_free((ProtobufCMessage *)t->fds);
		img_free((ProtobufCMessage *)t->pagemap);
	}
	free(ctx->tasks);
	idx_free(&ctx->file_idx);
	idx_free(&ctx->memfd_idx);
	sk_restore_free(ctx);
	img_free((ProtobufCMessage *)ctx->files);
	img_free((ProtobufCMessage *)ctx->pstree);
	img_free((ProtobufCMessage *)ctx->inv);
}

/* Into the work directory (by default the image's), as part of the image (engine/stats.h). */
static int write_stats(struct restore_ctx *ctx, struct ferry_err *err)
{
	struct transform_opts to = { .key_file = ctx->opts->key_file };
	return stats_write_img(ctx->work_dirfd >= 0 ? ctx->work_dirfd : ctx->dirfd, &ctx->src.ident,
			       to.key_file ? &to : NULL, IMG_STATS_RESTORE, &ctx->stats.base, err);
}

/*
 * The record of a restore whose tree runs: 0 (written, or a warning says why not), or
 * -ECANCELED when a cancel request came past the release: no record then, for it would show
 * a run that was asked to stop as one that simply completed.
 */
static int finish_stats(struct restore_ctx *ctx, uint64_t t0)
{
	Ferry__RestoreStats *s = &ctx->stats;
	s->has_total_us = s->has_memrestore_us = s->has_pages_restored = s->has_tasks = s->has_threads = 1;
	s->total_us = now_us() - t0;
	for (size_t k = 0; k < ctx->ntasks; k++) {
		s->tasks++;
		s->threads += ctx->tasks[k].nthreads;
	}
	struct ferry_err e2 = { 0 };
	int r = fault_point("restore-write-stats") ? fe_msg(&e2, EIO, "fault injected") : 0;
	if (r == 0 && ctx->opts->cancel && *ctx->opts->cancel) {
		pr_warn("cancelled too late: the tree runs (pid %d); no statistics written\n", ctx->tasks[0].pid);
		return -ECANCELED;
	}
	if (r == 0)
		r = write_stats(ctx, &e2);
	if (r < 0)
		pr_warn("stats-restore.img not written: %s\n", fe_str(&e2, r));
	return 0;
}

int restore_check_image(struct img_src *src, struct ferry_err *err)
{
	struct restore_opts o = { .dir = src->dir };
	struct restore_ctx ctx = { .opts = &o, .dirfd = -1, .work_dirfd = -1, .src = *src, .tty_fd = -1, .err = err };
	int r = stage_read_images(&ctx);
	if (r == 0)
		r = stage_verify_pages(&ctx);
	free_images(&ctx);
	return r;
}

int ferry_restore(const struct restore_opts *o, int *wstatus, struct ferry_err *err)
{
	struct restore_ctx ctx = { .opts = o, .dirfd = -1, .work_dirfd = -1, .src = { .dirfd = -1 }, .tty_fd = -1,
				   .err = err };
	static const struct { const char *name; int (*fn)(struct restore_ctx *); } stages[] = {
		{ "open-dir", stage_open_dir },
		{ "read-images", stage_read_images },
		{ "verify-pages", stage_verify_pages },
		{ "check-pids", stage_check_pids },
		{ "open-files", stage_open_files },
		{ "fork-root", stage_fork_root },
		{ "root-memory", stage_root_memory },
		{ "tree", restore_tree_tasks },
		{ "threads", restore_tree_threads },
		{ "sessions", restore_tree_sessions },
		{ "stops", restore_tree_stops },
		{ "objects", stage_objects },
		{ "pre-resume", stage_pre_resume },
		{ "release", stage_release },
	};
	ferry__restore_stats__init(&ctx.stats);
	pt_reports_clear();
	fault_set_cancel(o->cancel);
	uint64_t t0 = now_us();
	int r = 0;
	for (size_t i = 0; i < ARRAY_SIZE(stages) && r == 0; i++) {
		uint64_t ts = now_us();
		if (o->cancel && *o->cancel)	/* not inside a stage: a release that began goes to its end */
			r = fe_msg(err, ECANCELED, "cancelled");
		if (r == 0)
			r = stages[i].fn(&ctx);
		pr_debug("stage %s: %s in %llu us\n", stages[i].name, r ? "failed" : "done",
			 (unsigned long long)(now_us() - ts));
		if (r == 0 && fault_stage("restore-after", stages[i].name))
			r = fe_msg(err, EIO, "fault injected after %s", stages[i].name);
	}
	if (r < 0) {
		pr_debug("restore from %s failed: %s\n", o->dir, fe_str(err, r));
		progress_end(&ctx.progress);
		restore_abort(&ctx);
		shm_restore_finish(&ctx, 1);
	} else {
		shm_restore_finish(&ctx, 0);
		ghost_restore_finish(&ctx, 1);	/* the tree runs: the hidden links of --link-remap go */
		/* The tree runs: its pid first; then a cancel that came during the release may end us. */
		write_pidfile(&ctx);
		if (o->released)
			o->released(o->released_arg);
		if (finish_stats(&ctx, t0) == 0) {
			pr_info("pid %d restored in %.3f ms\n", ctx.tasks[0].pid, ctx.stats.total_us / 1000.0);
			if (o->display_stats)
				stats_restore_print(&ctx.stats);
			if (o->stats_json)
				stats_json_write(&ctx.stats.base, "restore", o->stats_json);
		}
		log_close_file();
		pid_t root = ctx.tasks[0].pid;
		free_images(&ctx);
		ctx.ntasks = 0;
		if (!o->detached && wstatus) {
			int st = 0;
			while (waitpid(root, &st, __WALL) < 0 && errno == EINTR)
				;
			*wstatus = st;
		}
	}
	if (ctx.ntasks)
		free_images(&ctx);
	img_src_close(&ctx.src);
	if (ctx.dirfd >= 0)
		close(ctx.dirfd);
	if (ctx.work_dirfd >= 0)
		close(ctx.work_dirfd);
	log_close_file();
	fault_set_cancel(NULL);
	return r;
}
