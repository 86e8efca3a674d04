/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unix sockets, dump side: type, name, peer, listener backlog and pending connections (from
 * sock_diag), options, shutdown state, and the data waiting in the receive queue, read with
 * MSG_PEEK at SO_PEEK_OFF 0 so the task's view never changes. Restore is in unix-restore.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#define LOG_PREFIX "unix: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "files/unix-internal.h"

#define PEEK_CHUNK 65536

const char *ux_name_str(const uint8_t *name, size_t len, char *buf, size_t size)
{
	if (!len)
		return "unnamed";
	if (name[0]) {
		snprintf(buf, size, "%.*s", (int)len, (const char *)name);
		return buf;
	}
	size_t o = snprintf(buf, size, "@");
	for (size_t i = 1; i < len && o + 5 < size; i++)
		o += snprintf(buf + o, size - o, name[i] >= 0x20 && name[i] < 0x7f ? "%c" : "\\x%02x", name[i]);
	return buf;
}

static int unix_match(const struct fd_info *fi, const struct dump_opts *o)
{
	int domain = 0;
	socklen_t len = sizeof(domain);
	return S_ISSOCK(fi->st.st_mode) && fi->stolen >= 0 &&
	       getsockopt(fi->stolen, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_UNIX;
}

/* Is socket ino open in some task of the dumped tree? */
static int tree_holds(struct dump_ctx *ctx, uint64_t ino)
{
	char want[48], path[64], link[64];
	snprintf(want, sizeof(want), "socket:[%llu]", (unsigned long long)ino);
	for (size_t i = 0; i < ctx->ntasks; i++) {
		snprintf(path, sizeof(path), "/proc/%d/fd", ctx->tasks[i].pid);
		_cleanup_closedir_ DIR *d = opendir(path);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			ssize_t n = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
			if (n > 0 && (link[n] = 0, strcmp(link, want) == 0))
				return 1;
		}
	}
	return 0;
}

struct peeked {
	ProtobufCBinaryData *items;
	size_t n, cap;
};

static void peeked_free(struct peeked *q)
{
	for (size_t i = 0; i < q->n; i++)
		free(q->items[i].data);
	free(q->items);
}

static int peeked_add(struct peeked *q, uint8_t *data, size_t len)
{
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		ProtobufCBinaryData *n = realloc(q->items, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		q->items = n;
		q->cap = cap;
	}
	q->items[q->n++] = (ProtobufCBinaryData){ len, data };
	return 0;
}

/* Closes fds that peeking an SCM_RIGHTS message installed in ferry; 1 if there were any. */
static int drop_rights(struct msghdr *mh)
{
	int found = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (int i = 0; i < n; i++)
			close(((int *)CMSG_DATA(c))[i]);
		found = 1;
	}
	return found;
}

/* One peek at the current SO_PEEK_OFF: bytes copied, full remaining length in *full. */
static ssize_t peek_once(int sk, uint8_t *buf, size_t len, int stream, size_t *full)
{
	char cbuf[CMSG_SPACE(253 * sizeof(int)) + CMSG_SPACE(64)];
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	int flags = MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC | (stream ? 0 : MSG_TRUNC);
	ssize_t n = recvmsg(sk, &mh, flags);
	if (n < 0)
		return errno == EAGAIN ? -EAGAIN : -errno;
	if (drop_rights(&mh))
		return -EXDEV;
	*full = (size_t)n;
	return stream || (size_t)n <= len ? n : (ssize_t)len;
}

/* One whole message (or, for a stream, up to PEEK_CHUNK bytes); 0 once the queue is empty. */
static int peek_item(int sk, int stream, struct peeked *q)
{
	size_t cap = PEEK_CHUNK, got = 0, want = 0, full = 0;
	_cleanup_free_ uint8_t *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = peek_once(sk, buf + got, cap - got, stream, &full);
		if (n == -EAGAIN && got == 0)
			return 0;
		if (n < 0)
			return (int)n;
		if (stream) {
			if (n == 0)
				return 0;
			got = n;
			break;
		}
		if (got == 0)
			want = full;	/* the message's length; a long one comes in pieces */
		got += n;
		if (got >= want)
			break;
		if (n == 0)
			return -EIO;
		uint8_t *nb = realloc(buf, cap = want);
		if (!nb)
			return -ENOMEM;
		buf = nb;
	}
	int r = peeked_add(q, buf, got);
	if (r == 0)
		buf = NULL;
	return r < 0 ? r : 1;
}

static int peek_queue(struct dump_ctx *ctx, int sk, int type, Ferry__UnixSkEntry *u)
{
	int r, zero = 0;
	if (setsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) < 0)
		return fe_set(ctx->err, errno, "set SO_PEEK_OFF");
	struct peeked q = { 0 };
	while ((r = peek_item(sk, type == SOCK_STREAM, &q)) > 0)
		;
	setsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &u->peek_off, sizeof(u->peek_off));
	if (r == -EXDEV)
		r = fe_msg(ctx->err, EOPNOTSUPP, "descriptors in flight (SCM_RIGHTS) wait in its queue; not supported");
	else if (r < 0)
		r = fe_set(ctx->err, -r, "peek at the queued data");
	size_t total = 0;
	if (r == 0 && q.n && !(u->rqueue = ARENA_ARRAY(&ctx->arena, ProtobufCBinaryData, q.n)))
		r = fe_set(ctx->err, ENOMEM, "queued data");
	for (size_t i = 0; r == 0 && i < q.n; i++) {
		u->rqueue[i].len = q.items[i].len;
		u->rqueue[i].data = arena_memdup(&ctx->arena, q.items[i].data, q.items[i].len ? q.items[i].len : 1);
		total += q.items[i].len;
		if (!u->rqueue[i].data)
			r = fe_set(ctx->err, ENOMEM, "queued data");
	}
	if (r == 0) {
		u->n_rqueue = q.n;
		pr_debug("socket %llu: %zu bytes queued in %zu item(s)\n", (unsigned long long)u->ino, total, q.n);
	}
	peeked_free(&q);
	return r;
}

static int get_int(int sk, int opt, int *val)
{
	socklen_t len = sizeof(*val);
	return getsockopt(sk, SOL_SOCKET, opt, val, &len) < 0 ? -errno : 0;
}

static int dump_opts(struct dump_ctx *ctx, int sk, Ferry__UnixSkEntry *u)
{
	int sndbuf, rcvbuf, passcred, peek_off;
	if (get_int(sk, SO_SNDBUF, &sndbuf) < 0 || get_int(sk, SO_RCVBUF, &rcvbuf) < 0 ||
	    get_int(sk, SO_PASSCRED, &passcred) < 0 || get_int(sk, SO_PEEK_OFF, &peek_off) < 0)
		return fe_set(ctx->err, errno, "socket options");
	u->has_sndbuf = u->has_rcvbuf = u->has_passcred = u->has_peek_off = 1;
	u->sndbuf = sndbuf;
	u->rcvbuf = rcvbuf;
	u->passcred = passcred;
	u->peek_off = peek_off;
	return 0;
}

/*
 * The socket file renamed within its directory since the bind (bind to a temporary name, then
 * rename, as the JVM's attach listener does): found by its inode. 0 if found, -ENOENT if not.
 */
static int find_renamed(struct dump_ctx *ctx, struct dtask *t, const struct ux_diag *d, Ferry__UnixSkEntry *u)
{
	char dir[4200], name[sizeof(d->name) + 1];
	snprintf(name, sizeof(name), "%.*s", (int)d->namelen, d->name);
	char *slash = strrchr(name, '/');
	if (!slash || name[0] != '/')
		return -ENOENT;
	*slash = 0;
	snprintf(dir, sizeof(dir), "/proc/%d/root%s", t->pid, name);
	_cleanup_closedir_ DIR *dd = opendir(dir);
	struct dirent *de;
	struct stat st;
	while (dd && (de = readdir(dd))) {
		if (fstatat(dirfd(dd), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISSOCK(st.st_mode) ||
		    st.st_ino != d->vfs_ino)
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", name, de->d_name);
		u->file_now = arena_strdup(&ctx->arena, dir);
		u->has_file_mode = u->has_file_uid = u->has_file_gid = 1;
		u->file_mode = st.st_mode & 07777;
		u->file_uid = st.st_uid;
		u->file_gid = st.st_gid;
		pr_info("socket %u: its file %.*s is now %s\n", d->ino, (int)d->namelen, d->name, u->file_now);
		return u->file_now ? 0 : -ENOMEM;
	}
	return -ENOENT;
}

/* A bound path: the socket file's mode, or that it is gone; relative names need the cwd. */
static int dump_path(struct dump_ctx *ctx, struct dtask *t, const struct ux_diag *d, Ferry__UnixSkEntry *u)
{
	char path[4200], cwd[64];
	struct stat st;
	int rel = d->name[0] != '/';
	snprintf(cwd, sizeof(cwd), "/proc/%d/cwd", t->pid);
	snprintf(path, sizeof(path), "/proc/%d/%s/%.*s", t->pid, rel ? "cwd" : "root", (int)d->namelen, d->name);
	if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == d->vfs_ino) {
		u->has_file_mode = u->has_file_uid = u->has_file_gid = 1;
		u->file_mode = st.st_mode & 07777;
		u->file_uid = st.st_uid;
		u->file_gid = st.st_gid;
		if (rel && read_link(cwd, &u->bind_cwd) == 0) {
			char *c = arena_strdup(&ctx->arena, u->bind_cwd);
			free(u->bind_cwd);
			u->bind_cwd = c;
		}
		return 0;
	}
	if (rel)
		return fe_msg(ctx->err, EOPNOTSUPP, "bound to the relative path %.*s, which no longer leads to it from the task's cwd",
			      (int)d->namelen, d->name);
	if (find_renamed(ctx, t, d, u) == 0)
		return 0;
	pr_warn("socket %u: its file %s was removed or replaced; it is recreated and removed again at restore\n",
		d->ino, d->name);
	u->has_file_gone = u->file_gone = 1;
	return 0;
}

static int dump_listener(struct dump_ctx *ctx, const struct ux_diag *d, Ferry__UnixSkEntry *u)
{
	u->has_backlog = 1;
	u->backlog = d->wqueue;
	if (!d->nicons)
		return 0;
	u->pending = ARENA_ARRAY(&ctx->arena, uint64_t, d->nicons);
	if (!u->pending)
		return fe_set(ctx->err, ENOMEM, "pending connections");
	for (size_t i = 0; i < d->nicons; i++) {
		u->pending[i] = d->icons[i];
		if (!tree_holds(ctx, d->icons[i]))
			pr_warn("listener %u: pending connection from socket %u outside the dumped tree will be dropped at restore\n",
				d->ino, d->icons[i]);
	}
	u->n_pending = d->nicons;
	return 0;
}

/* Connected, but the peer has no inode: a connection not accepted yet, or a closed peer. */
static int dump_no_peer(struct dump_ctx *ctx, const struct ux_diag *d, Ferry__UnixSkEntry *u)
{
	uint32_t listener = 0, named = 0;
	int r = d->type == SOCK_DGRAM ? 0 : ux_diag_listeners(d->ino, NULL, 0, 0, &listener, &named);
	if (r < 0)
		return fe_set(ctx->err, -r, "sock_diag: list listening sockets");
	if (!listener)
		return 0;	/* its peer was closed: restored as a pair whose other end is closed */
	if (!tree_holds(ctx, listener))
		return fe_msg(ctx->err, EOPNOTSUPP, "connection to listener socket %u, which no dumped task holds, not accepted yet",
			      listener);
	if (d->wqueue)
		return fe_msg(ctx->err, EOPNOTSUPP, "sent data to a connection listener socket %u has not accepted yet; not supported",
			      listener);
	u->has_pending_on = 1;
	u->pending_on = listener;
	return 0;
}

static int dump_connected(struct dump_ctx *ctx, int sk, const struct ux_diag *d, Ferry__UnixSkEntry *u)
{
	char nbuf[256];
	if (!d->peer)
		return dump_no_peer(ctx, d, u);
	if (tree_holds(ctx, d->peer)) {
		u->has_peer_ino = 1;
		u->peer_ino = d->peer;
		uint32_t listener = 0, named = 0;
		if (d->type != SOCK_DGRAM && d->namelen &&
		    ux_diag_listeners(0, d->name, d->namelen, d->type, &listener, &named) == 0 && named &&
		    tree_holds(ctx, named)) {
			u->has_accepted_from = 1;
			u->accepted_from = named;
		}
		return 0;
	}
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	if (d->type != SOCK_DGRAM || getpeername(sk, (struct sockaddr *)&sa, &len) < 0 ||
	    len <= offsetof(struct sockaddr_un, sun_path))
		return fe_msg(ctx->err, EOPNOTSUPP, "connected to socket %u, which no dumped task holds; "
			      "it cannot be restored connected", d->peer);
	u->has_peer_name = 1;
	u->peer_name.len = len - offsetof(struct sockaddr_un, sun_path);
	u->peer_name.data = arena_memdup(&ctx->arena, sa.sun_path, u->peer_name.len);
	pr_info("socket %u: peer %s is outside the dumped tree; reconnected by name at restore\n", d->ino,
		ux_name_str(u->peer_name.data, u->peer_name.len, nbuf, sizeof(nbuf)));
	return u->peer_name.data ? 0 : fe_set(ctx->err, ENOMEM, "peer name");
}

static int dump_state(struct dump_ctx *ctx, struct dtask *t, int sk, const struct ux_diag *d,
		      Ferry__UnixSkEntry *u)
{
	int r = 0;
	if (d->namelen) {
		u->has_name = 1;
		u->name.len = d->namelen;
		u->name.data = arena_memdup(&ctx->arena, d->name, d->namelen);
		if (!u->name.data)
			return fe_set(ctx->err, ENOMEM, "socket name");
		if (d->name[0] && (d->state != UX_ESTABLISHED || d->type == SOCK_DGRAM))
			r = dump_path(ctx, t, d, u);
	}
	if (r == 0 && d->state == UX_LISTEN)
		r = dump_listener(ctx, d, u);
	else if (r == 0 && d->state == UX_ESTABLISHED)
		r = dump_connected(ctx, sk, d, u);
	if (r == 0 && d->state != UX_LISTEN)
		r = peek_queue(ctx, sk, d->type, u);
	return r;
}

static int unix_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	struct ux_diag d;
	int r = ux_diag_get((uint32_t)fi->st.st_ino, &d);
	if (r < 0)
		return fe_set(ctx->err, -r, "sock_diag: unix socket %llu", (unsigned long long)fi->st.st_ino);
	Ferry__UnixSkEntry *u = ARENA_NEW(&ctx->arena, Ferry__UnixSkEntry);
	if (!u) {
		ux_diag_free(&d);
		return fe_set(ctx->err, ENOMEM, "socket entry");
	}
	ferry__unix_sk_entry__init(u);
	fe->unix_sk = u;
	u->has_ino = u->has_type = u->has_state = u->has_shutdown = 1;
	u->ino = d.ino;
	u->type = d.type;
	u->state = d.state;
	u->shutdown = d.shutdown;
	r = dump_opts(ctx, fi->stolen, u);
	if (r == 0)
		r = dump_state(ctx, t, fi->stolen, &d, u);
	if (r < 0) {
		char nbuf[256];
		r = fe_wrap(ctx->err, r, "unix socket %u (%s)", d.ino, ux_name_str((uint8_t *)d.name, d.namelen, nbuf, sizeof(nbuf)));
	}
	ux_diag_free(&d);
	return r;
}

const struct file_ops unix_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_UNIX_SK, .name = "unix socket",
	.match = unix_match, .dump = unix_dump, .open = unix_sk_open,
};
