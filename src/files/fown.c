/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signal-driven I/O on any open file description: its owner (F_SETOWN / F_SETOWN_EX: a thread, a
 * process or a process group), the signal it sends (F_SETSIG) and O_ASYNC. The kernel keeps the
 * descriptor number that set O_ASYNC (si_fd of the signal), so restore sets it again by injection
 * in the first task holding the file, through the same number, once the task runs with its own
 * credentials (the owner records the setter's uid and euid, which sigio permission checks).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#define LOG_PREFIX "fown: "
#include "common/log.h"
#include "files/files.h"

static const char *owner_kind(int type)
{
	return type == F_OWNER_TID ? "thread" : type == F_OWNER_PGRP ? "process group" : "process";
}

static int pgrp_in_tree(const struct dump_ctx *ctx, pid_t pgid)
{
	for (size_t k = 0; k < ctx->ntasks; k++)
		if (ctx->tasks[k].pstree && ctx->tasks[k].pstree->pgid == pgid)
			return 1;
	return 0;
}

int fown_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	struct f_owner_ex own = { 0 };
	if (fi->flags & O_PATH)	/* no owner (fcntl refuses it): O_PATH descriptors, working and root directories */
		return 0;
	if (fcntl(fi->stolen, F_GETOWN_EX, &own) < 0)
		return fe_set(ctx->err, errno, "F_GETOWN_EX");
	int sig = fcntl(fi->stolen, F_GETSIG);
	if (sig < 0)
		return fe_set(ctx->err, errno, "F_GETSIG");
	int async = !!(fi->flags & O_ASYNC);
	int lease = fi->fdinfo && strstr(fi->fdinfo, "LEASE");	/* taking it back sets an owner */
	if (!own.pid && !sig && !async && !lease)
		return 0;
	int known = own.type == F_OWNER_PGRP ? pgrp_in_tree(ctx, own.pid) : files_in_tree(ctx, own.pid, 1);
	if (own.pid && !known)
		return fe_msg(ctx->err, EOPNOTSUPP, "its signal-driven I/O owner is %s %d, which is not in the dumped "
			      "tree (F_SETOWN): it cannot be restored", owner_kind(own.type), own.pid);
	Ferry__Fown *f = ARENA_NEW(&ctx->arena, Ferry__Fown);
	if (!f)
		return fe_set(ctx->err, ENOMEM, "fown");
	ferry__fown__init(f);
	f->has_owner_type = f->has_owner = f->has_signum = f->has_async = 1;
	f->owner_type = own.type;
	f->owner = own.pid;
	f->signum = sig;
	f->async = async;
	fe->fown = f;
	pr_debug("pid %d fd %d: owner %s %d, signal %d%s\n", t->pid, fi->fd, owner_kind(own.type), own.pid, sig,
		 async ? ", O_ASYNC" : "");
	return 0;
}

static int check(struct restore_ctx *ctx, const Ferry__Fown *f)
{
	if ((f->owner_type != F_OWNER_TID && f->owner_type != F_OWNER_PID && f->owner_type != F_OWNER_PGRP) ||
	    f->owner < 0 || f->signum < 0 || f->signum > 64)
		return fe_msg(ctx->err, EBADMSG, "files.img: malformed file owner");
	return 0;
}

/*
 * By injection, through fd: O_ASYNC first (set afresh, so the kernel registers fd; on a tty it
 * also sets an owner of its own), then the owner and the signal.
 */
static int apply(struct restore_ctx *ctx, struct rtask *t, int fd, const Ferry__Fown *f)
{
	struct injector *inj = &t->threads[0].inj;
	struct f_owner_ex own = { .type = f->owner_type, .pid = f->owner };
	long fl = 0, ret;
	int r = check(ctx, f);
	if (r == 0 && f->async)
		r = RINJ(ctx, inj, &fl, "F_GETFL", SYS_fcntl, fd, F_GETFL);
	if (r == 0 && f->async && (fl & O_ASYNC))
		r = RINJ(ctx, inj, &ret, "F_SETFL", SYS_fcntl, fd, F_SETFL, fl & ~O_ASYNC);
	if (r == 0 && f->async)
		r = RINJ(ctx, inj, &ret, "set O_ASYNC", SYS_fcntl, fd, F_SETFL, (fl & ~O_ASYNC) | O_ASYNC);
	uint64_t at = inj_scratch_put(inj, 0, &own, sizeof(own));
	if (r == 0)
		r = RINJ(ctx, inj, &ret, "F_SETOWN_EX", SYS_fcntl, fd, F_SETOWN_EX, at);
	if (r == 0)
		r = RINJ(ctx, inj, &ret, "F_SETSIG", SYS_fcntl, fd, F_SETSIG, f->signum);
	if (r < 0)
		return fe_wrap(ctx->err, r, "fd %d: owner %s %d, signal %d", fd, owner_kind(f->owner_type), f->owner,
			       f->signum);
	return 0;
}

static int fown_restore_late(struct restore_ctx *ctx, struct rtask *t)
{
	for (size_t i = 0; i < t->fds->n_fds; i++) {
		const Ferry__FdEntry *e = t->fds->fds[i];
		const Ferry__FileEntry *fe = files_find(ctx->files, e->file_id);
		int first_fd;
		if (!fe || !fe->fown || files_first_holder(ctx, fe->id, &first_fd) != t || first_fd != e->fd)
			continue;
		int r = apply(ctx, t, e->fd, fe->fown);
		if (r < 0)
			return fe_wrap(ctx->err, r, "pid %d", t->pid);
	}
	return 0;
}

const struct task_obj_ops fown_obj = {
	.name = "fown",
	.restore_late = fown_restore_late,
};
