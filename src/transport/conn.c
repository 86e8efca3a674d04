/* SPDX-License-Identifier: Apache-2.0 */
/* Framed, checksummed, sequenced I/O to a peer over a socket, TLS or a file (conn.h). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include "common/util.h"
#include "transport/conn.h"
#include "transport/seal.h"

int conn_timeout(void)
{
	const char *s = getenv("FERRY_NET_TIMEOUT");
	int t = s ? atoi(s) : 0;
	return t > 0 ? t : 30;
}

void conn_init(struct conn *c, int fd, const char *peer_fmt, ...)
{
	va_list ap;
	memset(c, 0, offsetof(struct conn, ctrl));
	c->fd = fd;
	va_start(ap, peer_fmt);
	vsnprintf(c->peer, sizeof(c->peer), peer_fmt, ap);
	va_end(ap);
}

void conn_close(struct conn *c)
{
	tls_conn_free(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	free(c->txbuf);
	seal_free(c->tx_seal);
	seal_free(c->rx_seal);
	c->buf = c->txbuf = NULL;
	c->tx_seal = c->rx_seal = NULL;
	c->cap = c->txcap = 0;
}

/* An I/O error as a message naming the peer. */
static int io_err(struct conn *c, int e, const char *what, struct ferry_err *err)
{
	if (e == EAGAIN || e == EWOULDBLOCK || e == ETIMEDOUT)
		return fe_msg(err, ETIMEDOUT, "%s: %s timed out after %d s (the peer hangs, or is too slow)", c->peer,
			      what, conn_timeout());
	if (e == EPIPE || e == ECONNRESET)
		return fe_class(err, FE_PEER_LOST, fe_msg(err, e, "%s: connection lost while %s (%s: the peer died or "
							       "closed it)", c->peer, what, strerror(e)));
	return fe_set(err, e, "%s: %s", c->peer, what);
}

static int raw_write(struct conn *c, struct iovec *iov, int n, struct ferry_err *err)
{
	while (n > 0) {
		ssize_t w;
		if (c->is_file)
			w = writev(c->fd, iov, n);
		else {
			struct msghdr m = { .msg_iov = iov, .msg_iovlen = n };
			w = sendmsg(c->fd, &m, MSG_NOSIGNAL);
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return io_err(c, errno, c->is_file ? "writing" : "sending", err);
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= w;
		}
	}
	return 0;
}

/* Header, then body (payload, or ciphertext and tag) on the wire. */
static int send_parts(struct conn *c, uint8_t *hdr, const void *body, size_t len, struct ferry_err *err)
{
	if (c->ssl) {
		int r = tls_write(c, hdr, WIRE_HDR_SIZE, err);
		return r < 0 || !len ? r : tls_write(c, body, len, err);
	}
	struct iovec iov[2] = { { hdr, WIRE_HDR_SIZE }, { (void *)body, len } };
	return raw_write(c, iov, len ? 2 : 1, err);
}

/* Grows *buf to hold len bytes. */
static int reserve(uint8_t **buf, size_t *cap, size_t len)
{
	if (len <= *cap)
		return 0;
	free(*buf);
	*cap = 0;
	if (!(*buf = malloc(len)))
		return -ENOMEM;
	*cap = len;
	return 0;
}

int conn_send(struct conn *c, unsigned type, uint32_t file, const void *payload, size_t len, struct ferry_err *err)
{
	uint8_t hdr[WIRE_HDR_SIZE];
	uint32_t seq = c->tx_seq;
	if (seq == UINT32_MAX)
		return fe_msg(err, EOVERFLOW, "%s: more than 2^32 frames in one session", c->peer);
	c->tx_seq++;
	if (!c->tx_seal) {
		wire_hdr_encode(hdr, type, seq, file, payload, (uint32_t)len);
		return send_parts(c, hdr, payload, len, err);
	}
	if (reserve(&c->txbuf, &c->txcap, len + WIRE_TAG) < 0)
		return fe_set(err, ENOMEM, "%s: seal a frame of %zu bytes", c->peer, len);
	wire_hdr_fill(hdr, type, WF_SEALED, seq, file, (uint32_t)len);
	if (seal_frame(c->tx_seal, seq, hdr, payload, c->txbuf, len, c->txbuf + len) < 0)
		return fe_msg(err, EIO, "%s: sealing %s #%u failed (OpenSSL)", c->peer, wire_type_name(type), seq);
	wire_hdr_sum(hdr, c->txbuf, (uint32_t)len);
	return send_parts(c, hdr, c->txbuf, len + WIRE_TAG, err);
}

/* Waits until the socket has something to read, or the frame's deadline passes. */
static int wait_readable(struct conn *c, uint64_t deadline, struct ferry_err *err)
{
	uint64_t now = now_us();
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	if (c->is_file || (c->ssl && tls_pending(c)))
		return 0;
	int r = now < deadline ? poll(&p, 1, (int)((deadline - now + 999) / 1000)) : 0;
	if (r < 0 && errno == EINTR)
		return 0;
	return r == 0 ? io_err(c, ETIMEDOUT, "receiving", err) : 0;
}

/*
 * Reads exactly len bytes by deadline (a peer dripping bytes cannot stretch a frame beyond it);
 * at_start says a clean EOF here is "between frames".
 */
static int read_exact(struct conn *c, void *buf, size_t len, int at_start, uint64_t deadline, struct ferry_err *err)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n;
		int r = wait_readable(c, deadline, err);
		if (r < 0)
			return r;
		if (c->ssl)
			n = tls_read(c, (char *)buf + got, len - got, err);
		else
			n = read(c->fd, (char *)buf + got, len - got);
		if (n < 0 && !c->ssl && errno == EINTR)
			continue;
		if (n < 0)
			return c->ssl ? (int)n : io_err(c, errno, c->is_file ? "reading" : "receiving", err);
		if (n == 0) {
			if (c->is_file)
				return fe_msg(err, EBADMSG, "%s: truncated: the file ends at byte %llu %s", c->peer,
					      (unsigned long long)(c->rx_off + got),
					      at_start && !got ? "before its end record" : "inside a frame");
			return fe_class(err, FE_PEER_LOST, fe_msg(err, ECONNRESET, "%s closed the connection%s", c->peer,
								       at_start && !got ? "" : " in the middle of a frame"));
		}
		got += n;
	}
	c->rx_off += len;
	return 0;
}

/* Whether the frame's seal state is what this point of the session expects, and its size is allowed. */
static int check_frame(struct conn *c, const struct wire_hdr *h, struct ferry_err *err)
{
	const char *t = wire_type_name(h->type);
	if (c->rx_max && h->len > c->rx_max)
		return fe_msg(err, EBADMSG, "%s: %s frame of %u bytes before the session is authenticated (at most %u)",
			      c->peer, t, h->len, c->rx_max);
	if ((h->flags & WF_SEALED) && !c->rx_seal)
		return fe_msg(err, EBADMSG, "%s: sealed %s frame #%u before any keys were agreed", c->peer, t, h->seq);
	if (!(h->flags & WF_SEALED) && c->rx_seal)
		return fe_msg(err, EBADMSG, "%s: unsealed %s frame #%u in an authenticated session: injected on the path "
			      "(or the peer does not follow the protocol)", c->peer, t, h->seq);
	return 0;
}

int conn_recv(struct conn *c, struct wire_hdr *h, const uint8_t **payload, struct ferry_err *err)
{
	uint8_t hdr[WIRE_HDR_SIZE];
	uint64_t deadline = now_us() + (uint64_t)conn_timeout() * 1000000;
	int r = read_exact(c, hdr, sizeof(hdr), 1, deadline, err);
	if (r < 0)
		return r;
	if ((r = wire_hdr_decode(hdr, h, err)) < 0)
		return fe_wrap(err, r, "%s", c->peer);
	if ((r = check_frame(c, h, err)) < 0)
		return r;
	size_t need = h->len + (c->rx_seal ? WIRE_TAG : 0);
	uint8_t *p = c->ctrl;
	if (need > sizeof(c->ctrl)) {
		if (reserve(&c->buf, &c->cap, need) < 0)
			return fe_set(err, ENOMEM, "%s: frame of %u bytes", c->peer, h->len);
		p = c->buf;
	}
	if ((r = read_exact(c, p, need, 0, deadline, err)) < 0)
		return r;
	if ((r = wire_check_sum(hdr, h, p, err)) < 0)
		return fe_wrap(err, r, "%s", c->peer);
	if (h->seq != c->rx_seq)
		return fe_msg(err, EBADMSG, "%s: frame #%u arrived where #%u was expected (frames lost, replayed or reordered)",
			      c->peer, h->seq, c->rx_seq);
	if (c->rx_seal && seal_open(c->rx_seal, h->seq, hdr, p, h->len, p + h->len) < 0)
		return fe_msg(err, EBADMSG, "%s: %s frame #%u fails its seal: altered, forged or replayed on the path",
			      c->peer, wire_type_name(h->type), h->seq);
	c->rx_seq++;
	*payload = p;
	return 0;
}

int conn_recv_msg(struct conn *c, struct wire_hdr *h, const uint8_t **payload, struct ferry_err *err)
{
	int r = conn_recv(c, h, payload, err);
	if (r < 0 || h->type != WT_ERROR)
		return r;
	struct wire_error e;
	if ((r = wire_error_decode(*payload, h->len, &e, err)) < 0)
		return fe_wrap(err, r, "%s", c->peer);
	return fe_msg(err, e.code, "%s: %s", c->peer, e.msg);
}

int conn_peer_error(struct conn *c, struct ferry_err *err)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	if (!(c->ssl && tls_pending(c)) && poll(&p, 1, 0) <= 0)
		return 0;
	struct wire_hdr h;
	const uint8_t *pl;
	int r = conn_recv_msg(c, &h, &pl, err);
	if (r < 0)
		return r;
	return fe_msg(err, EPROTO, "%s: unexpected %s frame", c->peer, wire_type_name(h.type));
}

void conn_send_error(struct conn *c, int code, const struct ferry_err *err)
{
	uint8_t buf[WIRE_MAX_CTRL];
	const char *msg = fe_str(err, -code);
	size_t pl = strlen(c->peer);
	if (!strncmp(msg, c->peer, pl) && !strncmp(msg + pl, ": ", 2))
		msg += pl + 2;	/* the peer knows who it is */
	size_t n = wire_error_encode(buf, code, msg);
	conn_send(c, WT_ERROR, 0, buf, n, NULL);
}
