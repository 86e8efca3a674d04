/* SPDX-License-Identifier: Apache-2.0 */
/*
 * epoll instances. The kernel keys a registration on (file, fd number in the registering task), so
 * the instance is created empty in ferry and its registrations are replayed by injecting
 * epoll_ctl(EPOLL_CTL_ADD) into the owner task once its descriptor table is complete.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>
#define LOG_PREFIX "epoll: "
#include "common/log.h"
#include "files/files.h"

#define KCMP_EPOLL_TFD 7

struct kcmp_epoll_slot {
	uint32_t efd, tfd, toff;
};

static int epoll_match(const struct fd_info *fi, const struct dump_opts *o)
{
	return strcmp(fi->link, "anon_inode:[eventpoll]") == 0;
}

/* Counts the "tfd:" lines of an epoll fdinfo text. */
static size_t count_targets(const char *text)
{
	size_t n = 0;
	for (const char *p = text; (p = strstr(p, "tfd:")); p += 4)
		n++;
	return n;
}

/*
 * Checks that the registered file is still at fd tfd in the task: epoll keeps a registration
 * while its file lives, even after the task closed that fd, and such a registration has no fd
 * to be replayed with.
 */
static int check_target(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, const Ferry__EpollTarget *tg)
{
	/* an epoll in flight (no fd in the task) is compared through ferry's descriptor for it */
	int efd = fi->fd >= 0 ? fi->fd : fi->stolen;
	struct kcmp_epoll_slot slot = { (uint32_t)efd, (uint32_t)tg->tfd, 0 };
	long r = syscall(SYS_kcmp, t->pid, fi->fd >= 0 ? t->pid : getpid(), KCMP_EPOLL_TFD, tg->tfd, &slot);
	if (r == 0)
		return 0;
	if (r < 0 && errno != EBADF && errno != ENOENT)
		return fe_set(ctx->err, errno, "kcmp(KCMP_EPOLL_TFD) on fd %d", tg->tfd);
	return fe_msg(ctx->err, EOPNOTSUPP,
		      "epoll watches fd %d (inode %" PRIu64 "), but the task has closed that fd or reused its "
		      "number for another file: such a registration cannot be restored", tg->tfd, tg->ino);
}

static int parse_target(struct dump_ctx *ctx, const char *line, Ferry__EpollTarget *tg)
{
	int tfd;
	unsigned events;
	unsigned long long data, ino;
	if (sscanf(line, "tfd: %d events: %x data: %llx pos:%*s ino:%llx", &tfd, &events, &data, &ino) != 4)
		return fe_msg(ctx->err, EIO, "unexpected epoll fdinfo line: %.80s", line);
	ferry__epoll_target__init(tg);
	tg->tfd = tfd;
	tg->events = events;
	tg->data = data;
	tg->has_ino = 1;
	tg->ino = ino;
	return 0;
}

static int epoll_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	Ferry__EpollEntry *ep = ARENA_NEW(&ctx->arena, Ferry__EpollEntry);
	if (!ep || !fi->fdinfo)
		return fe_set(ctx->err, ep ? EIO : ENOMEM, "epoll entry");
	ferry__epoll_entry__init(ep);
	ep->has_ino = ep->has_owner_pid = 1;
	ep->ino = fi->st.st_ino;
	ep->owner_pid = t->pid;
	size_t n = count_targets(fi->fdinfo);
	ep->targets = ARENA_ARRAY(&ctx->arena, Ferry__EpollTarget *, n + 1);
	if (!ep->targets)
		return fe_set(ctx->err, ENOMEM, "epoll targets");
	for (const char *p = fi->fdinfo; (p = strstr(p, "tfd:")) && ep->n_targets < n; p += 4) {
		Ferry__EpollTarget *tg = ARENA_NEW(&ctx->arena, Ferry__EpollTarget);
		if (!tg)
			return fe_set(ctx->err, ENOMEM, "epoll target");
		int r = parse_target(ctx, p, tg);
		if (r == 0)
			r = check_target(ctx, t, fi, tg);
		if (r < 0)
			return r;
		ep->targets[ep->n_targets++] = tg;
		pr_debug("pid %d fd %d: tfd %d events %#x data %#" PRIx64 "\n", t->pid, fi->fd, tg->tfd, tg->events,
			 tg->data);
	}
	fe->epoll = ep;
	return 0;
}

static int epoll_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	if (!fe->epoll)
		return fe_msg(err, EBADMSG, "files.img: epoll %u without its epoll part", fe->id);
	int fd = epoll_create1(EPOLL_CLOEXEC);
	return fd < 0 ? fe_set(err, errno, "epoll_create1") : fd;
}

/* The first of t's fds that holds file id, or -1. */
static int first_fd(const struct rtask *t, uint32_t id)
{
	for (size_t i = 0; i < t->fds->n_fds; i++)
		if (t->fds->fds[i]->file_id == id)
			return t->fds->fds[i]->fd;
	return -1;
}

/*
 * Replays the registrations in the owner task, through its first fd for this instance (the
 * registrations belong to the open file description, not to one fd or task).
 */
static int epoll_install(struct restore_ctx *ctx, struct rtask *t, const Ferry__FdEntry *e,
			 const Ferry__FileEntry *fe)
{
	const Ferry__EpollEntry *ep = fe->epoll;
	if (!ep || (ep->has_owner_pid && ep->owner_pid != t->pid) || first_fd(t, fe->id) != e->fd)
		return 0;
	struct injector *inj = &t->threads[0].inj;
	for (size_t i = 0; i < ep->n_targets; i++) {
		const Ferry__EpollTarget *tg = ep->targets[i];
		struct epoll_event ev = { .events = tg->events, .data.u64 = tg->data };
		uint64_t rev = inj_scratch_put(inj, 0, &ev, sizeof(ev));
		long ret;
		if (!rev)
			return fe_msg(ctx->err, ENOSPC, "no scratch memory in the task");
		int r = RINJ(ctx, inj, &ret, "epoll_ctl(ADD)", SYS_epoll_ctl, e->fd, EPOLL_CTL_ADD, tg->tfd, rev);
		if (r < 0)
			return fe_wrap(ctx->err, r, "epoll fd %d: register fd %d (events %#x)", e->fd, tg->tfd,
				       tg->events);
	}
	pr_debug("pid %d: epoll fd %d: %zu registrations replayed\n", t->pid, e->fd, ep->n_targets);
	return 0;
}

const struct file_ops epoll_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_EPOLL, .name = "epoll",
	.match = epoll_match, .dump = epoll_dump, .open = epoll_open, .install = epoll_install,
};
