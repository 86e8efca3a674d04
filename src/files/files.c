/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The descriptor table. Dump: /proc/PID/fd(info) plus a stolen duplicate of every fd; open file
 * descriptions shared within or across tasks (kcmp) get one file id. Restore: every description
 * is created once in ferry (files_open_all), then each task fetches its own with pidfd_getfd()
 * by injection and places it at its fd number (files_install_injected).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <linux/sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#define LOG_PREFIX "files: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "files/files.h"
#include "files/path.h"

/* Weak: a module that is not linked in simply is not offered. */
#define OPTIONAL_OPS(name) extern const struct file_ops name __attribute__((weak))
OPTIONAL_OPS(pipe_file_ops);
OPTIONAL_OPS(unix_file_ops);
OPTIONAL_OPS(inet_file_ops);
OPTIONAL_OPS(eventfd_file_ops);
OPTIONAL_OPS(signalfd_file_ops);
OPTIONAL_OPS(timerfd_file_ops);
OPTIONAL_OPS(epoll_file_ops);
OPTIONAL_OPS(inotify_file_ops);
OPTIONAL_OPS(pty_file_ops);
OPTIONAL_OPS(memfd_file_ops);
OPTIONAL_OPS(opath_file_ops);
OPTIONAL_OPS(pidfd_file_ops);
OPTIONAL_OPS(fanotify_file_ops);
OPTIONAL_OPS(nsfd_file_ops);
OPTIONAL_OPS(proc_file_ops);
OPTIONAL_OPS(netlink_file_ops);
OPTIONAL_OPS(packet_file_ops);

/*
 * In match order: /proc files before regular files, O_PATH descriptors of nodes (opath.c) before
 * every kind that would open them, /dev/tty and ptys before other devices.
 */
static const struct file_ops *const file_kinds[] = {
	&memfd_file_ops, &proc_file_ops, &opath_file_ops, &reg_file_ops, &dir_file_ops, &pty_file_ops,
	&ctty_file_ops, &tty_file_ops, &chr_file_ops, &pipe_file_ops, &unix_file_ops, &inet_file_ops, &eventfd_file_ops,
	&signalfd_file_ops, &timerfd_file_ops, &epoll_file_ops, &inotify_file_ops, &fanotify_file_ops,
	&pidfd_file_ops, &nsfd_file_ops,
	&netlink_file_ops, &packet_file_ops,
};

/* Status flags F_SETFL changes (O_ASYNC is fown.c's: it must be set in the task). */
#define SETFL_FLAGS (O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME)

int files_open_flags(uint32_t flags)
{
	return (int)(flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_CLOEXEC | O_ASYNC));
}

static const struct file_ops *kind_ops(Ferry__FileKind kind)
{
	for (size_t i = 0; i < ARRAY_SIZE(file_kinds); i++)
		if (file_kinds[i] && file_kinds[i]->kind == kind)
			return file_kinds[i];
	return NULL;
}

const char *fdinfo_field(const struct fd_info *fi, const char *key)
{
	return fi->fdinfo ? proc_field(fi->fdinfo, key) : NULL;
}

static int read_fdinfo(pid_t pid, int fd, struct fd_info *fi, char **text)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	int r = read_file(path, text, NULL);
	if (r < 0)
		return r;
	const char *pos = proc_field(*text, "pos"), *flags = proc_field(*text, "flags");
	if (!pos || !flags)
		return -EIO;
	fi->fdinfo = *text;
	fi->pos = strtoull(pos, NULL, 10);
	uint32_t f = strtoul(flags, NULL, 8);
	fi->cloexec = !!(f & O_CLOEXEC);
	fi->flags = f & ~O_CLOEXEC;
	return 0;
}

/*
 * Descriptions seen so far, found in O(log n): ctx->seen_order lists ctx->seen sorted by device
 * and inode, and among entries of one inode (every eventfd, timerfd, epoll… shares one anonymous
 * inode) by kcmp(KCMP_FILE)'s order of their open file descriptions.
 */
static int key_cmp(const struct fd_seen *s, const struct stat *st)
{
	if (s->dev != (uint64_t)st->st_dev)
		return s->dev < (uint64_t)st->st_dev ? -1 : 1;
	if (s->ino != (uint64_t)st->st_ino)
		return s->ino < (uint64_t)st->st_ino ? -1 : 1;
	return 0;
}

/* The first position in seen_order at or after lo whose key is above st's (strict) or not below it. */
static size_t key_bound(const struct dump_ctx *ctx, const struct stat *st, size_t lo, int strict)
{
	size_t hi = ctx->norder;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = key_cmp(&ctx->seen[ctx->seen_order[mid]], st);
		if (c < 0 || (strict && c == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Where (pid, fd) goes in seen_order (*pos), and the index in seen of an entry with the same open
 * file description (*eq, -1 if none). kcmp answers 0 (same), 1 (the entry's is below) or 2; any
 * other answer falls back to trying each entry of the inode.
 */
static void seen_find(const struct dump_ctx *ctx, pid_t pid, int fd, const struct stat *st, size_t *pos, long *eq)
{
	size_t first = key_bound(ctx, st, 0, 0), last = key_bound(ctx, st, first, 1), lo = first, hi = last;
	*eq = -1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct fd_seen *s = &ctx->seen[ctx->seen_order[mid]];
		long k = syscall(SYS_kcmp, s->pid, pid, KCMP_FILE, s->fd, fd);
		if (k == 0) {
			*eq = ctx->seen_order[mid];
			*pos = mid;
			return;
		}
		if (k != 1 && k != 2)
			break;
		if (k == 1)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo < hi ? last : lo;
	for (size_t i = first; lo < hi && i < last; i++) {
		const struct fd_seen *s = &ctx->seen[ctx->seen_order[i]];
		if (syscall(SYS_kcmp, s->pid, pid, KCMP_FILE, s->fd, fd) == 0) {
			*eq = ctx->seen_order[i];
			return;
		}
	}
}

/* The file id of an earlier fd (this task or another) sharing fd's open file description. */
static int shared_id(struct dump_ctx *ctx, pid_t pid, int fd, const struct stat *st, uint32_t *id)
{
	size_t pos;
	long eq;
	seen_find(ctx, pid, fd, st, &pos, &eq);
	if (eq < 0)
		return 0;
	*id = ctx->seen[eq].file_id;
	return 1;
}

static int remember(struct dump_ctx *ctx, pid_t pid, int fd, const struct stat *st, uint32_t id)
{
	if (ctx->nseen == ctx->capseen) {
		size_t cap = ctx->capseen ? ctx->capseen * 2 : 64;
		struct fd_seen *n = realloc(ctx->seen, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		ctx->seen = n;
		uint32_t *o = realloc(ctx->seen_order, cap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		ctx->seen_order = o;
		ctx->capseen = cap;
	}
	size_t pos;
	long eq;
	seen_find(ctx, pid, fd, st, &pos, &eq);
	memmove(&ctx->seen_order[pos + 1], &ctx->seen_order[pos], (ctx->norder - pos) * sizeof(*ctx->seen_order));
	ctx->seen_order[pos] = (uint32_t)ctx->nseen;
	ctx->norder++;
	ctx->seen[ctx->nseen++] = (struct fd_seen){ pid, fd, st->st_dev, st->st_ino, id };
	return 0;
}

static int add_file(struct dump_ctx *ctx, Ferry__FileEntry *fe)
{
	if (ctx->files.n_files == ctx->cap_files) {
		size_t cap = ctx->cap_files ? ctx->cap_files * 2 : 64;
		Ferry__FileEntry **n = ARENA_ARRAY(&ctx->arena, Ferry__FileEntry *, cap);
		if (!n)
			return -ENOMEM;
		if (ctx->files.n_files)
			memcpy(n, ctx->files.files, ctx->files.n_files * sizeof(*n));
		ctx->files.files = n;
		ctx->cap_files = cap;
	}
	ctx->files.files[ctx->files.n_files++] = fe;
	return 0;
}

static const struct file_ops *match_kind(struct dump_ctx *ctx, const struct fd_info *fi)
{
	for (size_t i = 0; i < ARRAY_SIZE(file_kinds); i++)
		if (file_kinds[i] && file_kinds[i]->match(fi, ctx->opts))
			return file_kinds[i];
	return NULL;
}

int files_dump_object(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, uint32_t *id)
{
	const struct file_ops *ops = match_kind(ctx, fi);
	if (!ops)
		return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: fd %d is %s, which this version cannot checkpoint",
			      t->pid, fi->fd, fi->link);
	Ferry__FileEntry *fe = ARENA_NEW(&ctx->arena, Ferry__FileEntry);
	if (!fe)
		return fe_set(ctx->err, ENOMEM, "file entry");
	ferry__file_entry__init(fe);
	fe->id = ++ctx->next_file_id;
	fe->kind = ops->kind;
	fe->flags = fi->flags;
	fe->has_pos = 1;
	fe->pos = fi->pos;
	/* known before its dump runs: a queue holding it in flight (a cycle) finds it by kcmp */
	int r = fi->fd >= 0 ? remember(ctx, t->pid, fi->fd, &fi->st, fe->id) :
		fi->held ? remember(ctx, getpid(), fi->stolen, &fi->st, fe->id) : 0;
	if (r < 0)
		return fe_set(ctx->err, ENOMEM, "fd table");
	r = ops->dump(ctx, t, fi, fe);
	if (r == 0 && fi->stolen >= 0)
		r = fown_dump(ctx, t, fi, fe);
	if (r == 0 && fi->held && fe->fown)	/* set again through a task's fd: none holds it */
		r = fe_msg(ctx->err, EOPNOTSUPP, "in flight with a signal-driven I/O owner or O_ASYNC (F_SETOWN), "
			   "which only a task holding it could set again: not supported");
	if (r < 0)
		return fi->fd >= 0 ? fe_wrap(ctx->err, r, "pid %d: fd %d (%s)", t->pid, fi->fd, fi->link)
				   : fe_wrap(ctx->err, r, "pid %d: %s", t->pid, fi->link);	/* in flight, or mapped */
	if (add_file(ctx, fe) < 0)
		return fe_set(ctx->err, ENOMEM, "file table");
	*id = fe->id;
	return 0;
}

static int dump_one_fd(struct dump_ctx *ctx, struct dtask *t, int fd)
{
	char path[64];
	_cleanup_free_ char *link = NULL, *info = NULL;
	struct fd_info fi = { .fd = fd, .stolen = -1 };
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", t->pid, fd);
	int lr = read_link(path, &link);
	if (lr == -ENAMETOOLONG) {
		char what[32];
		snprintf(what, sizeof(what), "fd %d", fd);
		return path_refuse_long(ctx, t, path, what);	/* files/reg.c */
	}
	if (lr < 0 || stat(path, &fi.st) < 0 || read_fdinfo(t->pid, fd, &fi, &info) < 0)
		return fe_set(ctx->err, lr < 0 ? -lr : errno ? errno : EIO, "pid %d: inspect fd %d", t->pid, fd);
	fi.link = link;

	Ferry__FdEntry *e = ARENA_NEW(&ctx->arena, Ferry__FdEntry);
	if (!e)
		return fe_set(ctx->err, ENOMEM, "fd table");
	ferry__fd_entry__init(e);
	e->fd = fd;
	e->has_cloexec = 1;
	e->cloexec = fi.cloexec;
	int r = 0;
	if (!shared_id(ctx, t->pid, fd, &fi.st, &e->file_id)) {
		fi.stolen = syscall(SYS_pidfd_getfd, t->pidfd, fd, 0);
		if (fi.stolen < 0)
			return fe_set(ctx->err, errno, "pid %d: take a look at fd %d (pidfd_getfd)", t->pid, fd);
		r = files_dump_object(ctx, t, &fi, &e->file_id);
		close(fi.stolen);
	} else if (remember(ctx, t->pid, fd, &fi.st, e->file_id) < 0) {
		r = fe_set(ctx->err, ENOMEM, "fd table");
	}
	if (r == 0)
		t->fds->fds[t->fds->n_fds++] = e;
	return r;
}

/*
 * CLONE_FILES / CLONE_FS: which tasks share their table (or fs info) with their parent. Restore
 * forks each task from its parent with the same flag, so sharing with any other task is refused.
 * Each distinct table has one representative in a list kept in kcmp's order: a task that does not
 * share its parent's is looked up there (log n kcmp calls) and added.
 */
static int sharing_type(struct dump_ctx *ctx, int type, pid_t *reps)
{
	size_t nreps = 0;
	for (size_t k = 0; k < ctx->ntasks; k++) {
		struct dtask *t = &ctx->tasks[k];
		const struct dtask *p = t->parent >= 0 ? &ctx->tasks[t->parent] : NULL;
		if (t->zombie)
			continue;
		if (p && !p->zombie && syscall(SYS_kcmp, p->pid, t->pid, type, 0, 0) == 0) {
			if (type == KCMP_FILES)
				t->fds->has_files_shared_with = 1, t->fds->files_shared_with = p->pid;
			else
				t->fds->has_fs_shared_with = 1, t->fds->fs_shared_with = p->pid;
			pr_debug("pid %d shares its %s with its parent %d\n", t->pid, type == KCMP_FILES ? "table" : "fs", p->pid);
			continue;
		}
		size_t lo = 0, hi = nreps;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			long c = syscall(SYS_kcmp, reps[mid], t->pid, type, 0, 0);
			if (c < 0)
				return fe_set(ctx->err, errno, "kcmp(%d, %d)", reps[mid], t->pid);
			if (c == 0)
				return fe_msg(ctx->err, EOPNOTSUPP, "pid %d shares its %s with pid %d, which is not its parent "
					      "(CLONE_%s): not supported", t->pid,
					      type == KCMP_FILES ? "descriptor table" : "cwd, root and umask", reps[mid],
					      type == KCMP_FILES ? "FILES" : "FS");
			if (c == 1)
				lo = mid + 1;
			else
				hi = mid;
		}
		memmove(reps + lo + 1, reps + lo, (nreps - lo) * sizeof(*reps));
		reps[lo] = t->pid;
		nreps++;
	}
	return 0;
}

static int dump_sharing(struct dump_ctx *ctx)
{
	_cleanup_free_ pid_t *reps = calloc(ctx->ntasks + 1, sizeof(*reps));
	if (!reps)
		return fe_set(ctx->err, ENOMEM, "sharing");
	int r = sharing_type(ctx, KCMP_FILES, reps);
	return r < 0 ? r : sharing_type(ctx, KCMP_FS, reps);
}

static int files_dump(struct dump_ctx *ctx, struct dtask *t)
{
	char path[64];
	int r = t == &ctx->tasks[0] ? dump_sharing(ctx) : 0;	/* for the whole tree, once */
	if (r < 0 || (r = tty_dump_ctty(ctx, t)) < 0)
		return r;
	snprintf(path, sizeof(path), "/proc/%d/fd", t->pid);
	_cleanup_closedir_ DIR *d = opendir(path);
	if (!d)
		return fe_set(ctx->err, errno, "open %s", path);
	size_t n = 0, cap = 256;
	_cleanup_free_ int *fds = malloc(cap * sizeof(int));
	struct dirent *de;
	while (fds && (de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		if (n == cap) {
			int *nf = realloc(fds, (cap *= 2) * sizeof(int));
			if (!nf)
				return fe_set(ctx->err, ENOMEM, "fd list");
			fds = nf;
		}
		fds[n++] = atoi(de->d_name);
	}
	t->fds->pid = t->pid;
	t->fds->fds = ARENA_ARRAY(&ctx->arena, Ferry__FdEntry *, n + 1);
	if (!fds || !t->fds->fds)
		return fe_set(ctx->err, ENOMEM, "fd table");
	for (size_t i = 0; i < n; i++)
		if ((r = dump_one_fd(ctx, t, fds[i])) < 0)
			return r;
	return 0;
}

static uint64_t file_id_key(const void *arr, size_t i)
{
	return ((const Ferry__Files *)arr)->files[i]->id;
}

static uint64_t fd_key(const void *arr, size_t i)
{
	return (uint64_t)(int64_t)((const Ferry__FdTable *)arr)->fds[i]->fd;
}

int files_validate(const Ferry__Files *files, struct id_index *ix, struct ferry_err *err)
{
	uint64_t dup;
	if (files->n_files > FILES_MAX)
		return fe_msg(err, EBADMSG, "files.img: %zu open files, more than %u", files->n_files, FILES_MAX);
	for (size_t i = 0; i < files->n_files; i++)
		if (!kind_ops(files->files[i]->kind))
			return fe_msg(err, EBADMSG, "files.img: file %u has a kind (%d) this ferry cannot restore",
				      files->files[i]->id, files->files[i]->kind);
	int r = idx_build(ix, files->n_files, file_id_key, files, &dup);
	if (r == -EEXIST)
		return fe_msg(err, EBADMSG, "files.img: file id %llu appears twice", (unsigned long long)dup);
	return r < 0 ? fe_set(err, r, "index files.img") : 0;
}

int files_validate_fds(const struct id_index *ix, const Ferry__FdTable *fds, int pid, struct ferry_err *err)
{
	struct id_index fx;
	uint64_t dup;
	if (fds->n_fds > FDS_MAX)
		return fe_msg(err, EBADMSG, "fds-%d.img: %zu descriptors, more than %u", pid, fds->n_fds, FDS_MAX);
	for (size_t i = 0; i < fds->n_fds; i++) {
		const Ferry__FdEntry *e = fds->fds[i];
		if (e->fd < 0 || e->fd >= (int)FDS_MAX)
			return fe_msg(err, EBADMSG, "fds-%d.img: descriptor number %d is out of range", pid, e->fd);
		if (idx_find(ix, e->file_id) < 0)
			return fe_msg(err, EBADMSG, "fds-%d.img: fd %d names file %u, which files.img does not hold",
				      pid, e->fd, e->file_id);
	}
	int r = idx_build(&fx, fds->n_fds, fd_key, fds, &dup);
	idx_free(&fx);
	if (r == -EEXIST)
		return fe_msg(err, EBADMSG, "fds-%d.img: fd %lld appears twice", pid, (long long)dup);
	return r < 0 ? fe_set(err, r, "index fds-%d.img", pid) : 0;
}

int files_max_fd(const Ferry__FdTable *fds)
{
	int max = -1;
	for (size_t i = 0; i < fds->n_fds; i++)
		if (fds->fds[i]->fd > max)
			max = fds->fds[i]->fd;
	return max;
}

const Ferry__FileEntry *files_find(const Ferry__Files *files, uint32_t id)
{
	for (size_t i = 0; i < files->n_files; i++)
		if (files->files[i]->id == id)
			return files->files[i];
	return NULL;
}

int files_master_fd(struct restore_ctx *ctx, uint32_t id)
{
	long i = ctx->master ? idx_find(&ctx->file_idx, id) : -1;
	return i < 0 ? -1 : ctx->master[i];
}

const Ferry__FileEntry *files_find_id(struct restore_ctx *ctx, uint32_t id)
{
	long i = idx_find(&ctx->file_idx, id);
	return i < 0 ? NULL : ctx->files->files[i];
}

int files_stash_put(struct restore_ctx *ctx, uint64_t key, int fd)
{
	struct stash_ent *n = realloc(ctx->stash, (ctx->nstash + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	ctx->stash = n;
	ctx->stash[ctx->nstash++] = (struct stash_ent){ key, fd };
	return 0;
}

int files_stash_take(struct restore_ctx *ctx, uint64_t key)
{
	for (size_t i = 0; i < ctx->nstash; i++)
		if (ctx->stash[i].key == key) {
			int fd = ctx->stash[i].fd;
			ctx->stash[i] = ctx->stash[--ctx->nstash];
			return fd;
		}
	return -1;
}

int files_keep(struct restore_ctx *ctx, uint64_t key, int fd)
{
	struct stash_ent *n = realloc(ctx->kept, (ctx->nkept + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	ctx->kept = n;
	ctx->kept[ctx->nkept++] = (struct stash_ent){ key, fd };
	return 0;
}

int files_kept(struct restore_ctx *ctx, uint64_t key)
{
	for (size_t i = 0; i < ctx->nkept; i++)
		if (ctx->kept[i].key == key)
			return ctx->kept[i].fd;
	return -1;
}

/* An --inherit-fd whose key names this file, or -1. */
static int inherited(struct restore_ctx *ctx, const Ferry__FileEntry *fe)
{
	for (size_t i = 0; i < ctx->opts->n_inherit; i++)
		if (fe->path && strcmp(ctx->opts->inherit[i].key, fe->path) == 0)
			return ctx->opts->inherit[i].fd;
	return -1;
}

/*
 * Status flags the kind's open did not reproduce (O_APPEND, O_NONBLOCK, O_DIRECT, O_NOATIME):
 * set on the open file description, which every holder shares.
 */
static int fix_flags(int fd, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return fe_set(err, errno, "F_GETFL");
	if (((uint32_t)fl & SETFL_FLAGS) == (fe->flags & SETFL_FLAGS))
		return 0;
	int want = (fl & ~SETFL_FLAGS & ~O_ASYNC) | (int)(fe->flags & SETFL_FLAGS);
	if (fcntl(fd, F_SETFL, want) < 0)
		return fe_set(err, errno, "set status flags %#o", fe->flags & SETFL_FLAGS);
	return 0;
}

#define OPENING -2	/* master[i] while its open() runs: asked again means a cycle */

/* ferry's descriptor for file i, opened now if its turn has not come yet (a file in flight). */
static int open_index(struct restore_ctx *ctx, size_t i)
{
	const Ferry__FileEntry *fe = ctx->files->files[i];
	const struct file_ops *ops = kind_ops(fe->kind);
	int inh = inherited(ctx, fe), fd, r;
	if (ctx->master[i] >= 0)
		return ctx->master[i];
	if (ctx->master[i] == OPENING)
		return fe_msg(ctx->err, ELOOP, "file %u needs itself to be opened first", fe->id);
	if (inh < 0 && (!ops->open || (ops->phase == FILE_OPEN_LATE && !ctx->late_opened)))
		return fe_msg(ctx->err, EBADMSG, "file %u (%s) cannot be opened before the tasks exist", fe->id, ops->name);
	ctx->master[i] = OPENING;
	if (inh >= 0) {
		fd = fcntl(inh, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			fd = fe_set(ctx->err, errno, "--inherit-fd fd[%d]", inh);
	} else {
		fd = ops->open(ctx, fe, ctx->err);
		if (fd < 0)
			fd = fe_wrap(ctx->err, fd, "file %u (%s)", fe->id, fe->path ? fe->path : ops->name);
		else if (!ops->callers && (r = fix_flags(fd, fe, ctx->err)) < 0) {
			close(fd);
			fd = fe_wrap(ctx->err, r, "file %u (%s)", fe->id, fe->path ? fe->path : ops->name);
		}
	}
	ctx->master[i] = fd < 0 ? -1 : fd;
	return fd;
}

int files_open_id(struct restore_ctx *ctx, uint32_t id)
{
	long i = ctx->master ? idx_find(&ctx->file_idx, id) : -1;
	return i < 0 ? fe_msg(ctx->err, EBADMSG, "files.img: no file %u", id) : open_index(ctx, (size_t)i);
}

static int open_phase(struct restore_ctx *ctx, int phase)
{
	for (size_t i = 0; i < ctx->files->n_files; i++) {
		const struct file_ops *ops = kind_ops(ctx->files->files[i]->kind);
		if (ops->phase != phase || !ops->open || ctx->master[i] >= 0)
			continue;
		int r = open_index(ctx, i);
		if (r < 0)
			return r;
	}
	return 0;
}

int files_open_all(struct restore_ctx *ctx)
{
	size_t n = ctx->files->n_files;
	ctx->master = malloc((n + 1) * sizeof(int));
	if (!ctx->master)
		return fe_set(ctx->err, ENOMEM, "file table");
	for (size_t i = 0; i < n; i++)
		ctx->master[i] = -1;
	int r = open_phase(ctx, FILE_OPEN_EARLY);
	if (r == 0)
		r = open_phase(ctx, FILE_OPEN_AFTER);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ctx->nstash; i++)	/* ends nobody took: their peers were not in the tree */
		close(ctx->stash[i].fd);
	ctx->nstash = 0;
	return 0;
}

/* Once every task and thread exists: the files that name them. */
static int files_open_late(struct restore_ctx *ctx)
{
	if (ctx->late_opened)
		return 0;
	ctx->late_opened = 1;
	int r = open_phase(ctx, FILE_OPEN_LATE);
	for (size_t i = 0; i < ctx->nstash; i++)
		close(ctx->stash[i].fd);
	ctx->nstash = 0;
	return r;
}

void files_close_all(struct restore_ctx *ctx)
{
	for (size_t i = 0; ctx->master && i < ctx->files->n_files; i++)
		if (ctx->master[i] >= 0)
			close(ctx->master[i]);
	free(ctx->master);
	ctx->master = NULL;
	for (size_t i = 0; i < ctx->nstash; i++)
		close(ctx->stash[i].fd);
	free(ctx->stash);
	ctx->stash = NULL;
	ctx->nstash = 0;
	for (size_t i = 0; i < ctx->nkept; i++)
		close(ctx->kept[i].fd);
	free(ctx->kept);
	ctx->kept = NULL;
	ctx->nkept = 0;
}

/* A file only the task can open: opened inside t, then ferry takes its own copy for other holders. */
static int open_in_task(struct restore_ctx *ctx, struct rtask *t, const Ferry__FileEntry *fe, long *remote)
{
	const struct file_ops *ops = kind_ops(fe->kind);
	long idx = idx_find(&ctx->file_idx, fe->id);
	int r = ops->open_task(ctx, t, fe, remote);
	if (r < 0)
		return fe_wrap(ctx->err, r, "file %u (%s)", fe->id, fe->path ? fe->path : ops->name);
	_cleanup_close_ int pidfd = syscall(SYS_pidfd_open, t->pid, 0);
	int fd = pidfd < 0 ? -1 : syscall(SYS_pidfd_getfd, pidfd, (int)*remote, 0);
	if (fd < 0)
		return fe_set(ctx->err, errno, "pid %d: take a copy of fd %ld", t->pid, *remote);
	ctx->master[idx] = fd;
	return fix_flags(fd, fe, ctx->err);
}

/* Gives t file e at a temporary number *tmp (fetched from ferry or opened inside t). */
static int place_file(struct restore_ctx *ctx, struct rtask *t, long pidfd, const Ferry__FdEntry *e, long *tmp)
{
	const Ferry__FileEntry *fe = files_find_id(ctx, e->file_id);
	const struct file_ops *ops = fe ? kind_ops(fe->kind) : NULL;
	int master = files_master_fd(ctx, e->file_id);
	if (master < 0 && ops && ops->open_task)
		return open_in_task(ctx, t, fe, tmp);
	if (master < 0)
		return fe_msg(ctx->err, EBADMSG, "fds-%d.img: fd %d names missing file %u", t->pid, e->fd, e->file_id);
	return RINJ(ctx, &t->threads[0].inj, tmp, "fetch a file from the restorer", SYS_pidfd_getfd, pidfd, master, 0);
}

/*
 * By injection into t: drop every inherited descriptor, then fetch each of t's files from ferry
 * with pidfd_getfd() and move it to its number. The pidfd itself lives above the table.
 */
/*
 * t inherited ferry's limit of open files, which may be below its highest descriptor (the task
 * itself may have lowered its limit since it opened it; its own limits come back last): the soft
 * limit goes up to make room for fds up to top, within the hard limit, which only
 * CAP_SYS_RESOURCE could raise.
 */
static int room_for_fds(struct restore_ctx *ctx, struct rtask *t, int top)
{
	struct rlimit rl;
	long ret;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return fe_set(ctx->err, errno, "getrlimit(RLIMIT_NOFILE)");
	if (rl.rlim_cur > (rlim_t)top)
		return 0;
	if (rl.rlim_max <= (rlim_t)top)
		return fe_msg(ctx->err, EMFILE, "pid %d: fd %d is above the hard limit of open files ferry runs with (%llu): "
			      "raise it (ulimit -Hn)", t->pid, top - 1, (unsigned long long)rl.rlim_max);
	struct rlimit want = { (rlim_t)top + 1, rl.rlim_max };
	uint64_t at = inj_scratch_put(&t->threads[0].inj, 0, &want, sizeof(want));
	return RINJ(ctx, &t->threads[0].inj, &ret, "raise its soft limit of open files", SYS_prlimit64, 0,
		    RLIMIT_NOFILE, at, 0);
}

int files_install_injected(struct restore_ctx *ctx, struct rtask *t)
{
	struct injector *inj = &t->threads[0].inj;
	long ret, pidfd, tmp;
	int top = files_max_fd(t->fds) + 1, r;
	if ((r = room_for_fds(ctx, t, top)) < 0 ||
	    (r = RINJ(ctx, inj, &ret, "close inherited descriptors", SYS_close_range, 0, ~0U, 0)) < 0 ||
	    (r = RINJ(ctx, inj, &tmp, "pidfd_open(ferry)", SYS_pidfd_open, ctx->restorer_pid, 0)) < 0 ||
	    (r = RINJ(ctx, inj, &pidfd, "move the pidfd", SYS_fcntl, tmp, F_DUPFD_CLOEXEC, top)) < 0 ||
	    (r = RINJ(ctx, inj, &ret, "close", SYS_close, tmp)) < 0)
		return r;
	for (size_t i = 0; i < t->fds->n_fds; i++) {
		const Ferry__FdEntry *e = t->fds->fds[i];
		if (e->fd < 0 || e->fd >= top)
			return fe_msg(ctx->err, EBADMSG, "fds-%d.img: bad fd %d", t->pid, e->fd);
		if ((r = place_file(ctx, t, pidfd, e, &tmp)) < 0)
			return fe_wrap(ctx->err, r, "fd %d", e->fd);
		if (tmp != e->fd) {
			r = RINJ(ctx, inj, &ret, "dup3", SYS_dup3, tmp, e->fd, e->cloexec ? O_CLOEXEC : 0);
			if (r == 0)
				r = RINJ(ctx, inj, &ret, "close", SYS_close, tmp);
		} else {
			r = RINJ(ctx, inj, &ret, "set close-on-exec", SYS_fcntl, tmp, F_SETFD, e->cloexec ? FD_CLOEXEC : 0);
		}
		if (r < 0)
			return fe_wrap(ctx->err, r, "fd %d", e->fd);
	}
	return RINJ(ctx, inj, &ret, "close", SYS_close, pidfd);
}

/* A task fd not dumped yet that holds the same open file description as ferry's fd, or 0. */
static int find_in_tasks(struct dump_ctx *ctx, int fd, const struct stat *st, struct dtask **owner, int *tfd)
{
	char path[64];
	for (size_t i = 0; i < ctx->ntasks; i++) {
		struct dtask *t = &ctx->tasks[i];
		snprintf(path, sizeof(path), "/proc/%d/fd", t->pid);
		_cleanup_closedir_ DIR *d = t->zombie ? NULL : opendir(path);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			struct stat ts;
			int n = atoi(de->d_name);
			if (de->d_name[0] < '0' || de->d_name[0] > '9' || fstatat(dirfd(d), de->d_name, &ts, 0) < 0 ||
			    ts.st_ino != st->st_ino || ts.st_dev != st->st_dev ||
			    syscall(SYS_kcmp, getpid(), t->pid, 0 /* KCMP_FILE */, fd, n) != 0)
				continue;
			*owner = t;
			*tfd = n;
			return 1;
		}
	}
	return 0;
}

/* Kinds a unix queue cannot carry at restore: refilled before any task exists, or needing one. */
static int check_in_flight(struct dump_ctx *ctx, const struct fd_info *fi)
{
	const struct file_ops *ops = match_kind(ctx, fi);
	if (ops && ops->phase == FILE_OPEN_LATE)
		return fe_msg(ctx->err, EOPNOTSUPP, "a %s (%s) in flight (SCM_RIGHTS): it names tasks or their "
			      "namespaces, which do not exist yet when unix queues are filled again at restore: "
			      "not supported", ops->name, fi->link);
	if (ops && !ops->open)
		return fe_msg(ctx->err, EOPNOTSUPP, "%s (%s) in flight (SCM_RIGHTS): only a task holding it can open it "
			      "again: not supported", ops->name, fi->link);
	return 0;
}

int files_dump_held(struct dump_ctx *ctx, struct dtask *t, int fd, uint32_t *id)
{
	char path[64];
	_cleanup_free_ char *link = NULL, *info = NULL;
	struct fd_info fi = { .fd = -1, .stolen = fd, .held = 1 };
	struct dtask *owner = NULL;
	int tfd = -1, r;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (read_link(path, &link) < 0 || fstat(fd, &fi.st) < 0 || read_fdinfo(getpid(), fd, &fi, &info) < 0)
		return fe_set(ctx->err, errno ? errno : EIO, "inspect a descriptor in flight");
	fi.link = link;
	if ((r = check_in_flight(ctx, &fi)) < 0)
		return r;
	if (shared_id(ctx, getpid(), fd, &fi.st, id))
		return 0;	/* a task's fd dumped already, or a descriptor in flight met before */
	if (find_in_tasks(ctx, fd, &fi.st, &owner, &tfd)) {	/* that fd finds it when its turn comes */
		fi.fd = tfd;
		fi.held = 0;
		return files_dump_object(ctx, owner, &fi, id);
	}
	/* ferry's copy: later ones compare against it (kcmp) */
	if ((fi.stolen = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0)
		return fe_set(ctx->err, errno, "keep a descriptor in flight");
	r = files_dump_object(ctx, t, &fi, id);
	if (r < 0 && !shared_id(ctx, getpid(), fi.stolen, &fi.st, id))
		close(fi.stolen);	/* not registered: nobody closes it later */
	return r;
}

void files_release_held(struct dump_ctx *ctx)
{
	size_t n = 0;
	for (size_t i = 0; i < ctx->nseen; i++)
		if (ctx->seen[i].pid == getpid() && ctx->seen[i].fd >= 0) {
			close(ctx->seen[i].fd);
			ctx->seen[i].fd = -1;
			ctx->seen[i].ino = 0;	/* matches nothing any more */
		}
	/* out of the search order (the rest keeps its order) */
	for (size_t i = 0; i < ctx->norder; i++) {
		uint32_t k = ctx->seen_order[i];
		if (ctx->seen[k].fd >= 0 || ctx->seen[k].pid != getpid())
			ctx->seen_order[n++] = k;
	}
	ctx->norder = n;
}

int files_dump_mapping(struct dump_ctx *ctx, struct dtask *t, int fd, const char *link, uint32_t *file_id)
{
	struct fd_info fi = { .fd = -1, .link = link, .stolen = fd, .flags = O_RDWR };
	if (fstat(fd, &fi.st) < 0)
		return fe_set(ctx->err, errno, "stat the file mapped as %s", link);
	for (size_t i = 0; i < ctx->files.n_files; i++) {
		const Ferry__FileEntry *fe = ctx->files.files[i];
		if ((fe->kind == FERRY__FILE_KIND__FILE_MEMFD && fe->memfd && fe->memfd->ino == fi.st.st_ino) ||
		    (fe->kind == FERRY__FILE_KIND__FILE_REG && fe->deleted && fe->ino == fi.st.st_ino &&
		     (!fe->reg || fe->reg->dev == fi.st.st_dev))) {
			*file_id = fe->id;
			return 0;
		}
	}
	return files_dump_object(ctx, t, &fi, file_id);
}

int files_object_for_mapping(struct restore_ctx *ctx, uint32_t file_id, int writable, struct ferry_err *err)
{
	const Ferry__FileEntry *fe = files_find_id(ctx, file_id);
	int base = -1;
	if (fe && fe->kind == FERRY__FILE_KIND__FILE_MEMFD && fe->memfd)
		base = memfd_primary(ctx, fe, err);
	else if (fe && fe->kind == FERRY__FILE_KIND__FILE_REG && fe->deleted)
		base = files_master_fd(ctx, file_id);
	else if (fe && fe->kind == FERRY__FILE_KIND__FILE_PACKET_SK) {	/* its rings; a socket cannot be reopened */
		int fd = files_master_fd(ctx, file_id);
		fd = fd < 0 ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 3);
		return fd < 0 ? fe_set(err, errno ? errno : EBADF, "the packet socket of a ring mapping") : fd;
	} else
		return fe_msg(err, EBADMSG, "mm image maps file %u, which is not a memfd or deleted file", file_id);
	if (base < 0)
		return base;
	if (fe->kind == FERRY__FILE_KIND__FILE_MEMFD && fe->memfd->secret) {	/* cannot be reopened */
		int d = fcntl(base, F_DUPFD_CLOEXEC, 0);
		return d < 0 ? fe_set(err, errno, "secret memory") : d;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", base);
	int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	return fd < 0 ? fe_set(err, errno, "reopen %s for mapping", fe->path ? fe->path : "a file") : fd;
}

int files_fetch(struct restore_ctx *ctx, struct injector *inj, int fd, long *remote)
{
	long pidfd, ret;
	int r = RINJ(ctx, inj, &pidfd, "pidfd_open(ferry)", SYS_pidfd_open, ctx->restorer_pid, 0);
	if (r < 0)
		return r;
	r = RINJ(ctx, inj, remote, "fetch a descriptor from the restorer", SYS_pidfd_getfd, pidfd, fd, 0);
	RINJ(ctx, inj, &ret, "close", SYS_close, pidfd);
	return r;
}

int files_install_hooks(struct restore_ctx *ctx, struct rtask *t)
{
	for (size_t i = 0; i < t->fds->n_fds; i++) {
		const Ferry__FdEntry *e = t->fds->fds[i];
		const Ferry__FileEntry *fe = files_find_id(ctx, e->file_id);
		const struct file_ops *ops = fe ? kind_ops(fe->kind) : NULL;
		if (ops && ops->install) {
			int r = ops->install(ctx, t, e, fe);
			if (r < 0)
				return fe_wrap(ctx->err, r, "pid %d: fd %d", t->pid, e->fd);
		}
	}
	return 0;
}

static int files_restore_inject(struct restore_ctx *ctx, struct rtask *t)
{
	int r = files_open_late(ctx);
	if (r < 0)
		return r;
	/* A table shared with the parent (CLONE_FILES) was filled through the parent. */
	if (!t->fds->has_files_shared_with) {
		if ((r = files_install_injected(ctx, t)) < 0 || (r = files_install_hooks(ctx, t)) < 0)
			return r;
	}
	return tty_restore_ctty_late(ctx, t);
}

unsigned long files_clone_flags(const struct rtask *t)
{
	unsigned long flags = 0;
	if (t->fds && t->fds->has_files_shared_with)
		flags |= CLONE_FILES;
	if (t->fds && t->fds->has_fs_shared_with)
		flags |= CLONE_FS;
	return flags;
}

int files_task_created(struct restore_ctx *ctx, struct rtask *t)
{
	if (t->zombie)
		return 0;
	pid_t parent = t->parent >= 0 ? ctx->tasks[t->parent].pid : 0;
	if ((t->fds->has_files_shared_with && t->fds->files_shared_with != parent) ||
	    (t->fds->has_fs_shared_with && t->fds->fs_shared_with != parent))
		return fe_msg(ctx->err, EBADMSG, "fds-%d.img: shares with pid %d, which is not its parent", t->pid,
			      t->fds->has_files_shared_with ? t->fds->files_shared_with : t->fds->fs_shared_with);
	return tty_restore_ctty(ctx, t);
}

struct rtask *files_task(struct restore_ctx *ctx, pid_t pid)
{
	for (size_t k = 0; k < ctx->ntasks; k++)
		if (ctx->tasks[k].pid == pid)
			return &ctx->tasks[k];
	return NULL;
}

const Ferry__FdEntry *files_fd_entry(const struct rtask *t, int fd)
{
	for (size_t i = 0; t->fds && i < t->fds->n_fds; i++)
		if (t->fds->fds[i]->fd == fd)
			return t->fds->fds[i];
	return NULL;
}

struct rtask *files_first_holder(struct restore_ctx *ctx, uint32_t id, int *fd)
{
	for (size_t k = 0; k < ctx->ntasks; k++) {
		struct rtask *t = &ctx->tasks[k];
		if (t->zombie || !t->fds || t->fds->has_files_shared_with)
			continue;
		for (size_t i = 0; i < t->fds->n_fds; i++)
			if (t->fds->fds[i]->file_id == id) {
				*fd = t->fds->fds[i]->fd;
				return t;
			}
	}
	return NULL;
}

int files_tree_walk(struct dump_ctx *ctx, files_walk_fn fn, void *arg)
{
	for (size_t k = 0; k < ctx->ntasks; k++) {
		char path[320];
		struct stat st;
		pid_t pid = ctx->tasks[k].pid;
		if (ctx->tasks[k].zombie)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd", pid);
		_cleanup_closedir_ DIR *d = opendir(path);
		for (struct dirent *de; d && (de = readdir(d));) {
			snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, de->d_name);
			if (de->d_name[0] == '.' || stat(path, &st) < 0)
				continue;
			int r = fn(pid, atoi(de->d_name), path, &st, arg);
			if (r)
				return r;
		}
	}
	return 0;
}

int files_in_tree(const struct dump_ctx *ctx, pid_t pid, int threads)
{
	for (size_t k = 0; k < ctx->ntasks; k++) {
		const struct dtask *t = &ctx->tasks[k];
		if (t->pid == pid)
			return 1;
		for (size_t i = 1; threads && i < t->nthreads; i++)
			if (t->threads[i].tid == pid)
				return 1;
	}
	return 0;
}

const struct task_obj_ops files_obj = {
	.name = "files",
	.dump = files_dump,
	.restore_inject = files_restore_inject,
};
