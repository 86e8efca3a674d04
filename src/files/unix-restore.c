/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unix sockets, restore side, in ferry before any task exists. A connected pair is one
 * socketpair(): the first end opened creates both, refills both queues (what end A had queued is
 * sent from end B) and stashes the other end under its inode. A listener is bound and listening,
 * then gets its accepted connections (connect + accept, so they carry its name) and its pending
 * ones (connect only), whose client ends are stashed for their entries. Whatever an entry needs
 * opened first (a listener, a dgram peer) is opened early and stashed under its own inode.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#define LOG_PREFIX "unix: "
#include "common/log.h"
#include "common/cleanup.h"
#include "files/unix-internal.h"

#define MAX_DEPTH 8

static int create(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err, int depth);

static const Ferry__FileEntry *find_ino(struct restore_ctx *ctx, uint64_t ino)
{
	for (size_t i = 0; ino && i < ctx->files->n_files; i++) {
		const Ferry__FileEntry *fe = ctx->files->files[i];
		if (fe->kind == FERRY__FILE_KIND__FILE_UNIX_SK && fe->unix_sk && fe->unix_sk->ino == ino)
			return fe;
	}
	return NULL;
}

static const char *sk_str(const Ferry__UnixSkEntry *u, char *buf, size_t size)
{
	char n[256];
	snprintf(buf, size, "unix socket %llu (%s)", (unsigned long long)u->ino,
		 ux_name_str(u->name.data, u->has_name ? u->name.len : 0, n, sizeof(n)));
	return buf;
}

/* The address of a name; abs: a relative path is prefixed with the directory it was bound from. */
static int make_addr(const Ferry__UnixSkEntry *u, const ProtobufCBinaryData *name, int abs,
		     struct sockaddr_un *sa, socklen_t *len)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (abs && name->len && name->data[0] && name->data[0] != '/' && u->bind_cwd) {
		int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%.*s", u->bind_cwd, (int)name->len,
				 (const char *)name->data);
		if (n < 0 || (size_t)n >= sizeof(sa->sun_path))
			return -ENAMETOOLONG;
		*len = offsetof(struct sockaddr_un, sun_path) + n + 1;
		return 0;
	}
	if (name->len > sizeof(sa->sun_path))
		return -EBADMSG;
	memcpy(sa->sun_path, name->data, name->len);
	*len = offsetof(struct sockaddr_un, sun_path) + name->len;
	return 0;
}

/* Its name is its own file (not an accepted socket's copy of its listener's): stale files may go. */
static int owns_path(const Ferry__UnixSkEntry *u)
{
	return u->state != UX_ESTABLISHED || u->type == SOCK_DGRAM;
}

static int bind_path(const Ferry__UnixSkEntry *u, int sk, const struct sockaddr_un *sa, socklen_t len)
{
	_cleanup_close_ int here = -1;
	if (u->bind_cwd && ((here = open(".", O_PATH | O_CLOEXEC)) < 0 || chdir(u->bind_cwd) < 0))
		return -errno;
	struct stat st;
	if (owns_path(u) && lstat(sa->sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(sa->sun_path);
	int r = bind(sk, (const struct sockaddr *)sa, len) < 0 ? -errno : 0;
	if (r == 0 && u->has_file_mode && (chmod(sa->sun_path, u->file_mode) < 0 ||
					   lchown(sa->sun_path, u->file_uid, u->file_gid) < 0))
		r = -errno;
	if (r == 0 && u->file_now && owns_path(u) && rename(sa->sun_path, u->file_now) < 0)
		r = -errno;	/* renamed since the bind: the file goes where it was (a stale one there is replaced) */
	if (here >= 0 && fchdir(here) < 0 && r == 0)
		r = -errno;
	return r;
}

static int do_bind(const Ferry__UnixSkEntry *u, int sk, struct ferry_err *err)
{
	char what[300];
	struct sockaddr_un sa;
	socklen_t len;
	if (!u->has_name || !u->name.len)
		return 0;
	int r = make_addr(u, &u->name, 0, &sa, &len);
	if (r < 0)
		return fe_set(err, -r, "%s: name", sk_str(u, what, sizeof(what)));
	r = sa.sun_path[0] ? bind_path(u, sk, &sa, len) : (bind(sk, (struct sockaddr *)&sa, len) < 0 ? -errno : 0);
	if (r == -EADDRINUSE && !owns_path(u)) {
		pr_warn("%s: name in use, restored unnamed\n", sk_str(u, what, sizeof(what)));
		return 0;
	}
	return r < 0 ? fe_set(err, -r, "bind %s", sk_str(u, what, sizeof(what))) : 0;
}

static void unlink_gone(const Ferry__UnixSkEntry *u)
{
	struct sockaddr_un sa;
	socklen_t len;
	if (u->file_gone && make_addr(u, &u->name, 1, &sa, &len) == 0 && sa.sun_path[0])
		unlink(sa.sun_path);
}

static void set_buf(int sk, int force, int plain, uint32_t val)
{
	int v = (int)(val / 2);
	if (setsockopt(sk, SOL_SOCKET, force, &v, sizeof(v)) < 0)
		setsockopt(sk, SOL_SOCKET, plain, &v, sizeof(v));
}

static int set_opts(const Ferry__UnixSkEntry *u, int sk, struct ferry_err *err)
{
	char what[300];
	int pc = u->passcred, po = u->has_peek_off ? u->peek_off : -1;
	if (u->has_sndbuf)
		set_buf(sk, SO_SNDBUFFORCE, SO_SNDBUF, u->sndbuf);
	if (u->has_rcvbuf)
		set_buf(sk, SO_RCVBUFFORCE, SO_RCVBUF, u->rcvbuf);
	if ((u->passcred && setsockopt(sk, SOL_SOCKET, SO_PASSCRED, &pc, sizeof(pc)) < 0) ||
	    (po >= 0 && setsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &po, sizeof(po)) < 0))
		return fe_set(err, errno, "options of %s", sk_str(u, what, sizeof(what)));
	return 0;
}

static void do_shutdown(const Ferry__UnixSkEntry *u, int sk)
{
	if (u->shutdown & UX_SHUT_SEND)
		shutdown(sk, SHUT_WR);
	if (u->shutdown & UX_SHUT_RCV)
		shutdown(sk, SHUT_RD);
}

/* Sends u's queued data from writer (connected to u's socket, or to = its address). */
static int refill(const Ferry__UnixSkEntry *u, int writer, const struct sockaddr_un *to, socklen_t tolen,
		  struct ferry_err *err)
{
	char what[300];
	size_t total = 0;
	for (size_t i = 0; i < u->n_rqueue; i++)
		total += u->rqueue[i].len + 1024;
	if (!u->n_rqueue)
		return 0;
	set_buf(writer, SO_SNDBUFFORCE, SO_SNDBUF, total > INT_MAX / 4 ? INT_MAX / 2 : (uint32_t)(total * 2 + (1 << 20)));
	for (size_t i = 0; i < u->n_rqueue; i++) {
		const uint8_t *p = u->rqueue[i].data;
		size_t left = u->rqueue[i].len;
		do {
			ssize_t n = sendto(writer, p, left, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)to,
					   to ? tolen : 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return fe_set(err, errno, "refill the queue of %s (message %zu of %zu)",
					      sk_str(u, what, sizeof(what)), i + 1, u->n_rqueue);
			p += n;
			left -= n;
		} while (left && u->type == SOCK_STREAM);
	}
	return 0;
}

/* Both ends of a pair exist and are bound: queues, options, shutdown state. p may be NULL. */
static int setup_pair(const Ferry__UnixSkEntry *u, int a, const Ferry__UnixSkEntry *p, int b,
		      struct ferry_err *err)
{
	int r = refill(u, b, NULL, 0, err);
	if (r == 0 && p)
		r = refill(p, a, NULL, 0, err);
	if (r == 0)
		r = set_opts(u, a, err);
	if (r == 0 && p)
		r = set_opts(p, b, err);
	if (r == 0) {
		do_shutdown(u, a);
		if (p)
			do_shutdown(p, b);
	}
	return r;
}

static int new_socket(const Ferry__UnixSkEntry *u, struct ferry_err *err)
{
	char what[300];
	int sk = socket(AF_UNIX, (int)u->type | SOCK_CLOEXEC, 0);
	return sk < 0 ? fe_set(err, errno, "create %s", sk_str(u, what, sizeof(what))) : sk;
}

static int connect_to(const Ferry__UnixSkEntry *target, const ProtobufCBinaryData *name, int sk,
		      struct ferry_err *err)
{
	char n[256];
	struct sockaddr_un sa;
	socklen_t len;
	int r = make_addr(target, name, 1, &sa, &len);
	if (r == 0 && connect(sk, (struct sockaddr *)&sa, len) < 0)
		r = -errno;
	return r < 0 ? fe_set(err, -r, "connect to %s", ux_name_str(name->data, name->len, n, sizeof(n))) : 0;
}

/* A client end c (NULL: not in the image) connected to listener l; the client socket or -errno. */
static int new_client(const Ferry__UnixSkEntry *l, const Ferry__UnixSkEntry *c, struct ferry_err *err)
{
	_cleanup_close_ int sk = new_socket(l, err);
	if (sk < 0)
		return sk;
	int r = c ? do_bind(c, sk, err) : 0;
	if (r == 0)
		r = connect_to(l, &l->name, sk, err);
	return r < 0 ? r : TAKE_FD(sk);
}

/* Connections accepted before the dump: connect + accept, so the server end carries l's name. */
static int make_accepted(struct restore_ctx *ctx, const Ferry__UnixSkEntry *l, int lsk, struct ferry_err *err)
{
	for (size_t i = 0; i < ctx->files->n_files; i++) {
		const Ferry__FileEntry *xf = ctx->files->files[i];
		const Ferry__UnixSkEntry *x = xf->kind == FERRY__FILE_KIND__FILE_UNIX_SK ? xf->unix_sk : NULL;
		if (!x || x->accepted_from != l->ino || x->state != UX_ESTABLISHED)
			continue;
		const Ferry__FileEntry *cf = find_ino(ctx, x->peer_ino);
		const Ferry__UnixSkEntry *c = cf ? cf->unix_sk : NULL;
		_cleanup_close_ int csk = new_client(l, c, err);
		if (csk < 0)
			return csk;
		_cleanup_close_ int xsk = accept4(lsk, NULL, NULL, SOCK_CLOEXEC);
		if (xsk < 0)
			return fe_set(err, errno, "accept a connection again");
		int r = setup_pair(x, xsk, c, csk, err);
		if (r == 0 && c)
			r = files_stash_put(ctx, c->ino, csk);
		if (r == 0 && c)
			csk = -1;
		if (r == 0)
			r = files_stash_put(ctx, x->ino, xsk);
		if (r < 0)
			return r == -ENOMEM ? fe_set(err, ENOMEM, "stash") : r;
		xsk = -1;
	}
	return 0;
}

static int make_pending(struct restore_ctx *ctx, const Ferry__UnixSkEntry *l, struct ferry_err *err)
{
	char what[300];
	for (size_t i = 0; i < l->n_pending; i++) {
		const Ferry__FileEntry *cf = find_ino(ctx, l->pending[i]);
		if (!cf || cf->unix_sk->pending_on != l->ino) {
			pr_warn("%s: pending connection from socket %llu, outside the image, dropped\n",
				sk_str(l, what, sizeof(what)), (unsigned long long)l->pending[i]);
			continue;
		}
		int csk = new_client(l, cf->unix_sk, err);
		if (csk < 0)
			return csk;
		int r = set_opts(cf->unix_sk, csk, err);
		if (r == 0)
			do_shutdown(cf->unix_sk, csk);
		if (r == 0 && (r = files_stash_put(ctx, cf->unix_sk->ino, csk)) < 0)
			r = fe_set(err, -r, "stash");
		if (r < 0) {
			close(csk);
			return r;
		}
	}
	return 0;
}

static int open_listener(struct restore_ctx *ctx, const Ferry__UnixSkEntry *u, struct ferry_err *err)
{
	char what[300];
	_cleanup_close_ int sk = new_socket(u, err);
	if (sk < 0)
		return sk;
	int r = do_bind(u, sk, err);
	if (r == 0 && listen(sk, (int)u->backlog) < 0)
		r = fe_set(err, errno, "listen on %s", sk_str(u, what, sizeof(what)));
	if (r == 0)
		r = set_opts(u, sk, err);
	if (r == 0)
		r = make_accepted(ctx, u, sk, err);
	if (r == 0)
		r = make_pending(ctx, u, err);
	if (r == 0)
		do_shutdown(u, sk);
	unlink_gone(u);
	return r < 0 ? r : TAKE_FD(sk);
}

/* A pair (p: the peer's entry), or a socket whose peer was closed (p NULL): socketpair(). */
static int open_pair(struct restore_ctx *ctx, const Ferry__UnixSkEntry *u, const Ferry__UnixSkEntry *p,
		     struct ferry_err *err)
{
	char what[300];
	int sv[2];
	if (socketpair(AF_UNIX, (int)u->type | SOCK_CLOEXEC, 0, sv) < 0)
		return fe_set(err, errno, "socketpair for %s", sk_str(u, what, sizeof(what)));
	_cleanup_close_ int a = sv[0], b = sv[1];
	int r = do_bind(u, a, err);
	if (r == 0 && p)
		r = do_bind(p, b, err);
	if (r == 0)
		r = setup_pair(u, a, p, b, err);
	if (r == 0 && p && (r = files_stash_put(ctx, p->ino, b)) < 0)
		r = fe_set(err, -r, "stash");
	if (r == 0 && p)
		b = -1;
	return r < 0 ? r : TAKE_FD(a);
}

/* Refills a dgram socket's queue through its name, from a throwaway socket. */
static int refill_by_name(const Ferry__UnixSkEntry *u, struct ferry_err *err)
{
	char what[300];
	struct sockaddr_un sa;
	socklen_t len;
	if (!u->n_rqueue)
		return 0;
	if (!u->has_name || !u->name.len) {
		pr_warn("%s: %zu queued message(s) dropped: an unnamed socket cannot be sent to\n",
			sk_str(u, what, sizeof(what)), u->n_rqueue);
		return 0;
	}
	_cleanup_close_ int tmp = socket(AF_UNIX, (int)u->type | SOCK_CLOEXEC, 0);
	int r = tmp < 0 ? -errno : make_addr(u, &u->name, 1, &sa, &len);
	if (r < 0)
		return fe_set(err, -r, "refill %s", sk_str(u, what, sizeof(what)));
	return refill(u, tmp, &sa, len, err);
}

/* Make sure entry f exists (opened by the engine already, or now, stashed under its inode). */
static int ensure_open(struct restore_ctx *ctx, const Ferry__FileEntry *f, struct ferry_err *err, int depth)
{
	if (files_master_fd(ctx, f->id) >= 0)
		return 0;
	int fd = files_stash_take(ctx, f->unix_sk->ino);
	if (fd < 0)
		fd = create(ctx, f, err, depth + 1);
	if (fd < 0)
		return fd;
	int r = files_stash_put(ctx, f->unix_sk->ino, fd);
	if (r < 0)
		close(fd);
	return r < 0 ? fe_set(err, -r, "stash") : 0;
}

/* Dgram connected one way: to p (opened first) or to a name outside the image. */
static int open_dgram_to(struct restore_ctx *ctx, const Ferry__UnixSkEntry *u, const Ferry__FileEntry *pf,
			 struct ferry_err *err, int depth)
{
	const ProtobufCBinaryData *to = pf ? &pf->unix_sk->name : &u->peer_name;
	char what[300];
	if (pf && (!pf->unix_sk->has_name || !pf->unix_sk->name.len))
		return fe_msg(err, EOPNOTSUPP, "%s: connected to an unnamed socket that is not connected back",
			      sk_str(u, what, sizeof(what)));
	int r = pf ? ensure_open(ctx, pf, err, depth) : 0;
	if (r < 0)
		return r;
	_cleanup_close_ int sk = new_socket(u, err);
	if (sk < 0)
		return sk;
	if ((r = do_bind(u, sk, err)) < 0 || (r = refill_by_name(u, err)) < 0 ||
	    (r = connect_to(pf ? pf->unix_sk : u, to, sk, err)) < 0 || (r = set_opts(u, sk, err)) < 0)
		return r;
	do_shutdown(u, sk);
	return TAKE_FD(sk);
}

static int open_unconnected(const Ferry__UnixSkEntry *u, struct ferry_err *err)
{
	_cleanup_close_ int sk = new_socket(u, err);
	if (sk < 0)
		return sk;
	int r = do_bind(u, sk, err);
	if (r == 0 && u->type != SOCK_STREAM)
		r = refill_by_name(u, err);
	if (r == 0)
		r = set_opts(u, sk, err);
	if (r == 0)
		do_shutdown(u, sk);
	unlink_gone(u);
	return r < 0 ? r : TAKE_FD(sk);
}

/* A socket its listener recreates (accepted or pending): open the listener, take ours. */
static int via_listener(struct restore_ctx *ctx, const Ferry__UnixSkEntry *u, const Ferry__FileEntry *lf,
			struct ferry_err *err, int depth)
{
	char what[300];
	int r = ensure_open(ctx, lf, err, depth);
	if (r < 0)
		return r;
	int fd = files_stash_take(ctx, u->ino);
	return fd >= 0 ? fd : fe_msg(err, EBADMSG, "%s: its listener %llu did not recreate it",
				     sk_str(u, what, sizeof(what)), (unsigned long long)lf->unix_sk->ino);
}

static int create_connected(struct restore_ctx *ctx, const Ferry__UnixSkEntry *u, struct ferry_err *err, int depth)
{
	char what[300];
	const Ferry__FileEntry *pf = find_ino(ctx, u->peer_ino), *lf;
	if (u->has_pending_on) {
		if (!(lf = find_ino(ctx, u->pending_on)))
			return fe_msg(err, EBADMSG, "%s: its listener %llu is not in the image",
				      sk_str(u, what, sizeof(what)), (unsigned long long)u->pending_on);
		return via_listener(ctx, u, lf, err, depth);
	}
	if ((lf = find_ino(ctx, u->accepted_from)) && lf->unix_sk->state == UX_LISTEN)
		return via_listener(ctx, u, lf, err, depth);
	if (pf && (lf = find_ino(ctx, pf->unix_sk->accepted_from)) && lf->unix_sk->state == UX_LISTEN)
		return via_listener(ctx, u, lf, err, depth);
	if (u->has_peer_name)
		return open_dgram_to(ctx, u, NULL, err, depth);
	if (u->peer_ino && !pf)
		return fe_msg(err, EBADMSG, "%s: its peer %llu is not in the image", sk_str(u, what, sizeof(what)),
			      (unsigned long long)u->peer_ino);
	if (pf && u->type == SOCK_DGRAM && pf->unix_sk->peer_ino != u->ino)
		return open_dgram_to(ctx, u, pf, err, depth);
	return open_pair(ctx, u, pf ? pf->unix_sk : NULL, err);
}

static int create(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err, int depth)
{
	const Ferry__UnixSkEntry *u = fe->unix_sk;
	char what[300];
	if (depth > MAX_DEPTH)
		return fe_msg(err, ELOOP, "%s: dgram sockets connected in a cycle", sk_str(u, what, sizeof(what)));
	if (u->type != SOCK_STREAM && u->type != SOCK_DGRAM && u->type != SOCK_SEQPACKET)
		return fe_msg(err, EBADMSG, "%s: bad type %u", sk_str(u, what, sizeof(what)), u->type);
	if (u->state == UX_LISTEN)
		return open_listener(ctx, u, err);
	if (u->state == UX_ESTABLISHED)
		return create_connected(ctx, u, err, depth);
	return open_unconnected(u, err);
}

int unix_sk_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	if (!fe->unix_sk || !fe->unix_sk->has_ino || !fe->unix_sk->has_type)
		return fe_msg(err, EBADMSG, "files.img: unix socket %u has no socket part", fe->id);
	int fd = files_stash_take(ctx, fe->unix_sk->ino);
	if (fd < 0)
		fd = create(ctx, fe, err, 0);
	if (fd < 0)
		return fd;
	if ((fe->flags & O_NONBLOCK) && fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		int e = errno;
		close(fd);
		return fe_set(err, e, "unix socket %llu: O_NONBLOCK", (unsigned long long)fe->unix_sk->ino);
	}
	return fd;
}
