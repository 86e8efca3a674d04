/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Socket checks that need the whole tree dumped. A task object after the file table: on the last
 * task, every unix socket's references are resolved against the image (sockets held by tasks and
 * sockets in flight alike); what points outside the tree follows CRIU's --ext-unix-sk rules (a
 * datagram socket is reconnected by name, a stream one comes back with its peer closed) or is
 * refused by name.
 *
 * What the connections listeners have not accepted hold can only be read by accepting them, which
 * no program can undo: so that is refused with -R (the tree runs on and will accept them), and
 * otherwise done as the dump's very last step before the inventory (sk_dump_pending), once every
 * other image file is durable, into unix-pending.img. A failure before that step leaves every
 * listener's queue as it was. If the step or the inventory after it fails, ferry cannot put an
 * accepted connection back: one whose client had closed is made again from ferry (same data and
 * end of file, only SO_PEERCRED differs); one whose client lives is closed (the client sees the
 * connection end), and the error names each listener that lost some (pid, fd, how many).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#define LOG_PREFIX "sockets: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "files/sktree.h"
#include "files/sockopt.h"
#include "files/unix-internal.h"
#include "engine/context.h"
#include "image/image.h"
#include "image/sink.h"
#include "image/source.h"

struct sk_ent {
	Ferry__FileEntry *fe;
	pid_t pid;
	int fd;			/* -1: in flight */
	int unread;		/* listener: pending connections to read */
	int read;		/* listener: its pending connections are read at the end (sk_dump_pending) */
	size_t accepted;	/* how many of them ferry accepted */
};

struct sk_dump {
	struct sk_ent *ents;
	size_t n, cap;
	Ferry__UnixPending pend;	/* unix-pending.img */
	size_t cap_conns;
	uint8_t *closed;		/* per conn: its client had closed its end (it can be handed back) */
};

static int add_ent(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe, int unread)
{
	if (!ctx->sk && !(ctx->sk = ARENA_NEW(&ctx->arena, struct sk_dump)))
		return -ENOMEM;
	struct sk_dump *s = ctx->sk;
	for (size_t i = 0; i < s->n; i++)
		if (s->ents[i].fe == fe) {
			s->ents[i].unread |= unread;
			return 0;
		}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 32;
		struct sk_ent *n = ARENA_ARRAY(&ctx->arena, struct sk_ent, cap);
		if (!n)
			return -ENOMEM;
		if (s->n)
			memcpy(n, s->ents, s->n * sizeof(*n));
		s->ents = n;
		s->cap = cap;
	}
	s->ents[s->n++] = (struct sk_ent){ fe, t->pid, fi->fd, unread };
	return 0;
}

int sk_note(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe, int unread)
{
	return add_ent(ctx, t, fi, fe, unread) < 0 ? fe_set(ctx->err, ENOMEM, "socket list") : 0;
}

int sk_tree_holds(struct dump_ctx *ctx, uint64_t ino)
{
	char want[48], path[64], link[64];
	snprintf(want, sizeof(want), "socket:[%llu]", (unsigned long long)ino);
	for (size_t i = 0; ino && i < ctx->ntasks; i++) {
		snprintf(path, sizeof(path), "/proc/%d/fd", ctx->tasks[i].pid);
		_cleanup_closedir_ DIR *d = ctx->tasks[i].zombie ? NULL : opendir(path);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			ssize_t n = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
			if (n > 0 && (link[n] = 0, strcmp(link, want) == 0))
				return 1;
		}
	}
	return 0;
}

static struct sk_ent *find(struct dump_ctx *ctx, uint64_t ino)
{
	for (size_t i = 0; ino && ctx->sk && i < ctx->sk->n; i++)
		if (ctx->sk->ents[i].fe->unix_sk->ino == ino)
			return &ctx->sk->ents[i];
	return NULL;
}

static int refuse(struct dump_ctx *ctx, const struct sk_ent *e, const char *why, uint64_t other)
{
	char what[300];
	const char *where = e->fd >= 0 ? "" : " (in flight)";
	return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: fd %d%s: %s: %s %llu, which no dumped task holds; %s",
		      e->pid, e->fd, where, ux_str(e->fe->unix_sk, what, sizeof(what)), why,
		      (unsigned long long)other, "dump with --ext-unix-sk to restore it without that peer");
}

/* A peer outside the tree: a datagram socket is reconnected by name, a stream one loses its peer. */
static int external_peer(struct dump_ctx *ctx, struct sk_ent *e)
{
	Usk *u = e->fe->unix_sk;
	char what[300], n[256];
	if (!ctx->opts->ext_unix_sk)
		return refuse(ctx, e, "connected to unix socket", u->peer_ino);
	if (u->type == SOCK_DGRAM && !u->has_peer_name)
		return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: fd %d: %s: connected to unix socket %llu outside the tree, "
			      "which has no name to reconnect to", e->pid, e->fd, ux_str(u, what, sizeof(what)),
			      (unsigned long long)u->peer_ino);
	if (u->type == SOCK_DGRAM)
		pr_info("%s: reconnected by name to %s, outside the tree\n", ux_str(u, what, sizeof(what)),
			ux_name_str(u->peer_name.data, u->peer_name.len, n, sizeof(n)));
	else
		pr_warn("--ext-unix-sk: %s: its peer %llu is outside the tree; restored with that peer closed\n",
			ux_str(u, what, sizeof(what)), (unsigned long long)u->peer_ino);
	if (u->type != SOCK_DGRAM) {
		u->has_ext_peer = u->ext_peer = 1;
		u->has_peer_name = 0;
	}
	u->has_peer_ino = 0;
	u->peer_ino = 0;
	return 0;
}

/* Who probably connected: the task holding the client end, with its effective ids and groups. */
static Ferry__UnixCred *guess_cred(struct dump_ctx *ctx, pid_t pid)
{
	char path[64];
	_cleanup_free_ char *text = NULL;
	unsigned ruid, euid, rgid, egid;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (read_file(path, &text, NULL) < 0)
		return NULL;
	const char *uid = proc_field(text, "Uid"), *gid = proc_field(text, "Gid"), *gr = proc_field(text, "Groups");
	Ferry__UnixCred *c = ARENA_NEW(&ctx->arena, Ferry__UnixCred);
	if (!c || !uid || !gid || sscanf(uid, "%u %u", &ruid, &euid) != 2 || sscanf(gid, "%u %u", &rgid, &egid) != 2)
		return NULL;
	ferry__unix_cred__init(c);
	c->pid = pid;
	c->uid = euid;
	c->gid = egid;
	c->groups = ARENA_ARRAY(&ctx->arena, uint32_t, 64);
	for (const char *p = gr; p && c->groups && c->n_groups < 64 && *p && *p != '\n';) {
		char *end;
		unsigned long g = strtoul(p, &end, 10);
		if (end == p)
			break;
		c->groups[c->n_groups++] = (uint32_t)g;
		p = end;
		while (*p == ' ')
			p++;
	}
	return c;
}

static int check_icons(struct dump_ctx *ctx, struct sk_ent *e)
{
	Usk *u = e->fe->unix_sk;
	for (size_t i = 0; i < u->n_icons; i++) {
		Ferry__UnixIcon *ic = u->icons[i];
		struct sk_ent *c = find(ctx, ic->client);
		if (c && !ic->cred)	/* read exactly if the connection is accepted at dump, else a guess */
			ic->cred = guess_cred(ctx, c->pid);
		if (!ic->client || c)
			continue;
		if (!ctx->opts->ext_unix_sk)
			return refuse(ctx, e, "a connection it has not accepted yet comes from unix socket", ic->client);
		ic->client = 0;
		ic->client_gone = 1;
		e->unread = 1;	/* what the outside client sent waits in the connection */
	}
	return 0;
}

static int check_one(struct dump_ctx *ctx, struct sk_ent *e)
{
	Usk *u = e->fe->unix_sk;
	struct sk_ent *o;
	if (u->peer_ino && !u->self_conn && !find(ctx, u->peer_ino)) {
		int r = external_peer(ctx, e);
		if (r < 0)
			return r;
	}
	if (u->has_pending_on && !find(ctx, u->pending_on)) {
		if (!ctx->opts->ext_unix_sk)
			return refuse(ctx, e, "its connection waits to be accepted by unix socket", u->pending_on);
		u->has_pending_on = 0;
		u->has_ext_peer = u->ext_peer = 1;
	}
	if (u->has_accepted_from && (!(o = find(ctx, u->accepted_from)) || o->fe->unix_sk->state != UX_LISTEN)) {
		u->has_accepted_from = 0;
		u->accepted_from = 0;
	}
	return u->state == UX_LISTEN ? check_icons(ctx, e) : 0;
}

static Ferry__UnixPendingConn *new_conn(struct dump_ctx *ctx, const Usk *u, size_t i)
{
	struct sk_dump *s = ctx->sk;
	Ferry__UnixPendingConn *c = ARENA_NEW(&ctx->arena, Ferry__UnixPendingConn);
	if (!c)
		return NULL;
	ferry__unix_pending_conn__init(c);
	c->listener = u->ino;
	c->index = (uint32_t)i;
	if (s->pend.n_conns == s->cap_conns) {
		size_t cap = s->cap_conns ? s->cap_conns * 2 : 16;
		Ferry__UnixPendingConn **n = ARENA_ARRAY(&ctx->arena, Ferry__UnixPendingConn *, cap);
		uint8_t *closed = ARENA_ARRAY(&ctx->arena, uint8_t, cap);
		if (!n || !closed)
			return NULL;
		if (s->pend.n_conns) {
			memcpy(n, s->pend.conns, s->pend.n_conns * sizeof(*n));
			memcpy(closed, s->closed, s->pend.n_conns);
		}
		s->pend.conns = n;
		s->closed = closed;
		s->cap_conns = cap;
	}
	s->closed[s->pend.n_conns] = 0;
	s->pend.conns[s->pend.n_conns++] = c;
	return c;
}

/* Accepts the listener's pending connections in ferry and keeps what each holds. */
static int read_icons(struct dump_ctx *ctx, struct dtask *t, struct sk_ent *e)
{
	Usk *u = e->fe->unix_sk;
	_cleanup_close_ int lsk = (int)syscall(SYS_pidfd_getfd, t->pidfd, e->fd, 0);
	if (lsk < 0)
		return fe_set(ctx->err, errno, "take the listener back");
	for (size_t i = 0; i < u->n_icons; i++) {
		Ferry__UnixPendingConn *c = new_conn(ctx, u, i);
		struct pollfd p = { .fd = lsk, .events = POLLIN };	/* never block: the listener is the task's */
		if (!c)
			return fe_set(ctx->err, ENOMEM, "pending connections");
		if (poll(&p, 1, 0) != 1)
			return fe_msg(ctx->err, EAGAIN, "its pending connection %zu went away", i);
		_cleanup_close_ int x = accept4(lsk, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (x < 0)
			return fe_set(ctx->err, errno, "accept its pending connection %zu", i);
		e->accepted++;
		int reset = 0, r = ux_dump_cred(ctx, x, &c->cred);
		if (r == 0)
			r = uq_peek(ctx, t, x, (int)u->type, &c->msgs, &c->n_msgs, &reset);
		if (r < 0)
			return fe_wrap(ctx->err, r, "pending connection %zu", i);
		struct pollfd h = { .fd = x, .events = POLLRDHUP };
		ctx->sk->closed[ctx->sk->pend.n_conns - 1] = poll(&h, 1, 0) == 1 && (h.revents & (POLLRDHUP | POLLHUP));
	}
	return 0;
}

/*
 * A failed dump: a connection whose client had closed its end is made again from ferry, with the
 * same data and its end of file (only SO_PEERCRED differs: ferry's). Not one carrying
 * descriptors, nor one whose client lives: that client holds the end ferry accepted.
 */
static int hand_back(const Usk *u, const Ferry__UnixPendingConn *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = u->file_now ? u->file_now : NULL;
	size_t len = path ? strlen(path) : u->name.len;
	for (size_t i = 0; i < c->n_msgs; i++)
		if (c->msgs[i]->n_fds)
			return -EXDEV;
	if (!u->has_name || !u->name.len || u->hidden || u->file_gone || len >= sizeof(sa.sun_path) ||
	    (!path && u->name.data[0] && u->name.data[0] != '/'))
		return -ENOENT;	/* no name ferry can reach it by */
	memcpy(sa.sun_path, path ? (const void *)path : u->name.data, len);
	_cleanup_close_ int s = socket(AF_UNIX, (int)u->type | SOCK_CLOEXEC, 0);
	size_t total = 65536;
	for (size_t i = 0; i < c->n_msgs; i++)
		total += c->msgs[i]->data.len + 4096;	/* room for all of it at once: never sent in part */
	if (s >= 0)
		sockopt_set_buf(s, SO_SNDBUF, total > INT_MAX / 2 ? INT_MAX : (int)(2 * total));
	if (s < 0 || connect(s, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		return -errno;
	for (size_t i = 0; i < c->n_msgs; i++)
		if (send(s, c->msgs[i]->data.data, c->msgs[i]->data.len, MSG_NOSIGNAL | MSG_DONTWAIT) !=
		    (ssize_t)c->msgs[i]->data.len)
			return -errno;
	return 0;
}

/* Does a name lead ferry where it leads pid (the same network and mount namespaces)? */
static int same_ns(pid_t pid)
{
	static const char *const kinds[] = { "net", "mnt" };
	for (size_t i = 0; i < 2; i++) {
		char mine[32], its[64];
		struct stat a, b;
		snprintf(mine, sizeof(mine), "/proc/self/ns/%s", kinds[i]);
		snprintf(its, sizeof(its), "/proc/%d/ns/%s", pid, kinds[i]);
		if (stat(mine, &a) < 0 || stat(its, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
			return 0;
	}
	return 1;
}

/* After a failed dump: the connections of e ferry had accepted that it can make again. */
static size_t hand_back_all(struct sk_dump *s, const struct sk_ent *e)
{
	size_t n = 0;
	if (!same_ns(e->pid))
		return 0;
	for (size_t i = 0; i < s->pend.n_conns; i++) {
		const Ferry__UnixPendingConn *c = s->pend.conns[i];
		if (c->listener == e->fe->unix_sk->ino && s->closed[i] && hand_back(e->fe->unix_sk, c) == 0)
			n++;
	}
	return n;
}

static struct dtask *task_of(struct dump_ctx *ctx, pid_t pid)
{
	for (size_t i = 0; i < ctx->ntasks; i++)
		if (ctx->tasks[i].pid == pid)
			return &ctx->tasks[i];
	return NULL;
}

/* Which listeners' pending connections are read at the end; with -R or in flight, refused now. */
static int plan_listeners(struct dump_ctx *ctx)
{
	char what[300];
	for (size_t i = 0; ctx->sk && i < ctx->sk->n; i++) {
		struct sk_ent *e = &ctx->sk->ents[i];
		Usk *u = e->fe->unix_sk;
		/* dying after the dump, the tree loses nothing: every pending connection is read exactly */
		if (!e->unread && (ctx->opts->leave_running || u->state != UX_LISTEN || !u->n_icons || e->fd < 0))
			continue;
		if (ctx->opts->leave_running || e->fd < 0 || !task_of(ctx, e->pid))
			return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: fd %d: %s: a connection it has not accepted yet holds "
				      "data (or its client closed), which can only be read by accepting it: not when the "
				      "tree runs on after the dump (-R)%s", e->pid, e->fd,
				      ux_str(e->fe->unix_sk, what, sizeof(what)), e->fd < 0 ? ", nor in flight" : "");
		e->read = 1;
		u->has_icons_read = u->icons_read = 1;	/* restore then insists on finding them */
	}
	return 0;
}

/* Sockets met in flight in what the pending connections held: checked as the others were. */
static int check_late(struct dump_ctx *ctx, size_t from)
{
	int r = 0;
	for (size_t i = from; i < ctx->sk->n && r == 0; i++) {
		struct sk_ent *e = &ctx->sk->ents[i];
		if ((r = check_one(ctx, e)) == 0 && e->unread)
			r = fe_msg(ctx->err, EOPNOTSUPP, "a listener in flight in a pending connection holds pending "
				   "connections with data: not supported");
	}
	return r;
}

int sk_dump_pending(struct dump_ctx *ctx)
{
	char what[300];
	struct sk_dump *s = ctx->sk;
	size_t n = 0, nfiles = ctx->files.n_files, nents = s ? s->n : 0;
	for (size_t i = 0; i < nents; i++)
		n += s->ents[i].read;
	if (!n)
		return 0;
	int r = img_sink_sync(ctx->sink, ctx->err);	/* every other image file is durable first */
	if (r < 0)
		return fe_wrap(ctx->err, r, "before reading the connections listeners have not accepted");
	for (size_t i = 0; i < nents && r == 0; i++) {
		struct sk_ent *e = &s->ents[i];
		struct dtask *t = task_of(ctx, e->pid);
		if (e->read && (r = read_icons(ctx, t, e)) < 0)
			r = fe_wrap(ctx->err, r, "pid %d: fd %d: %s", e->pid, e->fd, ux_str(e->fe->unix_sk, what, sizeof(what)));
	}
	if (r == 0)
		r = check_late(ctx, nents);
	if (r == 0 && fault_point("dump-pending-accepted"))
		r = fe_msg(ctx->err, EIO, "fault injected once the pending connections were accepted");
	s->pend.files = ctx->files.files + nfiles;	/* files.img is written: the ones met since */
	s->pend.n_files = ctx->files.n_files - nfiles;
	if (r == 0)
		r = img_write_msg_to(ctx->sink, IMG_UNIX_PENDING, 0, &s->pend.base, ctx->err);
	return r;
}

int sk_dump_end(struct dump_ctx *ctx, int r)
{
	char what[300];
	files_release_held(ctx);
	for (size_t i = 0; r < 0 && ctx->sk && i < ctx->sk->n; i++) {
		const struct sk_ent *e = &ctx->sk->ents[i];
		if (!e->accepted)
			continue;
		size_t back = hand_back_all(ctx->sk, e), lost = e->accepted - back;
		ux_str(e->fe->unix_sk, what, sizeof(what));
		if (back)
			pr_warn("pid %d: fd %d: %s: %zu connection(s) whose client had closed were made again by ferry "
				"(same data; SO_PEERCRED now names ferry)\n", e->pid, e->fd, what, back);
		if (!lost)
			continue;
		pr_err("pid %d: fd %d: %s: %zu connection(s) it had not accepted were accepted by the failed dump "
		       "and are LOST: closed, their clients see the connection end\n", e->pid, e->fd, what, lost);
		r = fe_wrap(ctx->err, r, "pid %d: fd %d: %s: %zu connection(s) it had not accepted are lost (the dump "
			    "accepted them to read them, then failed)", e->pid, e->fd, what, lost);
	}
	return r;
}

static int last_task(struct dump_ctx *ctx, const struct dtask *t)
{
	for (size_t i = ctx->ntasks; i-- > 0;)
		if (!ctx->tasks[i].zombie)
			return &ctx->tasks[i] == t;
	return 0;
}

static int sockets_dump(struct dump_ctx *ctx, struct dtask *t)
{
	int r = 0;
	if (!last_task(ctx, t))
		return 0;
	for (size_t i = 0; ctx->sk && i < ctx->sk->n && r == 0; i++)
		r = check_one(ctx, &ctx->sk->ents[i]);
	if (r == 0)
		r = plan_listeners(ctx);
	if (r == 0 && ctx->sk)
		ferry__unix_pending__init(&ctx->sk->pend);
	return r;	/* the descriptors kept from queues are closed by sk_dump_end */
}

/* ------------------------------------------------------------------ restore */

struct sk_restore {
	Ferry__UnixPending *pend;
	Ferry__FileEntry **own;		/* files.img's own array, given back before it is freed */
	size_t n_own;
	Ferry__FileEntry **merged;
};

int sk_restore_read(struct restore_ctx *ctx)
{
	Ferry__UnixPending *p = NULL;
	int r = img_src_read_msg(&ctx->src, IMG_UNIX_PENDING, 0, (ProtobufCMessage **)&p, ctx->err);
	if (r == -ENOENT) {
		fe_clear(ctx->err);
		return 0;
	}
	if (r < 0)
		return r;
	struct sk_restore *k = calloc(1, sizeof(*k));
	if (!k) {
		img_free(&p->base);
		return fe_set(ctx->err, ENOMEM, "unix-pending.img");
	}
	k->pend = p;
	ctx->skr = k;
	if (!p->n_files)
		return 0;
	Ferry__Files *f = ctx->files;
	if (p->n_files > FILES_MAX || f->n_files > FILES_MAX)
		return fe_msg(ctx->err, EBADMSG, "unix-pending.img: too many files");
	if (!(k->merged = calloc(f->n_files + p->n_files + 1, sizeof(*k->merged))))
		return fe_set(ctx->err, ENOMEM, "unix-pending.img");
	if (f->n_files)
		memcpy(k->merged, f->files, f->n_files * sizeof(*k->merged));
	memcpy(k->merged + f->n_files, p->files, p->n_files * sizeof(*k->merged));
	k->own = f->files;
	k->n_own = f->n_files;
	f->files = k->merged;	/* validated and indexed with the rest (files_validate) */
	f->n_files += p->n_files;
	return 0;
}

void sk_restore_free(struct restore_ctx *ctx)
{
	struct sk_restore *k = ctx->skr;
	if (!k)
		return;
	if (k->merged) {
		ctx->files->files = k->own;
		ctx->files->n_files = k->n_own;
		free(k->merged);
	}
	img_free(&k->pend->base);
	free(k);
	ctx->skr = NULL;
}

const Ferry__UnixPendingConn *sk_pending_conn(struct restore_ctx *ctx, uint64_t listener, size_t index)
{
	for (size_t i = 0; ctx->skr && i < ctx->skr->pend->n_conns; i++) {
		const Ferry__UnixPendingConn *c = ctx->skr->pend->conns[i];
		if (c->listener == listener && c->index == index)
			return c;
	}
	return NULL;
}

/* Does some task's table hold file id? (Else it is only in flight, in a unix queue.) */
static int held_by_tasks(struct restore_ctx *ctx, uint32_t id)
{
	for (size_t k = 0; k < ctx->ntasks; k++)
		for (size_t i = 0; !ctx->tasks[k].zombie && i < ctx->tasks[k].fds->n_fds; i++)
			if (ctx->tasks[k].fds->fds[i]->file_id == id)
				return 1;
	return 0;
}

/*
 * An epoll in flight keeps registrations keyed by its owner's fd numbers: they are made again in
 * the owner through a descriptor lent for the moment (the epoll module's install, on a one-entry
 * view of the task's table), then closed.
 */
static int inflight_epoll(struct restore_ctx *ctx, struct rtask *t, const Ferry__FileEntry *fe)
{
	struct injector *inj = &t->threads[0].inj;
	int master = files_master_fd(ctx, fe->id);
	long remote, ret;
	if (master < 0)
		return fe_msg(ctx->err, EBADMSG, "epoll %u in flight was not made", fe->id);
	int r = files_fetch(ctx, inj, master, &remote);
	if (r < 0)
		return r;
	/* the task's table and the lent descriptor: a registration whose fd was closed since is made
	 * through a number of it, and what holds that number is put back (epoll.c) */
	Ferry__FdEntry e = FERRY__FD_ENTRY__INIT;
	Ferry__FdTable view = *t->fds, *saved = t->fds;
	_cleanup_free_ Ferry__FdEntry **all = calloc(saved->n_fds + 1, sizeof(*all));
	if (!all)
		r = fe_set(ctx->err, ENOMEM, "fd table");
	e.fd = (int32_t)remote;
	e.file_id = fe->id;
	for (size_t i = 0; all && i < saved->n_fds; i++)
		all[i] = saved->fds[i];
	if (all) {
		all[saved->n_fds] = &e;
		view.fds = all;
		view.n_fds = saved->n_fds + 1;
		t->fds = &view;
		r = epoll_file_ops.install(ctx, t, &e, fe);
		t->fds = saved;
	}
	int r2 = RINJ(ctx, inj, &ret, "close", SYS_close, remote);
	return r < 0 ? r : r2;
}

static int sockets_restore(struct restore_ctx *ctx, struct rtask *t)
{
	for (size_t i = 0; i < ctx->files->n_files; i++) {
		const Ferry__FileEntry *fe = ctx->files->files[i];
		if (fe->kind != FERRY__FILE_KIND__FILE_EPOLL || !fe->epoll || fe->epoll->owner_pid != t->pid ||
		    !fe->epoll->n_targets || held_by_tasks(ctx, fe->id))
			continue;
		int r = inflight_epoll(ctx, t, fe);
		if (r < 0)
			return fe_wrap(ctx->err, r, "pid %d: epoll %u in flight", t->pid, fe->id);
	}
	return 0;
}

const struct task_obj_ops sockets_obj = {
	.name = "sockets",
	.dump = sockets_dump,
	.restore_inject = sockets_restore,
};
