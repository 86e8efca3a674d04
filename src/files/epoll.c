/* SPDX-License-Identifier: Apache-2.0 */
/*
 * epoll instances. The kernel keys a registration on (file, fd number in the registering task), so
 * the instance is created empty in ferry and its registrations are replayed by injecting
 * epoll_ctl(EPOLL_CTL_ADD) into the owner task once its descriptor table is complete. A
 * registration outlives the fd it was made through as long as its file lives: when the owner has
 * closed that fd (or reused its number), the file is found open elsewhere in the tree, put under
 * that number in the owner for the time of the epoll_ctl, and the number is given back.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <fcntl.h>
#include <sys/stat.h>
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

/* kcmp: 0 when fd of pid is the file registered as (efd of epid: tfd, toff); -1 with errno. */
static long cmp_target(pid_t pid, int fd, pid_t epid, int efd, int tfd, int toff)
{
	struct kcmp_epoll_slot slot = { (uint32_t)efd, (uint32_t)tfd, (uint32_t)toff };
	return syscall(SYS_kcmp, pid, epid, KCMP_EPOLL_TFD, fd, &slot);
}

struct holder_search {
	pid_t epid, pid;
	int efd, tfd, toff, fd;
	uint64_t ino;
};

static int is_holder(pid_t pid, int fd, const char *path, const struct stat *st, void *arg)
{
	struct holder_search *h = arg;
	if (st->st_ino != h->ino || cmp_target(pid, fd, h->epid, h->efd, h->tfd, h->toff) != 0)
		return 0;
	h->pid = pid;
	h->fd = fd;
	return 1;
}

/*
 * The registered file is at fd tfd in the task, or (closed since, or the number reused) held
 * open by some task of the tree: then the registration is replayed through that file. An epoll
 * in flight (no fd in the task) is compared through ferry's descriptor for it.
 */
static int check_target(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__EpollTarget *tg,
			int toff)
{
	pid_t epid = fi->fd >= 0 ? t->pid : getpid();
	int efd = fi->fd >= 0 ? fi->fd : fi->stolen;
	long c = cmp_target(t->pid, tg->tfd, epid, efd, tg->tfd, toff);
	if (c == 0)
		return 0;
	if (c < 0 && errno != EBADF && errno != ENOENT)
		return fe_set(ctx->err, errno, "kcmp(KCMP_EPOLL_TFD) on fd %d", tg->tfd);
	struct holder_search h = { .epid = epid, .efd = efd, .tfd = tg->tfd, .toff = toff, .ino = tg->ino };
	if (!files_tree_walk(ctx, is_holder, &h))
		return fe_msg(ctx->err, EOPNOTSUPP,
			      "epoll watches fd %d (inode %" PRIu64 "), which the task has closed or reused since, and no "
			      "task of the tree holds that file open: the registration cannot be restored", tg->tfd, tg->ino);
	tg->has_holder_pid = tg->has_holder_fd = 1;
	tg->holder_pid = h.pid;
	tg->holder_fd = h.fd;
	pr_debug("pid %d: epoll fd %d watches fd %d, closed since: the file is fd %d of pid %d\n", t->pid, fi->fd,
		 tg->tfd, h.fd, h.pid);
	return 0;
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
		int r = parse_target(ctx, p, tg), toff = 0;
		for (size_t k = 0; k < ep->n_targets; k++)
			toff += ep->targets[k]->tfd == tg->tfd;
		if (r == 0)
			r = check_target(ctx, t, fi, tg, toff);
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
static int add_target(struct restore_ctx *ctx, struct rtask *t, int efd, const Ferry__EpollTarget *tg)
{
	struct injector *inj = &t->threads[0].inj;
	struct epoll_event ev = { .events = tg->events, .data.u64 = tg->data };
	uint64_t rev = inj_scratch_put(inj, 0, &ev, sizeof(ev));
	long ret;
	if (!rev)
		return fe_msg(ctx->err, ENOSPC, "no scratch memory in the task");
	return RINJ(ctx, inj, &ret, "epoll_ctl(ADD)", SYS_epoll_ctl, efd, EPOLL_CTL_ADD, tg->tfd, rev);
}

/*
 * A registration whose fd was closed (or reused): the file goes under tfd for the epoll_ctl, and
 * whatever held tfd (if anything) is put back. Runs before locks and owners are restored, which a
 * close through that number would drop.
 */
static int add_closed_target(struct restore_ctx *ctx, struct rtask *t, int efd, const Ferry__EpollTarget *tg)
{
	struct injector *inj = &t->threads[0].inj;
	struct rtask *h = files_task(ctx, tg->holder_pid);
	const Ferry__FdEntry *he = h ? files_fd_entry(h, tg->holder_fd) : NULL, *cur = files_fd_entry(t, tg->tfd);
	int master = he ? files_master_fd(ctx, he->file_id) : -1;
	long tmp, saved = -1, ret;
	if (master < 0)
		return fe_msg(ctx->err, EBADMSG, "files.img: epoll target held at fd %d of pid %d, which the image lacks",
			      tg->holder_fd, tg->holder_pid);
	int r = files_fetch(ctx, inj, master, &tmp);
	if (r == 0 && cur)
		r = RINJ(ctx, inj, &saved, "set fd aside", SYS_fcntl, tg->tfd, F_DUPFD_CLOEXEC, files_max_fd(t->fds) + 1);
	if (r == 0 && tmp != tg->tfd)
		r = RINJ(ctx, inj, &ret, "dup3", SYS_dup3, tmp, tg->tfd, O_CLOEXEC);
	if (r == 0)
		r = add_target(ctx, t, efd, tg);
	if (tmp != tg->tfd)
		RINJ(ctx, inj, &ret, "close", SYS_close, tmp);
	if (r == 0 && cur)
		r = RINJ(ctx, inj, &ret, "put the fd back", SYS_dup3, saved, tg->tfd, cur->cloexec ? O_CLOEXEC : 0);
	else if (r == 0)
		r = RINJ(ctx, inj, &ret, "close", SYS_close, tg->tfd);
	if (saved >= 0)
		RINJ(ctx, inj, &ret, "close", SYS_close, saved);
	return r;
}

static int epoll_install(struct restore_ctx *ctx, struct rtask *t, const Ferry__FdEntry *e,
			 const Ferry__FileEntry *fe)
{
	const Ferry__EpollEntry *ep = fe->epoll;
	if (!ep || (ep->has_owner_pid && ep->owner_pid != t->pid) || first_fd(t, fe->id) != e->fd)
		return 0;
	for (size_t i = 0; i < ep->n_targets; i++) {
		const Ferry__EpollTarget *tg = ep->targets[i];
		int r = tg->has_holder_pid ? add_closed_target(ctx, t, e->fd, tg) : add_target(ctx, t, e->fd, tg);
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
