/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ferry page-server`: accepts a connection, runs TLS and the handshake, receives one image
 * stream into the directory (receiver.c) and answers CLOSE with OK once it is durable. One
 * session, or one after another with --forever.
 */
#include <arpa/inet.h>
#define LOG_PREFIX "page-server: "
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "common/log.h"
#include "common/util.h"
#include "transport/handshake.h"


struct server {
	const struct remote_opts *o;
	int dirfd;
	void *tls;
	struct token tok;
	int has_tok;
};

static void peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
			port = ntohs(a->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
			port = ntohs(a->sin6_port);
		}
	}
	snprintf(buf, len, "%s:%d", host, port);
}

/*
 * After an ERROR: stop sending and read what the client still had in flight for a moment, so that
 * closing does not reset the connection and destroy the ERROR before the client has read it.
 */
static void linger_close(struct conn *c)
{
	char sink[65536];
	struct timeval tv = { .tv_sec = 1 };
	uint64_t end = now_us() + 2000000;
	if (c->ssl)
		return;
	shutdown(c->fd, SHUT_WR);
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (now_us() < end && read(c->fd, sink, sizeof(sink)) > 0)
		;
}

/* One connection: 0 when a whole image was stored, else -errno with err naming the client. */
static int serve_one(struct server *sv, int fd, struct ferry_err *err)
{
	struct conn c;
	char who[64];
	uint8_t buf[WIRE_MAX_CTRL];
	struct wire_ok ok = { { 0 } };
	peer_name(fd, who, sizeof(who));
	tcp_set_timeouts(fd);
	conn_init(&c, fd, "client %s", who);
	pr_info("%s: connected\n", c.peer);
	int r = tls_server_accept(&c, sv->tls, err);
	if (r == 0)
		r = hs_server(&c, sv->has_tok ? &sv->tok : NULL, err);
	if (r == 0) {
		r = rx_stream(&c, sv->dirfd, err);
		if (r == 1)
			r = fe_msg(err, ECANCELED, "%s: the dump failed: image dropped", c.peer);
	}
	if (r < 0 && r != -ECANCELED && r != -ECONNRESET && r != -ETIMEDOUT && r != -EPIPE && r != -EACCES)
		conn_send_error(&c, -r, err);
	if (r < 0 && r != -ECANCELED)
		linger_close(&c);
	if (r == 0 || r == -ECANCELED) {
		struct ferry_err e2 = { 0 };
		int s = conn_send(&c, WT_OK, 0, buf, wire_ok_encode(buf, &ok), &e2);
		if (r == 0 && s < 0)
			r = fe_msg(err, -s, "%s", fe_str(&e2, s));
	}
	conn_close(&c);
	return r;
}

static int server_init(struct server *sv, const struct remote_opts *o, const char *dir, struct ferry_err *err)
{
	memset(sv, 0, sizeof(*sv));
	sv->o = o;
	sv->dirfd = -1;
	int r = mkdir_p(dir, 0755);
	if (r < 0)
		return fe_set(err, -r, "create %s", dir);
	sv->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sv->dirfd < 0)
		return fe_set(err, errno, "open %s", dir);
	if (o->token_file) {
		if ((r = token_load(o->token_file, &sv->tok, err)) < 0)
			return r;
		sv->has_tok = 1;
	}
	return tls_server_ctx(o, &sv->tls, err);
}

static void server_free(struct server *sv)
{
	if (sv->dirfd >= 0)
		close(sv->dirfd);
	tls_ctx_free(sv->tls);
	memset(&sv->tok, 0, sizeof(sv->tok));
}

static int serve(struct server *sv, int lfd, int forever, struct ferry_err *err)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return fe_set(err, errno, "accept on %s:%d", sv->o->address, sv->o->port);
		}
		int r = serve_one(sv, fd, err);
		if (!forever)
			return r;
		if (r < 0)
			pr_err("%s\n", fe_str(err, r));
		else
			pr_info("image stored\n");
		fe_clear(err);
	}
}

int page_server_run(const struct remote_opts *o, const char *dir, int forever, struct ferry_err *err)
{
	struct server sv;
	int lfd = -1;
	signal(SIGPIPE, SIG_IGN);
	int r = server_init(&sv, o, dir, err);
	if (r == 0)
		r = tcp_listen(o, &lfd, err);
	if (r == 0) {
		pr_info("listening on %s:%d, images into %s%s%s\n", o->address, o->port, dir, sv.tls ? ", TLS" : "",
			sv.has_tok ? ", token required" : "");
		if (o->listening)
			o->listening(o->listening_arg);
		r = serve(&sv, lfd, forever, err);
		close(lfd);
	}
	server_free(&sv);
	return r;
}
