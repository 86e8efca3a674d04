/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File locks. Dump reads the `lock:` lines of /proc/PID/fdinfo/N, which list the locks held
 * through that open file description (flock, OFD) or by the task on it (POSIX). Without
 * --file-locks a held lock fails the dump. flock and OFD locks belong to the open file
 * description: restore retakes them in ferry on its own descriptor of it, which the task then
 * shares. POSIX locks belong to the process: they are retaken by an injected fcntl(F_SETLK) once
 * the task's descriptor table is complete. Leases belong to the open file description too, but
 * the kernel keeps the descriptor number that took one (si_fd of the break signal): the first
 * task holding the file takes it again by injection; a lease being broken is then broken again
 * from ferry, with no owner set meanwhile so that no signal is sent twice (fown.c restores the
 * owner afterwards).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>
#define LOG_PREFIX "locks: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "files/files.h"

#define OFF_MAX_U ((uint64_t)INT64_MAX)

/* One parsed `lock:` line. */
struct lock_line {
	char kind[16], mode[16], type[16];
	unsigned long long ino;
	uint64_t start, len;
};

static const char *kind_name(Ferry__LockKind k)
{
	return k == FERRY__LOCK_KIND__LOCK_KIND_FLOCK ? "flock" : k == FERRY__LOCK_KIND__LOCK_KIND_OFD ? "OFD" :
	       k == FERRY__LOCK_KIND__LOCK_KIND_LEASE ? "lease" : "POSIX";
}

/*
 * "1: POSIX  ADVISORY  WRITE 1234 fe:00:5678 0 EOF": kind, mode, type, pid, dev:ino, start, end
 * (inclusive, or EOF). Returns 0, or -EINVAL for a line this parser does not understand.
 */
static int parse_line(const char *s, struct lock_line *l)
{
	char end[32];
	unsigned maj, min;
	long pid;
	unsigned long long start;
	if (sscanf(s, "%*d: %15s %15s %15s %ld %x:%x:%llu %llu %31s", l->kind, l->mode, l->type, &pid, &maj, &min,
		   &l->ino, &start, end) != 9)
		return -EINVAL;
	l->start = start;
	l->len = 0;
	if (strcmp(end, "EOF") != 0) {
		unsigned long long e = strtoull(end, NULL, 10);
		if (e < start)
			return -EINVAL;
		l->len = e - start + 1;
	}
	return 0;
}

/*
 * A lease line: "LEASE ACTIVE WRITE", or "LEASE BREAKING READ" (being broken to READ: a write
 * lease) / "BREAKING UNLCK" (to none: a read lease on a read-only descriptor, a write lease else).
 */
static int to_lease(const struct lock_line *l, uint32_t flags, Ferry__FileLock *fl)
{
	fl->kind = FERRY__LOCK_KIND__LOCK_KIND_LEASE;
	int rd = !strcmp(l->type, "READ"), wr = !strcmp(l->type, "WRITE"), un = !strcmp(l->type, "UNLCK");
	if (!strcmp(l->mode, "ACTIVE") && (rd || wr)) {
		fl->type = rd ? FERRY__LOCK_TYPE__LOCK_TYPE_READ : FERRY__LOCK_TYPE__LOCK_TYPE_WRITE;
		return 0;
	}
	if (strcmp(l->mode, "BREAKING") != 0 || (!rd && !un))
		return -EOPNOTSUPP;
	fl->has_breaking = 1;
	fl->breaking = 1;
	if (rd) {
		fl->has_break_to = 1;
		fl->break_to = FERRY__LOCK_TYPE__LOCK_TYPE_READ;
	}
	fl->type = rd || (flags & O_ACCMODE) != O_RDONLY ? FERRY__LOCK_TYPE__LOCK_TYPE_WRITE : FERRY__LOCK_TYPE__LOCK_TYPE_READ;
	return 0;
}

/* Fills fl from l; -EOPNOTSUPP for what cannot be restored (delegations, unknown). */
static int to_lock(const struct lock_line *l, uint32_t flags, Ferry__FileLock *fl)
{
	ferry__file_lock__init(fl);
	if (!strcmp(l->kind, "LEASE"))
		return to_lease(l, flags, fl);
	if (!strcmp(l->kind, "FLOCK"))
		fl->kind = FERRY__LOCK_KIND__LOCK_KIND_FLOCK;
	else if (!strcmp(l->kind, "POSIX"))
		fl->kind = FERRY__LOCK_KIND__LOCK_KIND_POSIX;
	else if (!strcmp(l->kind, "OFDLCK"))
		fl->kind = FERRY__LOCK_KIND__LOCK_KIND_OFD;
	else
		return -EOPNOTSUPP;
	if (!strcmp(l->type, "READ"))
		fl->type = FERRY__LOCK_TYPE__LOCK_TYPE_READ;
	else if (!strcmp(l->type, "WRITE"))
		fl->type = FERRY__LOCK_TYPE__LOCK_TYPE_WRITE;
	else
		return -EOPNOTSUPP;
	fl->has_start = fl->has_len = 1;
	fl->start = l->start;
	fl->len = l->len;
	return 0;
}

static int same_lock(const Ferry__FileLock *a, const Ferry__FileLock *b)
{
	return a->kind == b->kind && a->type == b->type && a->start == b->start && a->len == b->len &&
	       a->breaking == b->breaking && a->has_break_to == b->has_break_to && a->break_to == b->break_to;
}

/* Appends l to the array *arr of *n locks (arena memory; locks are few). */
static int append(struct arena *a, Ferry__FileLock ***arr, size_t *n, Ferry__FileLock *l)
{
	Ferry__FileLock **na = ARENA_ARRAY(a, Ferry__FileLock *, *n + 1);
	if (!na)
		return -ENOMEM;
	if (*n)
		memcpy(na, *arr, *n * sizeof(*na));
	na[(*n)++] = l;
	*arr = na;
	return 0;
}

/* POSIX locks seen so far in this task, by inode (a lock shows on every fd of its description). */
struct posix_seen {
	unsigned long long ino[256];
	size_t n;
};

static int keep_posix(struct dump_ctx *ctx, struct dtask *t, struct posix_seen *ps, const struct lock_line *l,
		      Ferry__FileLock *fl, int fd)
{
	Ferry__TaskCore *c = t->core;
	for (size_t i = 0; i < c->n_file_locks && i < ps->n; i++)
		if (ps->ino[i] == l->ino && same_lock(c->file_locks[i], fl))
			return 0;
	if (ps->n == ARRAY_SIZE(ps->ino))
		return -E2BIG;
	fl->has_fd = 1;
	fl->fd = fd;
	ps->ino[ps->n++] = l->ino;
	return append(&ctx->arena, &c->file_locks, &c->n_file_locks, fl);
}

static int keep_ofd(struct dump_ctx *ctx, Ferry__FileEntry *fe, Ferry__FileLock *fl)
{
	for (size_t i = 0; i < fe->n_flocks; i++)
		if (same_lock(fe->flocks[i], fl))
			return 0;
	return append(&ctx->arena, &fe->flocks, &fe->n_flocks, fl);
}

static int dump_line(struct dump_ctx *ctx, struct dtask *t, struct posix_seen *ps, const Ferry__FdEntry *e,
		     const char *line)
{
	Ferry__FileEntry *fe = (Ferry__FileEntry *)files_find(&ctx->files, e->file_id);
	const char *name = fe && fe->path ? fe->path : "file";
	struct lock_line l;
	if (parse_line(line, &l) < 0)
		return fe_msg(ctx->err, EIO, "pid %d: fd %d (%s): unreadable lock line '%.60s'", t->pid, e->fd, name, line);
	Ferry__FileLock *fl = ARENA_NEW(&ctx->arena, Ferry__FileLock);
	if (!fl || !fe)
		return fe_set(ctx->err, fl ? EIO : ENOMEM, "pid %d: fd %d: lock entry", t->pid, e->fd);
	if (to_lock(&l, fe->flags, fl) < 0)
		return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: fd %d (%s) holds a %s %s %s lock, which cannot be saved",
			      t->pid, e->fd, name, l.kind, l.mode, l.type);
	if (!ctx->opts->file_locks)
		return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: fd %d (%s) holds a %s lock: dump with --file-locks to save it",
			      t->pid, e->fd, name, kind_name(fl->kind));
	int r = fl->kind == FERRY__LOCK_KIND__LOCK_KIND_POSIX ? keep_posix(ctx, t, ps, &l, fl, e->fd) : keep_ofd(ctx, fe, fl);
	if (r == 0)
		pr_debug("pid %d: fd %d (%s): %s %s lock at %" PRIu64 "+%" PRIu64 "\n", t->pid, e->fd, name,
			 kind_name(fl->kind), l.type, fl->start, fl->len);
	if (r == -E2BIG)
		return fe_msg(ctx->err, E2BIG, "pid %d holds more POSIX locks than ferry can save", t->pid);
	return r < 0 ? fe_set(ctx->err, -r, "pid %d: fd %d: lock entry", t->pid, e->fd) : 0;
}

static int dump_fd_locks(struct dump_ctx *ctx, struct dtask *t, struct posix_seen *ps, const Ferry__FdEntry *e)
{
	char path[64];
	_cleanup_free_ char *text = NULL;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", t->pid, e->fd);
	int r = read_file(path, &text, NULL);
	if (r < 0)
		return fe_set(ctx->err, -r, "pid %d: read %s", t->pid, path);
	for (char *p = strstr(text, "\nlock:\t"); p; p = strstr(p, "\nlock:\t")) {
		p += 7;
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = 0;
		if ((r = dump_line(ctx, t, ps, e, p)) < 0)
			return r;
		if (!nl)
			break;
		*nl = '\n';
	}
	return 0;
}

static int locks_dump(struct dump_ctx *ctx, struct dtask *t)
{
	struct posix_seen ps = { .n = 0 };
	for (size_t i = 0; i < t->fds->n_fds; i++) {
		int r = dump_fd_locks(ctx, t, &ps, t->fds->fds[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---------------------------------------------------------------- restore */

static int check_lock(struct restore_ctx *ctx, const Ferry__FileLock *l, pid_t pid)
{
	if (l->kind < FERRY__LOCK_KIND__LOCK_KIND_FLOCK || l->kind > FERRY__LOCK_KIND__LOCK_KIND_LEASE ||
	    (l->has_break_to && l->break_to != FERRY__LOCK_TYPE__LOCK_TYPE_READ) ||
	    (l->type != FERRY__LOCK_TYPE__LOCK_TYPE_READ && l->type != FERRY__LOCK_TYPE__LOCK_TYPE_WRITE) ||
	    l->start > OFF_MAX_U || l->len > OFF_MAX_U)
		return fe_msg(ctx->err, EBADMSG, "pid %d: malformed file lock in the image", pid);
	return 0;
}

static struct flock to_flock(const Ferry__FileLock *l)
{
	return (struct flock){
		.l_type = l->type == FERRY__LOCK_TYPE__LOCK_TYPE_WRITE ? F_WRLCK : F_RDLCK,
		.l_whence = SEEK_SET, .l_start = (off_t)l->start, .l_len = (off_t)l->len,
	};
}

/* A flock or OFD lock, taken in ferry on its descriptor of the open file description (idempotent). */
static int take_ofd(struct restore_ctx *ctx, struct rtask *t, const Ferry__FdEntry *e, const Ferry__FileEntry *fe,
		    const Ferry__FileLock *l)
{
	int fd = files_master_fd(ctx, fe->id), r;
	if (fd < 0)
		return fe_msg(ctx->err, EBADF, "pid %d: fd %d: file %u is not open in ferry", t->pid, e->fd, fe->id);
	if (l->kind == FERRY__LOCK_KIND__LOCK_KIND_FLOCK) {
		r = flock(fd, (l->type == FERRY__LOCK_TYPE__LOCK_TYPE_WRITE ? LOCK_EX : LOCK_SH) | LOCK_NB);
	} else {
		struct flock f = to_flock(l);
		r = fcntl(fd, F_OFD_SETLK, &f);
	}
	if (r < 0)
		return fe_set(ctx->err, errno, "pid %d: fd %d (%s): retake its %s lock", t->pid, e->fd,
			      fe->path ? fe->path : "file", kind_name(l->kind));
	return 0;
}

/*
 * A lease, by injection in the first task holding the file, through its descriptor; a lease that
 * was being broken is broken again by an opener in ferry, the owner cleared meanwhile.
 */
static int take_lease(struct restore_ctx *ctx, struct rtask *t, const Ferry__FdEntry *e, const Ferry__FileEntry *fe,
		      const Ferry__FileLock *l)
{
	struct injector *inj = &t->threads[0].inj;
	int first_fd, type = l->type == FERRY__LOCK_TYPE__LOCK_TYPE_WRITE ? F_WRLCK : F_RDLCK;
	long ret;
	if (files_first_holder(ctx, fe->id, &first_fd) != t || first_fd != e->fd)
		return 0;
	int r = RINJ(ctx, inj, &ret, "F_SETLEASE", SYS_fcntl, e->fd, F_SETLEASE, type);
	if (r < 0 || !l->breaking)
		return r;
	if ((r = RINJ(ctx, inj, &ret, "clear the owner", SYS_fcntl, e->fd, F_SETOWN, 0)) < 0)
		return r;
	if (!fe->path || fe->path[0] != '/')
		return fe_msg(ctx->err, EBADMSG, "files.img: a lease on file %u, which has no path", fe->id);
	int mode = l->has_break_to ? O_RDONLY : O_WRONLY;
	int fd = open(fe->path, mode | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd >= 0) {
		close(fd);
		return fe_msg(ctx->err, EIO, "%s: opening it did not break the lease", fe->path);
	}
	return errno == EWOULDBLOCK ? 0 : fe_set(ctx->err, errno, "break the lease on %s", fe->path);
}

static int restore_ofd_locks(struct restore_ctx *ctx, struct rtask *t)
{
	for (size_t i = 0; i < t->fds->n_fds; i++) {
		const Ferry__FdEntry *e = t->fds->fds[i];
		const Ferry__FileEntry *fe = files_find(ctx->files, e->file_id);
		for (size_t k = 0; fe && k < fe->n_flocks; k++) {
			const Ferry__FileLock *l = fe->flocks[k];
			int r = check_lock(ctx, l, t->pid);
			if (r == 0 && l->kind == FERRY__LOCK_KIND__LOCK_KIND_POSIX)
				r = fe_msg(ctx->err, EBADMSG, "pid %d: fd %d: a POSIX lock filed under its file", t->pid, e->fd);
			if (r == 0)
				r = l->kind == FERRY__LOCK_KIND__LOCK_KIND_LEASE ? take_lease(ctx, t, e, fe, l) :
				    take_ofd(ctx, t, e, fe, l);
			if (r < 0 && l->kind == FERRY__LOCK_KIND__LOCK_KIND_LEASE)
				return fe_wrap(ctx->err, r, "pid %d: fd %d (%s): its lease", t->pid, e->fd, fe->path);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int has_fd(const Ferry__FdTable *fds, int fd)
{
	for (size_t i = 0; i < fds->n_fds; i++)
		if (fds->fds[i]->fd == fd)
			return 1;
	return 0;
}

/* POSIX locks, by an injected fcntl(F_SETLK) in the task itself: they belong to it. */
static int restore_posix_locks(struct restore_ctx *ctx, struct rtask *t)
{
	struct injector *inj = &t->threads[0].inj;
	for (size_t i = 0; i < t->core->n_file_locks; i++) {
		const Ferry__FileLock *l = t->core->file_locks[i];
		int r = check_lock(ctx, l, t->pid);
		if (r < 0)
			return r;
		if (l->kind != FERRY__LOCK_KIND__LOCK_KIND_POSIX || !l->has_fd || !has_fd(t->fds, l->fd))
			return fe_msg(ctx->err, EBADMSG, "core-%d.img: a POSIX lock names fd %d, which the task lacks",
				      t->pid, l->has_fd ? l->fd : -1);
		struct flock f = to_flock(l);
		uint64_t at = inj_scratch_put(inj, 0, &f, sizeof(f));
		long ret;
		r = RINJ(ctx, inj, &ret, "retake a POSIX lock", SYS_fcntl, l->fd, F_SETLK, at);
		if (r < 0)
			return fe_wrap(ctx->err, r, "pid %d: fd %d: POSIX %s lock at %" PRIu64 "+%" PRIu64, t->pid, l->fd,
				       f.l_type == F_WRLCK ? "write" : "read", l->start, l->len);
	}
	return 0;
}

static int locks_restore_inject(struct restore_ctx *ctx, struct rtask *t)
{
	int r = restore_ofd_locks(ctx, t);
	return r < 0 ? r : restore_posix_locks(ctx, t);
}

const struct task_obj_ops locks_obj = {
	.name = "locks",
	.dump = locks_dump,
	.restore_inject = locks_restore_inject,
};
