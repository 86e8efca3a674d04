/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Established TCP connections with --tcp-established, by TCP repair (Documentation of TCP_REPAIR,
 * TCP_REPAIR_QUEUE, TCP_QUEUE_SEQ, TCP_REPAIR_OPTIONS, TCP_REPAIR_WINDOW). Dump: the socket goes
 * into repair mode for the moment (it sends nothing meanwhile), each queue's sequence number and
 * content is read (a peek of the send queue, in repair mode, gives its bytes), then the window,
 * the options the handshake agreed (TCP_INFO) and the connection's clock (TCP_TIMESTAMP); repair
 * mode is left without a window probe. Restore: a socket in repair mode takes the local address
 * and port (repair mode allows a port another socket holds), the sequence numbers, connect()s
 * without a handshake, gets the options, window and clock, its queues written back into place,
 * and leaves repair mode. Only connections whose other end is in the image are taken: the network
 * is not locked (that belongs to the containers work), so an outside peer would see the tree's end
 * close when it dies after the dump.
 */
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#define LOG_PREFIX "inet: "
#include "common/log.h"
#include "common/cleanup.h"
#include "files/inet-internal.h"
#include "files/sockopt.h"

#define QUEUE_MAX (64U << 20)

static int repair(int fd, int on)
{
	return setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)) < 0 ? -errno : 0;
}

/* One queue: its sequence number and bytes (peeked; in repair mode the send queue peeks too). */
static int read_queue(struct arena *a, int fd, int q, uint32_t *seq, ProtobufCBinaryData *data)
{
	int len = 0;
	socklen_t l = sizeof(*seq);
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) < 0 ||
	    getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, seq, &l) < 0 ||
	    ioctl(fd, q == TCP_SEND_QUEUE ? SIOCOUTQ : SIOCINQ, &len) < 0)
		return -errno;
	if (len <= 0)
		return 0;
	if ((unsigned)len > QUEUE_MAX)
		return -EFBIG;
	data->data = arena_alloc(a, (size_t)len);
	if (!data->data)
		return -ENOMEM;
	ssize_t n = recv(fd, data->data, (size_t)len, MSG_PEEK | MSG_DONTWAIT);
	if (n != len)
		return n < 0 ? -errno : -EIO;
	data->len = (size_t)len;
	return 0;
}

static int read_state(struct arena *a, int fd, Ferry__TcpRepair *tr)
{
	struct tcp_info ti;
	struct tcp_repair_window w;
	socklen_t l = sizeof(ti), wl = sizeof(w), tl = sizeof(tr->timestamp);
	int mss = 0, r;
	socklen_t ml = sizeof(mss);
	if ((r = read_queue(a, fd, TCP_SEND_QUEUE, &tr->snd_seq, &tr->snd_queue)) < 0 ||
	    (r = read_queue(a, fd, TCP_RECV_QUEUE, &tr->rcv_seq, &tr->rcv_queue)) < 0)
		return r;
	tr->has_snd_queue = tr->snd_queue.len > 0;
	tr->has_rcv_queue = tr->rcv_queue.len > 0;
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0 || getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, &ml) < 0 ||
	    getsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, &wl) < 0 ||
	    getsockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, &tr->timestamp, &tl) < 0)
		return -errno;
	tr->has_mss = tr->has_options = tr->has_snd_wscale = tr->has_rcv_wscale = tr->has_timestamp = 1;
	tr->mss = (uint32_t)mss;
	tr->options = ti.tcpi_options;
	tr->snd_wscale = ti.tcpi_snd_wscale;
	tr->rcv_wscale = ti.tcpi_rcv_wscale;
	tr->has_snd_wl1 = tr->has_snd_wnd = tr->has_max_window = tr->has_rcv_wnd = tr->has_rcv_wup = 1;
	tr->snd_wl1 = w.snd_wl1;
	tr->snd_wnd = w.snd_wnd;
	tr->max_window = w.max_window;
	tr->rcv_wnd = w.rcv_wnd;
	tr->rcv_wup = w.rcv_wup;
	return 0;
}

int inet_repair_dump(struct dump_ctx *ctx, int fd, Sk *sk)
{
	Ferry__TcpRepair *tr = ARENA_NEW(&ctx->arena, Ferry__TcpRepair);
	if (!tr)
		return fe_set(ctx->err, ENOMEM, "TCP repair");
	ferry__tcp_repair__init(tr);
	int r = repair(fd, 1);
	if (r < 0)
		return fe_set(ctx->err, -r, "TCP_REPAIR");
	r = read_state(&ctx->arena, fd, tr);
	int off = repair(fd, -1 /* TCP_REPAIR_OFF_NO_WP: nothing was lost, nothing to probe */);
	if (r < 0 || off < 0)
		return fe_set(ctx->err, r < 0 ? -r : -off, "read the connection in repair mode");
	sk->state = FERRY__INET_STATE__INET_CONNECTED;
	sk->repair = tr;
	pr_debug("TCP socket %llu: repair state read (snd %u + %zu bytes, rcv %u + %zu bytes)\n",
		 (unsigned long long)sk->ino, tr->snd_seq, tr->snd_queue.len, tr->rcv_seq, tr->rcv_queue.len);
	return 0;
}

/* ------------------------------------------------------------------ restore */

static int set_u32(int fd, int name, uint32_t v)
{
	return setsockopt(fd, IPPROTO_TCP, name, &v, sizeof(v)) < 0 ? -errno : 0;
}

static int write_queue(int fd, int q, const ProtobufCBinaryData *data)
{
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) < 0)
		return -errno;
	for (size_t off = 0; off < data->len;) {
		ssize_t n = send(fd, data->data + off, data->len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	return 0;
}

static int set_options(int fd, const Ferry__TcpRepair *tr)
{
	struct tcp_repair_opt o[4];
	int n = 0;
	o[n++] = (struct tcp_repair_opt){ TCPOPT_MAXSEG, tr->mss };
	if (tr->options & TCPI_OPT_WSCALE)
		o[n++] = (struct tcp_repair_opt){ TCPOPT_WINDOW, tr->snd_wscale | (tr->rcv_wscale << 16) };
	if (tr->options & TCPI_OPT_SACK)
		o[n++] = (struct tcp_repair_opt){ TCPOPT_SACK_PERMITTED, 0 };
	if (tr->options & TCPI_OPT_TIMESTAMPS)
		o[n++] = (struct tcp_repair_opt){ TCPOPT_TIMESTAMP, 0 };
	return setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_OPTIONS, o, (socklen_t)(n * sizeof(o[0]))) < 0 ? -errno : 0;
}

static int restore_state(int fd, const Sk *sk, const Ferry__TcpRepair *tr, struct ferry_err *err)
{
	union sa peer;
	socklen_t plen;
	int r;
	struct tcp_repair_window w = { tr->snd_wl1, tr->snd_wnd, tr->max_window, tr->rcv_wnd, tr->rcv_wup };
	if (sa_join(sk->family == FERRY__INET_FAMILY__INET_V6, &sk->dst_addr, sk->dst_port, 0, &peer, &plen) < 0)
		return fe_msg(err, EBADMSG, "files.img: bad peer address");
	/* the dumped numbers are the queues' ends; writing the queues back moves them there again */
	uint32_t snd = tr->snd_seq - (uint32_t)tr->snd_queue.len, rcv = tr->rcv_seq - (uint32_t)tr->rcv_queue.len;
	if ((r = set_u32(fd, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE)) < 0 || (r = set_u32(fd, TCP_QUEUE_SEQ, snd)) < 0 ||
	    (r = set_u32(fd, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE)) < 0 || (r = set_u32(fd, TCP_QUEUE_SEQ, rcv)) < 0)
		return fe_set(err, -r, "sequence numbers");
	if (connect(fd, &peer.sa, plen) < 0)
		return fe_set(err, errno, "connect in repair mode");
	if ((r = set_options(fd, tr)) < 0)
		return fe_set(err, -r, "TCP_REPAIR_OPTIONS");
	if (tr->has_timestamp && (r = set_u32(fd, TCP_TIMESTAMP, tr->timestamp)) < 0)
		return fe_set(err, -r, "TCP_TIMESTAMP");
	/* room for the queues as they were (the options pass puts the buffer sizes back after) */
	sockopt_set_buf(fd, SO_RCVBUF, (int)(tr->rcv_queue.len * 4 + (1 << 20)));
	sockopt_set_buf(fd, SO_SNDBUF, (int)(tr->snd_queue.len * 4 + (1 << 20)));
	if ((r = write_queue(fd, TCP_RECV_QUEUE, &tr->rcv_queue)) < 0 || (r = write_queue(fd, TCP_SEND_QUEUE, &tr->snd_queue)) < 0)
		return fe_set(err, -r, "write the queues back (%zu and %zu bytes)", tr->rcv_queue.len, tr->snd_queue.len);
	/* the window last: the kernel checks it against the receive queue's end */
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, sizeof(w)) < 0)
		return fe_set(err, errno, "TCP_REPAIR_WINDOW");
	return 0;
}

int inet_repair_open(int fd, const Sk *sk, struct ferry_err *err)
{
	if (!sk->repair)
		return fe_msg(err, EBADMSG, "files.img: a connection without its repair state");
	int r = repair(fd, 1);
	if (r < 0)
		return fe_set(err, -r, "TCP_REPAIR");
	union sa self;	/* in repair mode the port may be another socket's too (a listener's) */
	socklen_t slen;
	int v6 = sk->family == FERRY__INET_FAMILY__INET_V6;
	if (sa_join(v6, &sk->src_addr, sk->src_port, sk->scope_id, &self, &slen) < 0)
		return fe_msg(err, EBADMSG, "files.img: bad socket address");
	/*
	 * An IPv6 end that connect() bound (not bind()) is not v6only; bind() to its address would make
	 * it so. Bound to any address, the connect picks the same source, and it stays as it was.
	 */
	if (v6 && !sockopt_int(sk->opts, sk->n_opts, IPPROTO_IPV6, IPV6_V6ONLY, 1))
		memset(&self.v6.sin6_addr, 0, sizeof(self.v6.sin6_addr));
	if (bind(fd, &self.sa, slen) < 0)
		return fe_set(err, errno, "bind in repair mode");
	if ((r = restore_state(fd, sk, sk->repair, err)) < 0)
		return r;
	/* no window probe: the other end may not be made yet, and would answer it with a reset */
	return (r = repair(fd, -1)) < 0 ? fe_set(err, -r, "leave repair mode") : 0;
}
