/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unix sockets, dump side: type, name (and where its file is: SIOCUNIXFILE tells a removed or
 * replaced file, and the directory a relative name was bound from), peer, listener backlog and
 * pending connections (sock_diag), every option (sockopt.c), who made the connection (SO_PEERCRED),
 * shutdown state, a pending ECONNRESET, and the receive queue (unix-queue.c). Whether a peer or a
 * listener is in the image is known only once the whole tree is dumped: sktree.c checks then, and
 * reads what clients sent to connections not accepted yet. Restore is in unix-restore.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/sockios.h>
#define LOG_PREFIX "unix: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "files/sktree.h"
#include "files/sockopt.h"
#include "files/unix-internal.h"

#ifndef SIOCUNIXFILE
#define SIOCUNIXFILE (SIOCPROTOPRIVATE + 0)
#endif

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

const char *ux_str(const Usk *u, char *buf, size_t size)
{
	char n[256];
	snprintf(buf, size, "unix socket %llu (%s)", (unsigned long long)u->ino,
		 ux_name_str(u->name.data, u->has_name ? u->name.len : 0, n, sizeof(n)));
	return buf;
}

static int unix_match(const struct fd_info *fi, const struct dump_opts *o)
{
	(void)o;
	return sockopt_is_family(fi, AF_UNIX);
}

int ux_dump_cred(struct dump_ctx *ctx, int sk, Ferry__UnixCred **out)
{
	struct ucred c;
	socklen_t l = sizeof(c);
	gid_t groups[256];
	*out = NULL;
	if (getsockopt(sk, SOL_SOCKET, SO_PEERCRED, &c, &l) < 0)
		return fe_set(ctx->err, errno, "SO_PEERCRED");
	if (c.pid == 0 && c.uid == (uid_t)-1)
		return 0;
	Ferry__UnixCred *uc = ARENA_NEW(&ctx->arena, Ferry__UnixCred);
	if (!uc)
		return fe_set(ctx->err, ENOMEM, "credentials");
	ferry__unix_cred__init(uc);
	uc->pid = c.pid;
	uc->uid = c.uid;
	uc->gid = c.gid;
	l = sizeof(groups);
	if (getsockopt(sk, SOL_SOCKET, SO_PEERGROUPS, groups, &l) == 0 && l) {
		uc->n_groups = l / sizeof(gid_t);
		uc->groups = ARENA_ARRAY(&ctx->arena, uint32_t, uc->n_groups);
		if (!uc->groups)
			return fe_set(ctx->err, ENOMEM, "groups");
		for (size_t i = 0; i < uc->n_groups; i++)
			uc->groups[i] = groups[i];
	}
	*out = uc;
	return 0;
}

static int keep_str(struct dump_ctx *ctx, char **dst, const char *s, size_t len)
{
	*dst = arena_alloc(&ctx->arena, len + 1);
	if (!*dst)
		return fe_set(ctx->err, ENOMEM, "path");
	memcpy(*dst, s, len);
	return 0;
}

/* Where the socket file is (SIOCUNIXFILE): its path, " (deleted)" cut, its mode and owner. */
static int socket_file(int sk, char *path, size_t size, struct stat *st, int *deleted)
{
	_cleanup_close_ int f = ioctl(sk, SIOCUNIXFILE);
	char link[64];
	if (f < 0)
		return -errno;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", f);
	ssize_t n = readlink(link, path, size - 1);
	if (n < 0 || fstat(f, st) < 0)
		return -errno;
	path[n] = 0;
	static const char del[] = " (deleted)";
	*deleted = (size_t)n > sizeof(del) - 1 && !strcmp(path + n - (sizeof(del) - 1), del);
	if (*deleted)
		path[n - (sizeof(del) - 1)] = 0;
	return 0;
}

/*
 * A bound path: the socket file's mode and owner, the directory a relative name resolves from,
 * and whether the name still leads to this socket (else it is bound hidden at restore).
 */
static int dump_path(struct dump_ctx *ctx, struct dtask *t, int sk, const struct ux_diag *d, Usk *u)
{
	char file[PATH_MAX], by_name[PATH_MAX + 64];
	struct stat st, now;
	int deleted = 0, rel = d->name[0] != '/', r = socket_file(sk, file, sizeof(file), &st, &deleted);
	if (r < 0)
		return fe_set(ctx->err, -r, "find the socket's file (SIOCUNIXFILE)");
	u->has_file_mode = u->has_file_uid = u->has_file_gid = 1;
	u->file_mode = st.st_mode & 07777;
	u->file_uid = st.st_uid;
	u->file_gid = st.st_gid;
	size_t flen = strlen(file), nlen = d->namelen;
	while (nlen && !d->name[nlen - 1])
		nlen--;
	if (rel) {	/* the directory it was bound from: the file's path without the name */
		int ends = flen > nlen && file[flen - nlen - 1] == '/' && !memcmp(file + flen - nlen, d->name, nlen);
		char *slash = strrchr(file, '/');
		size_t dlen = ends ? flen - nlen - 1 : slash ? (size_t)(slash - file) : 0;
		if ((r = keep_str(ctx, &u->bind_cwd, file, dlen ? dlen : 1)) < 0)
			return r;
		if (!dlen)
			u->bind_cwd[0] = '/';
	}
	snprintf(by_name, sizeof(by_name), "/proc/%d/%s/%.*s", t->pid, rel ? "cwd" : "root", (int)nlen, d->name);
	if (rel && u->bind_cwd)
		snprintf(by_name, sizeof(by_name), "%s/%.*s", u->bind_cwd, (int)nlen, d->name);
	if (!deleted && stat(by_name, &now) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev)
		return 0;
	int owns = d->state != UX_ESTABLISHED || d->type == SOCK_DGRAM;	/* not an accepted copy */
	if (owns && !deleted && stat(file, &now) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev) {
		/* renamed since the bind (bind to a temporary name, then rename, as the JVM's attach
		 * listener does): bound to its name at restore, renamed where the file is now once
		 * every connection to the name is made (unix-restore.c) */
		pr_info("socket %u: its file %.*s is now %s\n", d->ino, (int)nlen, d->name, file);
		return keep_str(ctx, &u->file_now, file, flen);
	}
	pr_info("socket %u: its file %s is gone or replaced: bound where no path leads at restore\n", d->ino, file);
	u->has_hidden = u->hidden = 1;
	char *slash = strrchr(file, '/');
	return keep_str(ctx, &u->file_dir, file, slash && slash != file ? (size_t)(slash - file) : 1);
}

static int dump_listener(struct dump_ctx *ctx, const struct ux_diag *d, Usk *u, int *unread)
{
	u->has_backlog = 1;
	u->backlog = d->wqueue;
	if (!d->nicons)
		return 0;
	u->icons = ARENA_ARRAY(&ctx->arena, Ferry__UnixIcon *, d->nicons);
	if (!u->icons)
		return fe_set(ctx->err, ENOMEM, "pending connections");
	for (size_t i = 0; i < d->nicons; i++) {
		Ferry__UnixIcon *ic = ARENA_NEW(&ctx->arena, Ferry__UnixIcon);
		struct ux_diag c;
		if (!ic)
			return fe_set(ctx->err, ENOMEM, "pending connections");
		ferry__unix_icon__init(ic);
		ic->has_client = 1;
		ic->client = d->icons[i];
		ic->has_client_gone = 1;
		ic->client_gone = !d->icons[i];
		/* a live client's unread data shows as its send queue; a closed one's cannot be seen */
		if (!d->icons[i] || (ux_diag_get(d->icons[i], &c) == 0 && (ux_diag_free(&c), c.wqueue > 0)))
			*unread = 1;
		u->icons[u->n_icons++] = ic;
	}
	return 0;
}

/* Connected, but the peer has no inode: a connection not accepted yet, or a closed peer. */
static int dump_no_peer(struct dump_ctx *ctx, int sk, const struct ux_diag *d, Usk *u)
{
	uint32_t listener = 0, named = 0;
	int r = d->type == SOCK_DGRAM ? 0 : ux_diag_listeners(d->ino, NULL, 0, 0, &listener, &named);
	if (r < 0)
		return fe_set(ctx->err, -r, "sock_diag: list listening sockets");
	if (listener) {
		if (d->wqueue)	/* what it sent waits in the connection, read with the listener's */
			pr_debug("socket %u: %u bytes sent to a connection not accepted yet\n", d->ino, d->wqueue);
		u->has_pending_on = 1;
		u->pending_on = listener;
		return 0;
	}
	struct pollfd p = { .fd = sk, .events = POLLIN };	/* a pending error, without reading it */
	if (d->type != SOCK_DGRAM && poll(&p, 1, 0) == 1 && (p.revents & POLLERR))
		u->has_reset = u->reset = 1;
	return 0;
}

static int dump_connected(struct dump_ctx *ctx, int sk, const struct ux_diag *d, Usk *u)
{
	if (!d->peer)
		return dump_no_peer(ctx, sk, d, u);
	u->has_peer_ino = 1;
	u->peer_ino = d->peer;
	if (d->peer == d->ino) {
		u->has_self_conn = u->self_conn = 1;
		return 0;
	}
	uint32_t listener = 0, named = 0;
	if (d->type != SOCK_DGRAM && d->namelen &&
	    ux_diag_listeners(0, d->name, d->namelen, d->type, &listener, &named) == 0 && named) {
		u->has_accepted_from = 1;	/* checked once the tree is dumped: is it in the image? */
		u->accepted_from = named;
	}
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);	/* the peer's name, to reconnect if it turns out external */
	if (getpeername(sk, (struct sockaddr *)&sa, &len) == 0 && len > offsetof(struct sockaddr_un, sun_path)) {
		u->has_peer_name = 1;
		u->peer_name.len = len - offsetof(struct sockaddr_un, sun_path);
		u->peer_name.data = arena_memdup(&ctx->arena, sa.sun_path, u->peer_name.len);
		if (!u->peer_name.data)
			return fe_set(ctx->err, ENOMEM, "peer name");
	}
	return 0;
}

static int dump_state(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, const struct ux_diag *d,
		      Usk *u, int *unread)
{
	int r = 0, sk = fi->stolen;
	if (d->namelen) {
		u->has_name = 1;
		u->name.len = d->namelen;
		u->name.data = arena_memdup(&ctx->arena, d->name, d->namelen);
		if (!u->name.data)
			return fe_set(ctx->err, ENOMEM, "socket name");
		if (d->name[0])
			r = dump_path(ctx, t, sk, d, u);
	}
	if (r == 0 && d->state == UX_LISTEN)
		r = dump_listener(ctx, d, u, unread);
	else if (r == 0 && d->state == UX_ESTABLISHED)
		r = dump_connected(ctx, sk, d, u);
	/* a stream or seqpacket socket never connected has no queue (and refuses to be read) */
	int reset = 0;
	if (r == 0 && d->state != UX_LISTEN && (d->type == SOCK_DGRAM || d->state == UX_ESTABLISHED))
		r = uq_peek(ctx, t, sk, (int)d->type, &u->msgs, &u->n_msgs, &reset);
	if (reset)
		u->has_reset = u->reset = 1;
	return r;
}

static int unix_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	struct ux_diag d;
	int unread = 0, r = ux_diag_get((uint32_t)fi->st.st_ino, &d);
	if (r < 0)
		return fe_set(ctx->err, -r, "sock_diag: unix socket %llu", (unsigned long long)fi->st.st_ino);
	Usk *u = ARENA_NEW(&ctx->arena, Usk);
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
	if (d.type != SOCK_STREAM && d.type != SOCK_DGRAM && d.type != SOCK_SEQPACKET)
		r = fe_msg(ctx->err, EOPNOTSUPP, "socket type %u; not supported", d.type);
	if (r == 0)
		r = sockopt_dump(&ctx->arena, fi->stolen, 0, &u->opts, &u->n_opts, ctx->err);
	if (r == 0)
		r = ux_dump_cred(ctx, fi->stolen, &u->peer_cred);
	if (r == 0)
		r = dump_state(ctx, t, fi, &d, u, &unread);
	if (r == 0)
		r = sk_note(ctx, t, fi, fe, unread);
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
