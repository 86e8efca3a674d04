// SPDX-License-Identifier: Apache-2.0
// Unix listeners on a path (mode 0640) and an abstract name, each with two connections queued but not
// accepted (the client ends held here) and, on the path listener, one connection accepted before the
// dump with data queued both ways; a bound dgram socket with a message waiting that receives from a
// new client after restore.
#include "zdtm.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static struct sockaddr_un path_sa, abs_sa, dg_sa;
static socklen_t path_len, abs_len, dg_len;
static int lpath, labs, cpath[2], cabs[2], acc, acc_client, dgsrv;

static void die(const char *what)
{
	perror(what);
	_exit(2);
}

static socklen_t mkaddr(struct sockaddr_un *sa, const char *name, int abstract)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (abstract) {
		size_t n = strlen(name);
		memcpy(sa->sun_path + 1, name, n);
		return offsetof(struct sockaddr_un, sun_path) + 1 + n;
	}
	snprintf(sa->sun_path, sizeof(sa->sun_path), "%s", name);
	return offsetof(struct sockaddr_un, sun_path) + strlen(name) + 1;
}

static int listener(const struct sockaddr_un *sa, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (const struct sockaddr *)sa, len) < 0 || listen(fd, 8) < 0)
		die("listener");
	return fd;
}

static int client(const struct sockaddr_un *sa, socklen_t len, int type)
{
	int fd = socket(AF_UNIX, type, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)sa, len) < 0)
		die("connect");
	return fd;
}

static void setup(void)
{
	char name[108];
	unlink(zdtm_path(name, sizeof(name), "listen.sock"));
	path_len = mkaddr(&path_sa, name, 0);
	snprintf(name, sizeof(name), "ferry-unix-listen-%d", getpid());
	abs_len = mkaddr(&abs_sa, name, 1);
	unlink(zdtm_path(name, sizeof(name), "dgram.sock"));
	dg_len = mkaddr(&dg_sa, name, 0);

	lpath = listener(&path_sa, path_len);
	chmod(path_sa.sun_path, 0640);
	labs = listener(&abs_sa, abs_len);
	acc_client = client(&path_sa, path_len, SOCK_STREAM);
	if ((acc = accept(lpath, NULL, NULL)) < 0)
		die("accept");
	if (send(acc, "to client", 9, 0) != 9 || send(acc_client, "to server", 9, 0) != 9)
		die("send");
	for (int i = 0; i < 2; i++) {
		cpath[i] = client(&path_sa, path_len, SOCK_STREAM);
		cabs[i] = client(&abs_sa, abs_len, SOCK_STREAM);
	}
	dgsrv = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (dgsrv < 0 || bind(dgsrv, (struct sockaddr *)&dg_sa, dg_len) < 0)
		die("dgram bind");
	int tmp = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (sendto(tmp, "queued", 6, 0, (struct sockaddr *)&dg_sa, dg_len) != 6)
		die("sendto");
	close(tmp);
}

static void expect(int fd, const char *want, const char *what)
{
	char got[64];
	ssize_t r = recv(fd, got, sizeof(got), MSG_DONTWAIT);
	zdtm_check(r == (ssize_t)strlen(want) && !memcmp(got, want, r), "%s: got '%.*s' (%zd), want '%s'", what,
		   r > 0 ? (int)r : 0, got, r, want);
}

static void check_name(int fd, const struct sockaddr_un *sa, socklen_t len, const char *what)
{
	struct sockaddr_un got;
	socklen_t l = sizeof(got);
	zdtm_check(getsockname(fd, (struct sockaddr *)&got, &l) == 0 && l == len && !memcmp(&got, sa, len),
		   "%s: getsockname differs (length %u, want %u)", what, l, len);
}

/* accept() returns the connection of client c: data flows both ways. */
static void check_accept(int l, int c, const char *what)
{
	char msg[32];
	int s = accept(l, NULL, NULL);
	if (s < 0) {
		zdtm_fail("%s: accept: %m", what);
		return;
	}
	snprintf(msg, sizeof(msg), "c%d", c);
	zdtm_check(send(c, msg, strlen(msg), 0) == (ssize_t)strlen(msg), "%s: client send: %m", what);
	expect(s, msg, what);
	zdtm_check(send(s, "srv", 3, 0) == 3, "%s: server send: %m", what);
	expect(c, "srv", what);
	close(s);
}

static void verify(void)
{
	struct stat sb;
	zdtm_check(stat(path_sa.sun_path, &sb) == 0 && S_ISSOCK(sb.st_mode) && (sb.st_mode & 07777) == 0640,
		   "socket file %s: missing or mode %o", path_sa.sun_path, sb.st_mode & 07777);
	check_name(lpath, &path_sa, path_len, "path listener");
	check_name(labs, &abs_sa, abs_len, "abstract listener");
	check_name(acc, &path_sa, path_len, "accepted connection");
	check_name(dgsrv, &dg_sa, dg_len, "bound dgram");
	expect(acc, "to server", "accepted connection");
	expect(acc_client, "to client", "accepted connection's client");
	zdtm_check(send(acc, "more", 4, 0) == 4, "accepted connection: send: %m");
	expect(acc_client, "more", "accepted connection after restore");
	for (int i = 0; i < 2; i++) {
		check_accept(lpath, cpath[i], "path listener, pending connection");
		check_accept(labs, cabs[i], "abstract listener, pending connection");
	}
	/* nothing else was queued; new connections work */
	int extra = client(&path_sa, path_len, SOCK_STREAM);
	check_accept(lpath, extra, "path listener, new connection");
	extra = client(&abs_sa, abs_len, SOCK_STREAM);
	check_accept(labs, extra, "abstract listener, new connection");
	expect(dgsrv, "queued", "bound dgram, queued message");
	int c = socket(AF_UNIX, SOCK_DGRAM, 0);
	zdtm_check(sendto(c, "new", 3, 0, (struct sockaddr *)&dg_sa, dg_len) == 3, "dgram sendto: %m");
	expect(dgsrv, "new", "bound dgram, new client");
}

int main(void)
{
	zdtm_init("unix_listen");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	verify();
	zdtm_exit();
}
