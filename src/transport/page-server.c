/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ferry page-server`: an accept loop that gives every connection a thread and state of its own
 * (a session: TLS, handshake, then one image stream, receiver.c), bounds the handshake in time,
 * caps the connections waiting in it, and ends after the first authenticated session that closes
 * (never with --forever) or on SIGINT/SIGTERM/SIGHUP. A connection that fails or proves nothing
 * is logged and dropped: it neither ends nor blocks the server.
 */
#include <arpa/inet.h>
#define LOG_PREFIX "page-server: "
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "common/log.h"
#include "common/safefile.h"
#include "common/util.h"
#include "transport/handshake.h"

#define PS_PENDING_MAX 128	/* connections in their handshake at once: a new one drops the oldest */
#define PS_PENDING_HOST 32	/* of them from one address: a new one drops that address's oldest */
#define PS_HANDSHAKE_S 10	/* seconds to authenticate (FERRY_HANDSHAKE_TIMEOUT overrides) */
#define PS_STACK (512u << 10)

enum { SS_HANDSHAKE, SS_STREAM, SS_DONE };
enum { CUT_NONE, CUT_TIMEOUT, CUT_EVICTED, CUT_STOP };

struct server;

struct session {
	struct server *sv;
	pthread_t th;
	int fd;			/* the socket; -1 once its thread closed it (under sv->lock) */
	int state;		/* SS_* (under sv->lock) */
	int cut;		/* why the server shut the socket down: CUT_* (under sv->lock) */
	int authed;		/* past the handshake */
	int closed;		/* the client ended the stream with CLOSE: the session is complete */
	uint64_t deadline;	/* now_us() by which the handshake must be done */
	int rc;
	struct ferry_err err;
	char host[INET6_ADDRSTRLEN];
	char who[INET6_ADDRSTRLEN + 8];	/* host:port */
	struct session *next;
	struct log_sink *log;	/* the server's */
};

struct server {
	const struct remote_opts *o;
	const char *dir;
	int dirfd;
	void *tls;
	struct token tok;
	int has_tok;
	int hs_timeout;		/* seconds */
	pthread_mutex_t lock;
	struct session *list;	/* every session whose thread has not been joined */
	int wake[2];		/* a session ended: wakes the accept loop */
};

static void peer_name(int fd, struct session *s)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char *host = s->host;
	int port = 0;
	snprintf(host, sizeof(s->host), "?");
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &a->sin_addr, host, sizeof(s->host));
			port = ntohs(a->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(s->host));
			port = ntohs(a->sin6_port);
		}
	}
	snprintf(s->who, sizeof(s->who), "%s:%d", host, port);
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

/* The handshake is over: the session streams, unless the server cut it meanwhile. */
static int to_stream(struct session *s)
{
	struct server *sv = s->sv;
	pthread_mutex_lock(&sv->lock);
	int cut = s->cut;
	if (!cut) {
		s->state = SS_STREAM;
		s->authed = 1;
	}
	pthread_mutex_unlock(&sv->lock);
	return cut ? -ECONNRESET : 0;
}

/* A failure caused by the server cutting the connection gets that reason instead. */
static int cut_reason(struct session *s, int r, struct conn *c)
{
	pthread_mutex_lock(&s->sv->lock);
	int cut = s->cut;
	pthread_mutex_unlock(&s->sv->lock);
	switch (cut) {
	case CUT_TIMEOUT:
		return fe_msg(&s->err, ETIMEDOUT, "%s: no authenticated session after %d s: dropped (idle, too slow, or not a ferry client)",
			      c->peer, s->sv->hs_timeout);
	case CUT_EVICTED:
		return fe_msg(&s->err, EAGAIN, "%s: dropped in its handshake to make room: too many connections were waiting "
			      "(at most %d, %d from one address)", c->peer, PS_PENDING_MAX, PS_PENDING_HOST);
	case CUT_STOP:
		return fe_msg(&s->err, EINTR, "%s: the page server is stopping", c->peer);
	default:
		return r;
	}
}

/* Whether the client should get an ERROR for failure r: not when it cannot hear it, or already has it. */
static int tell_client(int r)
{
	switch (-r) {
	case ECANCELED:		/* its own CLOSE(not ok): it gets OK */
	case ECONNRESET:
	case EPIPE:
	case ETIMEDOUT:
	case EINTR:		/* cut by the server */
	case EAGAIN:
	case EACCES:		/* the handshake sent it */
	case EPROTONOSUPPORT:
		return 0;
	default:
		return 1;
	}
}

/* One connection: 0 when a whole image was stored, else -errno with s->err naming the client. */
static int serve_conn(struct session *s, struct conn *c)
{
	struct server *sv = s->sv;
	struct ferry_err *err = &s->err;
	uint8_t buf[WIRE_MAX_CTRL];
	struct wire_ok ok = { { 0 } };
	pr_info("%s: connected\n", c->peer);
	int r = tls_server_accept(c, sv->tls, err);
	if (r == 0)
		r = hs_server(c, sv->has_tok ? &sv->tok : NULL, err);
	if (r == 0)
		r = to_stream(s);
	if (r == 0) {
		r = rx_stream(c, sv->dirfd, err);
		s->closed = r >= 0;
		if (r == 1)
			r = fe_msg(err, ECANCELED, "%s: the dump failed: image dropped", c->peer);
	}
	if (r < 0)
		r = cut_reason(s, r, c);
	if (r < 0 && tell_client(r))
		conn_send_error(c, -r, err);
	if (r < 0 && r != -ECANCELED)
		linger_close(c);
	if (r == 0 || r == -ECANCELED) {
		struct ferry_err e2 = { 0 };
		int rs = conn_send(c, WT_OK, 0, buf, wire_ok_encode(buf, &ok), &e2);
		if (r == 0 && rs < 0)
			r = fe_msg(err, -rs, "%s", fe_str(&e2, rs));
	}
	return r;
}

static void *session_main(void *arg)
{
	struct session *s = arg;
	log_sink_use(s->log);
	struct server *sv = s->sv;
	struct conn c;
	conn_init(&c, s->fd, "client %s", s->who);
	c.rx_max = WIRE_MAX_CTRL;	/* until the client is authenticated */
	s->rc = serve_conn(s, &c);
	c.fd = -1;	/* closed below, under the lock: the accept loop may shut it down until then */
	conn_close(&c);
	pthread_mutex_lock(&sv->lock);
	close(s->fd);
	s->fd = -1;
	s->state = SS_DONE;
	pthread_mutex_unlock(&sv->lock);
	(void)!write(sv->wake[1], "", 1);
	return NULL;
}

/* Under sv->lock: shuts the session's socket down, so that its thread fails and ends. */
static void cut(struct session *s, int why)
{
	if (s->state == SS_DONE || s->cut)
		return;
	s->cut = why;
	shutdown(s->fd, SHUT_RDWR);
}

/*
 * Under sv->lock: makes room for a connection from host. If host already has PS_PENDING_HOST
 * connections in their handshake, its oldest goes; else, if PS_PENDING_MAX are waiting, the
 * oldest of all. So a flood from one address pushes out its own connections first.
 */
static void make_room(struct server *sv, const char *host)
{
	struct session *old = NULL, *mine = NULL;
	int n = 0, nmine = 0;
	for (struct session *s = sv->list; s; s = s->next) {
		if (s->state != SS_HANDSHAKE || s->cut)
			continue;
		n++;
		if (!old || s->deadline < old->deadline)
			old = s;
		if (host && !strcmp(s->host, host)) {
			nmine++;
			if (!mine || s->deadline < mine->deadline)
				mine = s;
		}
	}
	struct session *victim = nmine >= PS_PENDING_HOST ? mine : n >= PS_PENDING_MAX || !host ? old : NULL;
	if (victim) {
		pr_warn("%s: %d connections in their handshake, %d from %s: dropping this one, the oldest\n",
			victim->who, n, nmine, victim->host);
		cut(victim, CUT_EVICTED);
	}
}

static void start_session(struct server *sv, int fd)
{
	struct session *s = calloc(1, sizeof(*s));
	pthread_attr_t attr;
	if (!s) {
		close(fd);
		return;
	}
	s->sv = sv;
	s->log = log_sink_current();
	s->fd = fd;
	s->deadline = now_us() + (uint64_t)sv->hs_timeout * 1000000;
	peer_name(fd, s);
	tcp_set_timeouts(fd);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, PS_STACK);
	pthread_mutex_lock(&sv->lock);
	make_room(sv, s->host);
	int r = pthread_create(&s->th, &attr, session_main, s);
	if (r == 0) {
		s->next = sv->list;
		sv->list = s;
	}
	pthread_mutex_unlock(&sv->lock);
	pthread_attr_destroy(&attr);
	if (r) {
		pr_warn("client %s: cannot start a thread for it: %s\n", s->who, strerror(r));
		close(fd);
		free(s);
	}
}

static void accept_all(struct server *sv, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			start_session(sv, fd);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) {
			pr_warn("accept: %s: dropping the oldest connection waiting in its handshake\n", strerror(errno));
			pthread_mutex_lock(&sv->lock);
			make_room(sv, NULL);
			pthread_mutex_unlock(&sv->lock);
		}
		return;	/* EAGAIN: all taken; anything else: try again at the next poll */
	}
}

/* Cuts handshakes past their deadline; returns the milliseconds until the next deadline (at most 1000). */
static int enforce_deadlines(struct server *sv)
{
	uint64_t now = now_us(), next = now + 1000000;
	pthread_mutex_lock(&sv->lock);
	for (struct session *s = sv->list; s; s = s->next) {
		if (s->state != SS_HANDSHAKE || s->cut)
			continue;
		if (s->deadline <= now)
			cut(s, CUT_TIMEOUT);
		else if (s->deadline < next)
			next = s->deadline;
	}
	pthread_mutex_unlock(&sv->lock);
	return (int)((next - now + 999) / 1000);
}

/* Logs how a session ended. */
static void report(struct session *s)
{
	if (s->rc == 0)
		pr_info("%s: image stored\n", s->who);
	else if (s->authed)
		pr_err("%s\n", fe_str(&s->err, s->rc));
	else
		pr_warn("%s\n", fe_str(&s->err, s->rc));
}

/*
 * Joins the sessions that ended. A complete one (its client sent CLOSE) ends the server unless
 * forever: returns 1 with *rc (and err) its result; else 0.
 */
static int reap(struct server *sv, int forever, int *rc, struct ferry_err *err)
{
	int stop = 0;
	for (;;) {
		struct session *s, **pp;
		pthread_mutex_lock(&sv->lock);
		for (pp = &sv->list; (s = *pp) && s->state != SS_DONE; pp = &s->next)
			;
		if (s)
			*pp = s->next;
		pthread_mutex_unlock(&sv->lock);
		if (!s)
			return stop;
		pthread_join(s->th, NULL);
		report(s);
		if (s->closed && !forever && !stop) {
			stop = 1;
			*rc = s->rc;
			if (s->rc < 0)
				*err = s->err;
		}
		free(s);
	}
}

/* The end: every session still running is cut and joined (a stream in progress is removed). */
static void stop_all(struct server *sv)
{
	struct ferry_err e = { 0 };
	int rc;
	pthread_mutex_lock(&sv->lock);
	for (struct session *s = sv->list; s; s = s->next)
		cut(s, CUT_STOP);
	pthread_mutex_unlock(&sv->lock);
	while (sv->list) {
		struct pollfd p = { .fd = sv->wake[0], .events = POLLIN };
		char drain[64];
		reap(sv, 1, &rc, &e);
		if (sv->list && poll(&p, 1, 1000) > 0)
			(void)!read(sv->wake[0], drain, sizeof(drain));
	}
}

static int on_signal(int sigfd, int forever, struct ferry_err *err)
{
	struct signalfd_siginfo si;
	if (read(sigfd, &si, sizeof(si)) != sizeof(si))
		return 0;
	pr_info("stopping on %s\n", strsignal(si.ssi_signo));
	return forever ? 0 : fe_msg(err, EINTR, "stopped by %s before an image was stored", strsignal(si.ssi_signo));
}

static int serve(struct server *sv, int lfd, int sigfd, int forever, struct ferry_err *err)
{
	int rc = 0;
	char drain[64];
	while (!reap(sv, forever, &rc, err)) {
		struct pollfd p[3] = { { .fd = lfd, .events = POLLIN }, { .fd = sigfd, .events = POLLIN },
				       { .fd = sv->wake[0], .events = POLLIN } };
		if (poll(p, 3, enforce_deadlines(sv)) < 0 && errno != EINTR) {
			rc = fe_set(err, errno, "poll");
			break;
		}
		if (p[1].revents) {
			rc = on_signal(sigfd, forever, err);
			break;
		}
		if (p[2].revents)
			(void)!read(sv->wake[0], drain, sizeof(drain));
		if (p[0].revents)
			accept_all(sv, lfd);
	}
	stop_all(sv);
	return rc;
}

/* Whether the server would accept anyone at all: then --insecure must say so. */
static int check_auth(const struct remote_opts *o, const char *dir, struct ferry_err *err)
{
	if (o->token_file || (o->tls_cert && o->tls_ca) || o->insecure)
		return 0;
	return fe_msg(err, EACCES,
		      "refusing to serve without authentication: anyone who can connect could write an image into %s "
		      "(and a restore runs it). Give --token-file F (both sides), or --tls-cert/--tls-key with "
		      "--tls-cacert (client certificates), or --insecure to accept anyone", dir);
}

static int server_init(struct server *sv, const struct remote_opts *o, const char *dir, struct ferry_err *err)
{
	memset(sv, 0, sizeof(*sv));
	sv->o = o;
	sv->dirfd = -1;
	int r;
	sv->dirfd = safe_dir_open(dir, 1, err);	/* ours alone: nobody plants links where we write */
	if (sv->dirfd < 0)
		return sv->dirfd;
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
	if (sv->wake[0] >= 0) {
		close(sv->wake[0]);
		close(sv->wake[1]);
	}
	pthread_mutex_destroy(&sv->lock);
}

/* What the accept loop needs besides: the handshake timeout, the lock, the wake-up pipe. */
static int loop_init(struct server *sv, const char *dir, struct ferry_err *err)
{
	const char *env = getenv("FERRY_HANDSHAKE_TIMEOUT");
	sv->dir = dir;
	sv->hs_timeout = env && atoi(env) > 0 ? atoi(env) : PS_HANDSHAKE_S;
	pthread_mutex_init(&sv->lock, NULL);
	return pipe2(sv->wake, O_CLOEXEC | O_NONBLOCK) < 0 ? fe_set(err, errno, "pipe") : 0;
}

static void say_listening(const struct server *sv, int lfd, const struct remote_opts *o)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int port = o->port;
	if (getsockname(lfd, (struct sockaddr *)&ss, &sl) == 0)
		port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						      : ((struct sockaddr_in *)&ss)->sin_port);
	if (!o->port)	/* the caller asked for any port: tell it which */
		pr_msg("listening on %s:%d\n", o->address, port);
	pr_info("listening on %s:%d, images into %s%s%s%s\n", o->address, port, sv->dir, sv->tls ? ", TLS" : "",
		sv->tls && o->tls_ca ? " with client certificates" : "", sv->has_tok ? ", token required" : "");
	if (!sv->has_tok && !(sv->tls && o->tls_ca))
		pr_warn("--insecure: anyone who can connect to %s:%d can write an image into %s\n", o->address, port,
			sv->dir);
}

int page_server_run(const struct remote_opts *o, const char *dir, int forever, struct ferry_err *err)
{
	struct remote_opts ro = *o;
	struct server sv;
	sigset_t mask, old;
	int lfd = -1, sigfd = -1;
	if (!ro.address)
		ro.address = "127.0.0.1";
	int r = remote_check(&ro, 1, err);
	if (r == 0)
		r = check_auth(&ro, dir, err);
	if (r < 0)
		return r;
	sigset_t pipe_old;
	sigpipe_block(&pipe_old);	/* sessions' threads inherit it */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, &old);	/* sessions' threads inherit it: the loop takes them */
	r = server_init(&sv, &ro, dir, err);
	sv.wake[0] = sv.wake[1] = -1;
	if (r == 0)
		r = loop_init(&sv, dir, err);
	if (r == 0 && (sigfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0)
		r = fe_set(err, errno, "signalfd");
	if (r == 0)
		r = tcp_listen(&ro, &lfd, err);
	if (r == 0) {
		say_listening(&sv, lfd, &ro);
		if (ro.listening)
			ro.listening(ro.listening_arg);
		r = serve(&sv, lfd, sigfd, forever, err);
		close(lfd);
	}
	if (sigfd >= 0)
		close(sigfd);
	server_free(&sv);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	sigpipe_restore(&pipe_old);
	return r;
}
