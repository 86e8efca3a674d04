/* SPDX-License-Identifier: Apache-2.0 */
/* TCP endpoints of the page server: connect, listen, timeouts, option checks (conn.h). */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "transport/conn.h"

void tcp_set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = conn_timeout() };
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int buf = 8 << 20;	/* room for two DATA frames in flight: sender and receiver overlap */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
}

int remote_port_parse(const char *s, int *port, struct ferry_err *err)
{
	char *end;
	errno = 0;
	long v = s && *s >= '0' && *s <= '9' ? strtol(s, &end, 10) : -1;
	if (v < 0 || errno || *end)
		return fe_msg(err, EINVAL, "port '%s': not a number", s ? s : "");
	if (v > 65535)
		return fe_msg(err, EINVAL, "port %s: out of range (a TCP port is 1-65535)", s);
	*port = (int)v;
	return 0;
}

int remote_check(const struct remote_opts *o, int server, struct ferry_err *err)
{
	if (!o->address || !*o->address)
		return fe_msg(err, EINVAL, "no address given (--address)");
	if (o->port < (server ? 0 : 1) || o->port > 65535)
		return fe_msg(err, EINVAL, "port %d: out of range (a TCP port is 1-65535)", o->port);
	return 0;
}

static int resolve(const struct remote_opts *o, int passive, struct addrinfo **res, struct ferry_err *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = passive ? AI_PASSIVE : AI_ADDRCONFIG };
	char port[16];
	snprintf(port, sizeof(port), "%d", o->port);
	int r = getaddrinfo(o->address, port, &hints, res);
	if (r)
		return fe_msg(err, r == EAI_SYSTEM ? errno : EHOSTUNREACH, "resolve %s:%d: %s", o->address, o->port,
			      gai_strerror(r));
	return 0;
}

int tcp_connect(const struct remote_opts *o, int *fdp, struct ferry_err *err)
{
	struct addrinfo *res, *ai;
	int r = resolve(o, 0, &res, err), e = ECONNREFUSED;
	if (r < 0)
		return r;
	for (ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		tcp_set_timeouts(fd);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			freeaddrinfo(res);
			*fdp = fd;
			return 0;
		}
		e = errno == EINPROGRESS || errno == EAGAIN ? ETIMEDOUT : errno;
		close(fd);
	}
	freeaddrinfo(res);
	return fe_set(err, e, "connect to the page server %s:%d", o->address, o->port);
}

int tcp_listen(const struct remote_opts *o, int *fdp, struct ferry_err *err)
{
	struct addrinfo *res, *ai;
	int r = resolve(o, 1, &res, err), e = EADDRNOTAVAIL;
	if (r < 0)
		return r;
	for (ai = res; ai; ai = ai->ai_next) {
		int one = 1, fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0) {
			freeaddrinfo(res);
			*fdp = fd;
			return 0;
		}
		e = errno;
		close(fd);
	}
	freeaddrinfo(res);
	return fe_set(err, e, "listen on %s:%d", o->address, o->port);
}
