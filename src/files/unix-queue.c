/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Receive queues of unix sockets. Dump: MSG_PEEK from SO_PEEK_OFF 0 (the task's offset is put
 * back), with SO_PASSCRED on for the moment so that every message comes with its sender's
 * credentials — which also tells a zero-length message from the end of a seqpacket stream, whose
 * peer shut down: the end carries none. Descriptors in flight (SCM_RIGHTS) are installed in ferry by
 * the peek and dumped as files. A stream's peek stops where the sender's credentials change or
 * after bytes that carry descriptors, so each run is sent back as one message. (A peek cannot tell
 * where, within a run, the bytes carrying descriptors begin: they ride the whole run, which only a
 * read shorter than the run could notice.) Restore: each message is sent again with its
 * credentials (the pid must exist: a placeholder holds it) and its descriptors.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <unistd.h>
#define LOG_PREFIX "unix: "
#include "common/log.h"
#include "common/cleanup.h"
#include "files/unix-internal.h"

#define PEEK_CHUNK 65536
#define MAX_FDS 253	/* SCM_MAX_FD */

struct peek {
	uint8_t *buf;
	size_t cap;
	char cbuf[CMSG_SPACE(MAX_FDS * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred)) + 256];
	struct sockaddr_un from;
	socklen_t fromlen;
	int fds[MAX_FDS];
	size_t nfds;
	struct ucred cred;
	int has_cred;
};

static void close_fds(struct peek *p)
{
	for (size_t i = 0; i < p->nfds; i++)
		close(p->fds[i]);
	p->nfds = 0;
}

static void take_cmsgs(struct msghdr *mh, struct peek *p)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
			memcpy(&p->cred, CMSG_DATA(c), sizeof(p->cred));
			p->has_cred = 1;
		} else if (c->cmsg_type == SCM_RIGHTS) {
			size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < n && p->nfds < MAX_FDS; i++)
				memcpy(&p->fds[p->nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
		}
	}
}

/* One peek at the current offset into buf+off; bytes copied, the message's length in *full. */
static ssize_t peek_once(int sk, struct peek *p, size_t off, int stream, size_t *full)
{
	struct iovec iov = { p->buf + off, p->cap - off };
	struct msghdr mh = { .msg_name = &p->from, .msg_namelen = sizeof(p->from), .msg_iov = &iov,
			     .msg_iovlen = 1, .msg_control = p->cbuf, .msg_controllen = sizeof(p->cbuf) };
	int flags = MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC | (stream ? 0 : MSG_TRUNC);
	ssize_t n = recvmsg(sk, &mh, flags);
	if (n < 0)
		return -errno;
	take_cmsgs(&mh, p);
	if (mh.msg_flags & MSG_CTRUNC)
		return -EMSGSIZE;
	if (off == 0)
		p->fromlen = mh.msg_namelen;
	*full = (size_t)n;
	return stream || (size_t)n <= p->cap - off ? n : (ssize_t)(p->cap - off);
}

/* The next message (stream: run of bytes) into p; 1, or 0 at the end of the queue. */
static int peek_item(int sk, int stream, struct peek *p, size_t *len)
{
	size_t got = 0, want = 0, full = 0;
	p->has_cred = 0;
	for (;;) {
		ssize_t n = peek_once(sk, p, got, stream, &full);
		if (n == -EAGAIN && got == 0)
			return 0;
		if (n < 0)
			return (int)n;
		if (!p->has_cred && got == 0)
			return 0;	/* no message: the end of a stream whose peer shut down */
		if (stream) {
			*len = (size_t)n;
			return n > 0;
		}
		if (got == 0)
			want = full;	/* a long message comes in pieces, each at the advanced offset */
		got += (size_t)n;
		if (got >= want)
			break;
		if (n == 0)
			return -EIO;
		uint8_t *nb = realloc(p->buf, want);
		if (!nb)
			return -ENOMEM;
		p->buf = nb;
		p->cap = want;
	}
	*len = got;
	return 1;
}

static Ferry__UnixCred *make_cred(struct arena *a, const struct ucred *c)
{
	Ferry__UnixCred *uc = ARENA_NEW(a, Ferry__UnixCred);
	if (!uc)
		return NULL;
	ferry__unix_cred__init(uc);
	uc->pid = c->pid;
	uc->uid = c->uid;
	uc->gid = c->gid;
	return uc;
}

static int make_msg(struct dump_ctx *ctx, struct dtask *t, struct peek *p, size_t len, Ferry__UnixMsg **out)
{
	Ferry__UnixMsg *m = ARENA_NEW(&ctx->arena, Ferry__UnixMsg);
	if (!m)
		return -ENOMEM;
	ferry__unix_msg__init(m);
	m->data.len = len;
	m->data.data = arena_memdup(&ctx->arena, p->buf, len ? len : 1);
	size_t base = offsetof(struct sockaddr_un, sun_path);
	if (p->fromlen > base) {
		m->has_sender = 1;
		m->sender.len = p->fromlen - base;
		m->sender.data = arena_memdup(&ctx->arena, p->from.sun_path, m->sender.len);
	}
	m->cred = p->has_cred ? make_cred(&ctx->arena, &p->cred) : NULL;
	m->fds = ARENA_ARRAY(&ctx->arena, uint32_t, p->nfds + 1);
	if (!m->data.data || !m->fds || (p->has_cred && !m->cred) || (p->fromlen > base && !m->sender.data))
		return -ENOMEM;
	for (size_t i = 0; i < p->nfds; i++) {
		int r = files_dump_held(ctx, t, p->fds[i], &m->fds[i]);
		if (r < 0)
			return fe_wrap(ctx->err, r, "descriptor %zu in flight", i);
		m->n_fds++;
	}
	*out = m;
	return 0;
}

static int add_msg(struct arena *a, Ferry__UnixMsg ***list, size_t *n, size_t *cap, Ferry__UnixMsg *m)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		Ferry__UnixMsg **nl = ARENA_ARRAY(a, Ferry__UnixMsg *, *cap);
		if (!nl)
			return -ENOMEM;
		if (*n)
			memcpy(nl, *list, *n * sizeof(*nl));
		*list = nl;
	}
	(*list)[(*n)++] = m;
	return 0;
}

/* An out-of-band byte (MSG_OOB) waits out of the queue's order: refused. */
static int check_oob(struct dump_ctx *ctx, int sk)
{
	char b;
	if (recv(sk, &b, 1, MSG_OOB | MSG_PEEK | MSG_DONTWAIT) == 1)
		return fe_msg(ctx->err, EOPNOTSUPP, "an out-of-band byte (MSG_OOB) is pending; not supported");
	return 0;
}

/*
 * A stream is peeked up to the bytes it holds (SIOCINQ), never past: on an empty queue a read
 * returns a pending error (ECONNRESET) and clears it.
 */
static int peek_all(struct dump_ctx *ctx, struct dtask *t, int sk, int stream, size_t inq, struct peek *p,
		    Ferry__UnixMsg ***msgs, size_t *n)
{
	size_t cap = 0, len = 0, total = 0;
	int r = 0;
	while ((!stream || total < inq) && (r = peek_item(sk, stream, p, &len)) > 0) {
		Ferry__UnixMsg *m = NULL;
		r = make_msg(ctx, t, p, len, &m);
		close_fds(p);
		if (r == 0 && (r = add_msg(&ctx->arena, msgs, n, &cap, m)) < 0)
			r = fe_set(ctx->err, ENOMEM, "queued data");
		if (r < 0)
			return r == -ENOMEM ? fe_set(ctx->err, ENOMEM, "queued data") : r;
		total += len;
	}
	close_fds(p);
	if (r < 0)
		return fe_set(ctx->err, -r, "peek at the queued data");
	pr_debug("%zu bytes queued in %zu item(s)\n", total, *n);
	return 0;
}

/*
 * A datagram or seqpacket socket with an error pending (its peer closed with data unread) hands
 * the error to the first read, peek or not, before any message: it is taken (and noted in *reset)
 * when the tree dies after the dump, refused otherwise.
 */
static int take_error(struct dump_ctx *ctx, int sk, int *reset)
{
	struct pollfd pf = { .fd = sk, .events = POLLIN };
	char b;
	if (poll(&pf, 1, 0) != 1 || !(pf.revents & POLLERR))
		return 0;
	if (!(pf.revents & POLLIN) || ctx->opts->leave_running)
		return (pf.revents & POLLIN) ? fe_msg(ctx->err, EOPNOTSUPP, "an error (its peer's reset) is pending before "
						      "its queued messages, which a peek would clear: not with -R") : 0;
	ssize_t r = recv(sk, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (r < 0 && errno == ECONNRESET)
		*reset = 1;
	return 0;
}

int uq_peek(struct dump_ctx *ctx, struct dtask *t, int sk, int type, Ferry__UnixMsg ***msgs, size_t *n, int *reset)
{
	int off = -1, pc = 0, zero = 0, one = 1, r;
	socklen_t l = sizeof(off);
	struct peek p = { .cap = PEEK_CHUNK };
	*n = 0;
	if (type == SOCK_STREAM && (r = check_oob(ctx, sk)) < 0)
		return r;
	if (type != SOCK_STREAM && (r = take_error(ctx, sk, reset)) < 0)
		return r;
	if (getsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &off, &l) < 0 ||
	    (l = sizeof(pc), getsockopt(sk, SOL_SOCKET, SO_PASSCRED, &pc, &l)) < 0 ||
	    setsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) < 0 ||
	    (!pc && setsockopt(sk, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0))
		return fe_set(ctx->err, errno, "prepare to peek");
	int inq = 0;	/* a stream run is peeked whole: a partial peek would see the next run's descriptors */
	if (type == SOCK_STREAM && ioctl(sk, SIOCINQ, &inq) < 0)
		inq = 0;
	if ((size_t)inq >= p.cap)
		p.cap = (size_t)inq + 1;
	p.buf = malloc(p.cap);
	r = p.buf ? peek_all(ctx, t, sk, type == SOCK_STREAM, (size_t)inq, &p, msgs, n) : fe_set(ctx->err, ENOMEM, "peek");
	free(p.buf);
	setsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off));
	if (!pc)
		setsockopt(sk, SOL_SOCKET, SO_PASSCRED, &pc, sizeof(pc));
	return r;
}

/* ------------------------------------------------------------------ restore */

/* ferry's descriptors for the files in flight of m: unix sockets of the world, or any file. */
static int rights_fds(struct ux_world *w, const Ferry__UnixMsg *m, int *fds, struct ferry_err *err)
{
	struct restore_ctx *ctx = ux_world_ctx(w);
	for (size_t i = 0; i < m->n_fds; i++) {
		const Ferry__FileEntry *fe = files_find_id(ctx, m->fds[i]);
		int fd = -1;
		if (fe && fe->kind == FERRY__FILE_KIND__FILE_UNIX_SK && fe->unix_sk)
			fd = ux_world_fd(w, fe->unix_sk->ino);
		else if (fe)
			fd = files_open_id(ctx, m->fds[i]);
		if (fd < 0)
			return fd < -1 ? fd : fe_msg(err, EBADMSG, "files.img: file %u in flight is missing", m->fds[i]);
		fds[i] = fd;
	}
	return 0;
}

/* sendmsg, or through a helper in ns when the address only leads somewhere there. */
static ssize_t send_in(int writer, struct msghdr *mh, int ns, size_t len)
{
	if (ns < 0)
		return sendmsg(writer, mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	struct ux_op op = { .kind = UXOP_SENDMSG, .fd = writer, .msg = mh };
	int r = uxh_run(NULL, ns, &op);
	errno = -r;
	return r < 0 ? -1 : (ssize_t)len;
}

static int send_one(struct ux_world *w, const Ferry__UnixMsg *m, int writer, int stream,
		    const struct sockaddr_un *to, socklen_t tolen, int ns, struct ferry_err *err)
{
	char cbuf[CMSG_SPACE(MAX_FDS * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))];
	int fds[MAX_FDS], r;
	if (m->n_fds > MAX_FDS)
		return fe_msg(err, EBADMSG, "files.img: too many descriptors in flight in one message");
	if ((r = rights_fds(w, m, fds, err)) < 0)
		return r;
	memset(cbuf, 0, sizeof(cbuf));
	struct iovec iov = { m->data.data, m->data.len };
	struct msghdr mh = { .msg_name = (void *)to, .msg_namelen = to ? tolen : 0, .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = 0 };
	struct cmsghdr *c = (struct cmsghdr *)cbuf;
	if (m->cred && m->cred->pid > 0) {
		struct ucred uc = { m->cred->pid, m->cred->uid, m->cred->gid };
		if ((r = uxh_hold_pid(m->cred->pid)) < 0)
			pr_warn("a message sent by pid %d is sent again in ferry's name (%s)\n", m->cred->pid, strerror(-r));
		else {
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_CREDENTIALS;
			c->cmsg_len = CMSG_LEN(sizeof(uc));
			memcpy(CMSG_DATA(c), &uc, sizeof(uc));
			mh.msg_controllen += CMSG_SPACE(sizeof(uc));
			c = (struct cmsghdr *)(cbuf + mh.msg_controllen);
		}
	}
	if (m->n_fds) {
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(m->n_fds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, m->n_fds * sizeof(int));
		mh.msg_controllen += CMSG_SPACE(m->n_fds * sizeof(int));
	}
	if (!mh.msg_controllen)
		mh.msg_control = NULL;
	size_t left = m->data.len;
	do {
		ssize_t n = send_in(writer, &mh, ns, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fe_set(err, errno, "send a queued message again");
		left -= (size_t)n;
		iov.iov_base = (uint8_t *)iov.iov_base + n;
		iov.iov_len = left;
		mh.msg_control = NULL;	/* credentials and descriptors ride the first piece */
		mh.msg_controllen = 0;
	} while (left && stream);
	return 0;
}

int uq_send(struct ux_world *w, Ferry__UnixMsg *const *msgs, size_t n, int writer, int type,
	    const struct sockaddr_un *to, socklen_t tolen, int ns, struct ferry_err *err)
{
	for (size_t i = 0; i < n; i++) {
		int r = send_one(w, msgs[i], writer, type == SOCK_STREAM, to, tolen, ns, err);
		if (r < 0)
			return fe_wrap(err, r, "message %zu of %zu", i + 1, n);
	}
	return 0;
}
