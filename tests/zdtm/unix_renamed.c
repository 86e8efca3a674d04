// SPDX-License-Identifier: Apache-2.0
// Unix socket files renamed since the bind (the JVM's attach listener binds a temporary name and renames
// it): a stream listener renamed within its directory, holding a connection it accepted and one it has not
// (with data); a datagram socket whose file was moved into a subdirectory, with a queued datagram. After
// restore each socket still reports the name it was bound to (getsockname), its file is where it was moved
// (a socket, with the same mode), the old name leads nowhere, and new clients reach each socket through the
// file's new path: the listener accepts the old pending connection with its data, then the new one.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int lsn, acc, cli_acc, cli_pend, dg;
static struct sockaddr_un l_tmp, l_now, d_tmp, d_now;

static socklen_t path_addr(struct sockaddr_un *a, const char *name)
{
	char p[sizeof(a->sun_path)];
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	zdtm_path(p, sizeof(p), name);
	snprintf(a->sun_path, sizeof(a->sun_path), "%s", p);
	return sizeof(*a);
}

static void setup(void)
{
	char sub[sizeof(d_now.sun_path)];
	path_addr(&l_tmp, "attach.tmp");
	path_addr(&l_now, "attach");
	path_addr(&d_tmp, "dgram.tmp");
	path_addr(&d_now, "moved/dgram");
	unlink(l_now.sun_path);
	unlink(d_now.sun_path);
	mkdir(zdtm_path(sub, sizeof(sub), "moved"), 0755);
	lsn = socket(AF_UNIX, SOCK_STREAM, 0);
	dg = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (lsn < 0 || dg < 0 || bind(lsn, (void *)&l_tmp, sizeof(l_tmp)) < 0 || listen(lsn, 4) < 0 ||
	    bind(dg, (void *)&d_tmp, sizeof(d_tmp)) < 0 || chmod(l_tmp.sun_path, 0600) < 0)
		zdtm_skip("bind: %m");
	cli_acc = socket(AF_UNIX, SOCK_STREAM, 0);
	if (cli_acc < 0 || connect(cli_acc, (void *)&l_tmp, sizeof(l_tmp)) < 0 || (acc = accept(lsn, NULL, NULL)) < 0)
		zdtm_skip("accept: %m");
	if (rename(l_tmp.sun_path, l_now.sun_path) < 0 || rename(d_tmp.sun_path, d_now.sun_path) < 0)
		zdtm_skip("rename: %m");
	cli_pend = socket(AF_UNIX, SOCK_STREAM, 0);
	if (cli_pend < 0 || connect(cli_pend, (void *)&l_now, sizeof(l_now)) < 0 || send(cli_pend, "pending", 7, 0) != 7)
		zdtm_skip("pending connection: %m");
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (s < 0 || sendto(s, "queued", 6, 0, (void *)&d_now, sizeof(d_now)) != 6)
		zdtm_skip("datagram: %m");
	close(s);
}

static void check_name(int fd, const struct sockaddr_un *want, const char *what)
{
	struct sockaddr_un a = { 0 };
	socklen_t l = sizeof(a);
	zdtm_check(getsockname(fd, (void *)&a, &l) == 0 && !strcmp(a.sun_path, want->sun_path),
		   "%s: bound to '%s', want '%s'", what, a.sun_path, want->sun_path);
}

static void check(void)
{
	struct stat st;
	char b[16];
	check_name(lsn, &l_tmp, "listener");
	check_name(dg, &d_tmp, "datagram socket");
	zdtm_check(stat(l_now.sun_path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0600,
		   "the listener's file is not at %s (mode 0600)", l_now.sun_path);
	zdtm_check(stat(d_now.sun_path, &st) == 0 && S_ISSOCK(st.st_mode), "the datagram socket's file is not at %s",
		   d_now.sun_path);
	zdtm_check(access(l_tmp.sun_path, F_OK) < 0 && access(d_tmp.sun_path, F_OK) < 0,
		   "a socket file is back at the name it was bound to");
	zdtm_check(send(acc, "hi", 2, 0) == 2 && recv(cli_acc, b, sizeof(b), MSG_DONTWAIT) == 2,
		   "the accepted connection is broken: %m");
	struct pollfd p = { .fd = lsn, .events = POLLIN };
	int a = poll(&p, 1, 0) == 1 ? accept(lsn, NULL, NULL) : -1;
	zdtm_check(a >= 0 && recv(a, b, sizeof(b), MSG_DONTWAIT) == 7 && !memcmp(b, "pending", 7),
		   "the pending connection did not come with its data");
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	zdtm_check(c >= 0 && connect(c, (void *)&l_now, sizeof(l_now)) == 0 && accept(lsn, NULL, NULL) >= 0,
		   "a new client does not reach the listener through %s: %m", l_now.sun_path);
	zdtm_check(recv(dg, b, sizeof(b), MSG_DONTWAIT) == 6 && !memcmp(b, "queued", 6), "the queued datagram is lost");
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	zdtm_check(s >= 0 && sendto(s, "new", 3, 0, (void *)&d_now, sizeof(d_now)) == 3 &&
		   recv(dg, b, sizeof(b), MSG_DONTWAIT) == 3, "a datagram to %s does not reach the socket: %m", d_now.sun_path);
}

int main(void)
{
	zdtm_init("unix_renamed");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	check();
	zdtm_exit();
}
