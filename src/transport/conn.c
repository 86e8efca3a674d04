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
#include "transport/conn.h"

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
	c->buf = NULL;
	c->cap = 0;
}

/* An I/O error as a message naming the peer. */
static int io_err(struct conn *c, int e, const char *what, struct ferry_err *err)
{
	if (e == EAGAIN || e == EWOULDBLOCK || e == ETIMEDOUT)
		return fe_msg(err, ETIMEDOUT, "%s: %s timed out after %d s (the peer hangs?)", c->peer, what,
			      conn_timeout());
	if (e == EPIPE || e == ECONNRESET)
		return fe_msg(err, e, "%s: connection lost while %s (%s: the peer died or closed it)", c->peer, what,
			      strerror(e));
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

int conn_send(struct conn *c, unsigned type, uint32_t file, const void *payload, size_t len, struct ferry_err *err)
{
	uint8_t hdr[WIRE_HDR_SIZE];
	wire_hdr_encode(hdr, type, c->tx_seq++, file, payload, (uint32_t)len);
	if (c->ssl) {
		int r = tls_write(c, hdr, sizeof(hdr), err);
		return r < 0 || !len ? r : tls_write(c, payload, len, err);
	}
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)payload, len } };
	return raw_write(c, iov, len ? 2 : 1, err);
}

/* Reads exactly len bytes; at_start says a clean EOF here is "between frames". */
static int read_exact(struct conn *c, void *buf, size_t len, int at_start, struct ferry_err *err)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n;
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
			return fe_msg(err, ECONNRESET, "%s closed the connection%s", c->peer,
				      at_start && !got ? "" : " in the middle of a frame");
		}
		got += n;
	}
	c->rx_off += len;
	return 0;
}

int conn_recv(struct conn *c, struct wire_hdr *h, const uint8_t **payload, struct ferry_err *err)
{
	uint8_t hdr[WIRE_HDR_SIZE];
	int r = read_exact(c, hdr, sizeof(hdr), 1, err);
	if (r < 0)
		return r;
	if ((r = wire_hdr_decode(hdr, h, err)) < 0)
		return fe_wrap(err, r, "%s", c->peer);
	uint8_t *p = c->ctrl;
	if (h->len > sizeof(c->ctrl)) {
		if (h->len > c->cap) {
			free(c->buf);
			c->cap = 0;
			if (!(c->buf = malloc(h->len)))
				return fe_set(err, ENOMEM, "%s: frame of %u bytes", c->peer, h->len);
			c->cap = h->len;
		}
		p = c->buf;
	}
	if ((r = read_exact(c, p, h->len, 0, err)) < 0)
		return r;
	if ((r = wire_check_sum(hdr, h, p, err)) < 0)
		return fe_wrap(err, r, "%s", c->peer);
	if (h->seq != c->rx_seq)
		return fe_msg(err, EBADMSG, "%s: frame #%u arrived where #%u was expected (frames lost or replayed)",
			      c->peer, h->seq, c->rx_seq);
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
