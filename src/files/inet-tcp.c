/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCP sockets in state CLOSE. Never connected: unbound, or bound (sock_diag lists it as holding its
 * port) — restored by socket() and bind(). A connection that ended — reset by its peer (a pending
 * ECONNRESET: poll says POLLERR), refused (ECONNREFUSED: no segment of it was ever delivered), or
 * closed both ways (reads return EOF) — with the data it received and the program has not read yet:
 * restored by playing that ending on loopback against a throwaway listener, from the socket's own
 * local address (a port another socket holds is taken in repair mode, as the kernel allows).
 * Its pending error is told by poll(), never read with SO_ERROR, which would clear it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#define LOG_PREFIX "inet: "
#include "common/log.h"
#include "common/cleanup.h"
#include "files/inet-internal.h"
#include "files/sockopt.h"

#define RDATA_MAX (64U << 20)
#define ST_CLOSE 7	/* the kernel's TCP_CLOSE state */
#define WAIT_MS 3000

static int is_any(const Sk *sk)
{
	static const uint8_t zero[16];
	return sk->src_addr.len < 4 || memcmp(sk->src_addr.data, zero, sk->src_addr.len) == 0;
}

/* Data received and not read yet, peeked from offset 0 (the task's peek offset is put back). */
static int peek_rdata(struct dump_ctx *ctx, int fd, Sk *sk)
{
	int n = 0, old = -1, zero = 0;
	socklen_t l = sizeof(old);
	if (ioctl(fd, SIOCINQ, &n) < 0 || n <= 0)
		return 0;	/* never peek an empty queue: it would return, and clear, the pending error */
	if ((unsigned)n > RDATA_MAX)
		return fe_msg(ctx->err, EOPNOTSUPP, "%d bytes received and not read: more than we carry", n);
	uint8_t *buf = arena_alloc(&ctx->arena, (size_t)n);
	if (!buf)
		return fe_set(ctx->err, ENOMEM, "received data");
	getsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &old, &l);
	setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero));
	ssize_t got = recv(fd, buf, (size_t)n, MSG_PEEK | MSG_DONTWAIT);
	setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &old, sizeof(old));
	if (got != n)
		return fe_set(ctx->err, got < 0 ? errno : EIO, "peek the received data");
	sk->has_rdata = 1;
	sk->rdata.len = (size_t)n;
	sk->rdata.data = buf;
	return 0;
}

int inet_tcp_dump_closed(struct dump_ctx *ctx, int fd, const struct inet_diag_info *di, int found, Sk *sk)
{
	if ((found && !di->shutdown) || (!found && !sk->src_port)) {
		/* never connected; bound (to a port, or IP_BIND_ADDRESS_NO_PORT to an address) or not */
		int bound = found || !is_any(sk);
		sk->state = bound ? FERRY__INET_STATE__INET_BOUND : FERRY__INET_STATE__INET_UNBOUND;
		return 0;
	}
	struct tcp_info ti = { 0 };
	socklen_t len = sizeof(ti);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 || poll(&p, 1, 0) < 0)
		return fe_set(ctx->err, errno, "TCP_INFO");
	sk->state = FERRY__INET_STATE__INET_CLOSED;
	sk->has_bound_port = sk->has_closed_err = 1;
	sk->bound_port = found;
	sk->closed_err = !(p.revents & POLLERR) ? 0 : ti.tcpi_delivered ? ECONNRESET : ECONNREFUSED;
	pr_debug("TCP socket %llu: a connection that ended (error %u), %s its port\n",
		 (unsigned long long)sk->ino, sk->closed_err, found ? "holding" : "not holding");
	return peek_rdata(ctx, fd, sk);
}

/* ------------------------------------------------------------------ restore */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Waits until fd's TCP state is want (or, want < 0, until poll reports events). */
static int wait_for(int fd, int want, short events)
{
	for (int64_t end = now_ms() + WAIT_MS; now_ms() < end;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct tcp_info ti;
		socklen_t l = sizeof(ti);
		poll(&p, 1, 10);
		if (want < 0 && (p.revents & events) == events)
			return 0;
		if (want >= 0 && getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0 && ti.tcpi_state == want)
			return 0;
	}
	return -ETIMEDOUT;
}

static int wait_inq(int fd, size_t len)
{
	for (int64_t end = now_ms() + WAIT_MS; now_ms() < end;) {
		int n = 0;
		if (ioctl(fd, SIOCINQ, &n) == 0 && (size_t)n >= len)
			return 0;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		poll(&p, 1, 10);
	}
	return -ETIMEDOUT;
}

/* A throwaway listener on the loopback address that can reach a socket bound like sk. */
static int loop_listener(const Sk *sk, union sa *a, socklen_t *alen)
{
	int v6 = sk->family == FERRY__INET_FAMILY__INET_V6;
	int mapped = v6 && sk->src_addr.len == 16 && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)sk->src_addr.data);
	_cleanup_close_ int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(a, 0, sizeof(*a));
	if (v6) {
		a->v6.sin6_family = AF_INET6;
		if (mapped)
			inet_pton(AF_INET6, "::ffff:127.0.0.1", &a->v6.sin6_addr);
		else
			a->v6.sin6_addr = in6addr_loopback;
		*alen = sizeof(a->v6);
	} else {
		a->v4.sin_family = AF_INET;
		a->v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*alen = sizeof(a->v4);
	}
	if (bind(fd, &a->sa, *alen) < 0 || listen(fd, 1) < 0 || getsockname(fd, &a->sa, alen) < 0)
		return -errno;
	return TAKE_FD(fd);
}

/*
 * The client end from the socket's own local address and port, which getsockname() still shows,
 * whether or not it held the port (an accepted socket shares its listener's: repair mode binds it).
 */
static int local_bind(int cli, const Sk *sk, struct ferry_err *err)
{
	if (is_any(sk) && !sk->src_port)
		return 0;
	return inet_bind(cli, sk, 1, err);
}

static int play_refused(int cli, const union sa *to, socklen_t tolen)
{
	int fl = fcntl(cli, F_GETFL);
	if (fcntl(cli, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	if (connect(cli, &to->sa, tolen) == 0 || errno != EINPROGRESS)
		return errno == ECONNREFUSED ? -EAGAIN : -errno;	/* answered at once: nothing left pending */
	int r = wait_for(cli, -1, POLLERR);
	fcntl(cli, F_SETFL, fl);
	return r;
}

/* Connected to lsn: the peer sends rdata, then resets or closes; cli ends as the original did. */
static int play_ending(int cli, int lsn, const Sk *sk)
{
	_cleanup_close_ int srv = accept4(lsn, NULL, NULL, SOCK_CLOEXEC);
	if (srv < 0)
		return -errno;
	for (size_t off = 0; off < sk->rdata.len;) {
		ssize_t n = send(srv, sk->rdata.data + off, sk->rdata.len - off, MSG_NOSIGNAL);
		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	int r = wait_inq(cli, sk->rdata.len);
	if (r < 0)
		return r;
	if (sk->closed_err == ECONNRESET) {
		struct linger lg = { 1, 0 };
		if (setsockopt(srv, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
			return -errno;
		close(TAKE_FD(srv));
		return wait_for(cli, -1, POLLERR);
	}
	char b;
	if (shutdown(cli, SHUT_WR) < 0)
		return -errno;
	struct pollfd p = { .fd = srv, .events = POLLIN };
	if (poll(&p, 1, WAIT_MS) <= 0 || recv(srv, &b, 1, 0) != 0)
		return -EPROTO;
	close(TAKE_FD(srv));
	return wait_for(cli, ST_CLOSE, 0);
}

int inet_tcp_open_closed(const Sk *orig, int sflags, struct ferry_err *err)
{
	Sk copy = *orig, *sk = &copy;
	int v6 = sk->family == FERRY__INET_FAMILY__INET_V6, r;
	if (!sk->has_closed_err)	/* older images: --tcp-close made every connection a reset one */
		sk->closed_err = ECONNRESET;
	union sa to;
	socklen_t tolen;
	_cleanup_close_ int lsn = loop_listener(sk, &to, &tolen);
	_cleanup_close_ int cli = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lsn < 0 || cli < 0)
		return fe_set(err, lsn < 0 ? -lsn : errno, "a loopback connection to end");
	if (sk->rdata.len > RDATA_MAX)
		return fe_msg(err, EBADMSG, "files.img: too much received data");
	if (sk->rdata.len)
		sockopt_set_buf(cli, SO_RCVBUF, (int)(sk->rdata.len * 2 + 65536));
	if ((r = local_bind(cli, sk, err)) < 0)
		return r;
	if (sk->closed_err == ECONNREFUSED) {
		close(TAKE_FD(lsn));	/* nobody listens on its port any more */
		r = play_refused(cli, &to, tolen);
	} else {
		r = connect(cli, &to.sa, tolen) < 0 ? -errno : play_ending(cli, lsn, sk);
	}
	if (r < 0)
		return fe_set(err, -r, "end a TCP connection on loopback as the original ended (error %u)", sk->closed_err);
	if ((sflags & SOCK_NONBLOCK) && fcntl(cli, F_SETFL, O_RDWR | O_NONBLOCK) < 0)
		return fe_set(err, errno, "O_NONBLOCK");
	return TAKE_FD(cli);
}
