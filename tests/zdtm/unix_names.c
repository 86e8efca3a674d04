// SPDX-License-Identifier: Apache-2.0
// Names of unix sockets whose files went away or changed: a listener whose file was removed (it keeps its
// name and its accepted connection, but nobody reaches it by path any more); a datagram server whose file
// was removed, with a client connected before that (it still sends); two listeners bound one after the other
// on one path (the path leads to the second); a socket whose path now holds a regular file (left as it is);
// one whose directory was removed (it stays removed); one bound by a relative name from a directory the
// program left; an abstract name and an autobound one. After restore getsockname() gives the same names,
// the filesystem looks as before, and every connection still works.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

enum { GONE_LSN, GONE_ACC, GONE_CLI, GONE_DG, DG_CLI, OLD_LSN, NEW_LSN, REPLACED, NODIR, REL, ABS, AUTO, N };
static const char *names[N] = { "removed listener", "its accepted end", "its client", "removed dgram server",
				"its dgram client", "first listener on the path", "second listener on the path",
				"socket whose path holds a file", "socket whose directory is gone", "relative name",
				"abstract name", "autobound name" };
static int fds[N];
static struct sockaddr_un self[N];
static socklen_t slen[N];
static char dir[80];

static socklen_t mk(struct sockaddr_un *a, const char *fmt, const char *x)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	snprintf(a->sun_path, sizeof(a->sun_path), fmt, dir, x);
	return offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1;
}

static int bound(int type, const struct sockaddr_un *a, socklen_t l)
{
	int fd = socket(AF_UNIX, type, 0);
	if (fd < 0 || bind(fd, (const void *)a, l) < 0)
		zdtm_skip("bind %s: %m", a->sun_path[0] ? a->sun_path : "(abstract)");
	return fd;
}

static void setup(void)
{
	struct sockaddr_un a;
	socklen_t l = mk(&a, "%s/%s", "gone.sock");
	char path[200];
	unlink(a.sun_path);
	fds[GONE_LSN] = bound(SOCK_STREAM, &a, l);
	listen(fds[GONE_LSN], 2);
	fds[GONE_CLI] = socket(AF_UNIX, SOCK_STREAM, 0);
	if (connect(fds[GONE_CLI], (void *)&a, l) < 0 || (fds[GONE_ACC] = accept(fds[GONE_LSN], NULL, NULL)) < 0)
		zdtm_skip("connect: %m");
	unlink(a.sun_path);

	l = mk(&a, "%s/%s", "gone-dg.sock");
	unlink(a.sun_path);
	fds[GONE_DG] = bound(SOCK_DGRAM, &a, l);
	fds[DG_CLI] = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (connect(fds[DG_CLI], (void *)&a, l) < 0)
		zdtm_skip("connect dgram: %m");
	unlink(a.sun_path);

	l = mk(&a, "%s/%s", "twice.sock");
	unlink(a.sun_path);
	fds[OLD_LSN] = bound(SOCK_STREAM, &a, l);
	listen(fds[OLD_LSN], 2);
	unlink(a.sun_path);
	fds[NEW_LSN] = bound(SOCK_STREAM, &a, l);
	listen(fds[NEW_LSN], 2);

	l = mk(&a, "%s/%s", "replaced.sock");
	unlink(a.sun_path);
	fds[REPLACED] = bound(SOCK_DGRAM, &a, l);
	unlink(a.sun_path);
	int f = open(a.sun_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (f < 0 || write(f, "keep me", 7) != 7)
		zdtm_skip("replace: %m");
	close(f);

	snprintf(path, sizeof(path), "%s/gone-dir", dir);
	mkdir(path, 0755);
	l = mk(&a, "%s/%s", "gone-dir/s.sock");
	unlink(a.sun_path);
	fds[NODIR] = bound(SOCK_DGRAM, &a, l);
	unlink(a.sun_path);
	if (rmdir(path) < 0)
		zdtm_skip("rmdir: %m");

	snprintf(path, sizeof(path), "%s/sub", dir);
	mkdir(path, 0755);
	if (chdir(path) < 0)
		zdtm_skip("chdir: %m");
	unlink("rel.sock");
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	strcpy(a.sun_path, "rel.sock");
	fds[REL] = bound(SOCK_STREAM, &a, offsetof(struct sockaddr_un, sun_path) + 9);
	listen(fds[REL], 1);
	if (chdir(dir) < 0)
		zdtm_skip("chdir: %m");

	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	l = offsetof(struct sockaddr_un, sun_path) + 1 + snprintf(a.sun_path + 1, 100, "ferry-names-%d", getpid());
	fds[ABS] = bound(SOCK_DGRAM, &a, l);
	fds[AUTO] = bound(SOCK_DGRAM, &a, sizeof(sa_family_t));	/* autobind: a name the kernel picks */
	for (int i = 0; i < N; i++) {
		slen[i] = sizeof(self[i]);
		getsockname(fds[i], (void *)&self[i], &slen[i]);
	}
}

static int reaches(const char *fmt, const char *x, int type)
{
	struct sockaddr_un a;
	socklen_t l = mk(&a, fmt, x);
	int c = socket(AF_UNIX, type, 0), r = connect(c, (void *)&a, l);
	close(c);
	return r == 0;
}

static void check(void)
{
	char b[16];
	struct stat st;
	for (int i = 0; i < N; i++) {
		struct sockaddr_un a;
		socklen_t l = sizeof(a);
		getsockname(fds[i], (void *)&a, &l);
		zdtm_check(l == slen[i] && !memcmp(&a, &self[i], l), "%s: getsockname differs after restore", names[i]);
	}
	zdtm_check(!reaches("%s/%s", "gone.sock", SOCK_STREAM), "the removed listener's path leads somewhere again");
	zdtm_check(send(fds[GONE_CLI], "hi", 2, 0) == 2 && recv(fds[GONE_ACC], b, sizeof(b), MSG_DONTWAIT) == 2,
		   "the removed listener's connection is broken: %m");
	zdtm_check(send(fds[DG_CLI], "dg", 2, 0) == 2 && recv(fds[GONE_DG], b, sizeof(b), MSG_DONTWAIT) == 2,
		   "the client of the removed dgram server cannot send: %m");
	zdtm_check(reaches("%s/%s", "twice.sock", SOCK_STREAM), "the path of two listeners leads nowhere");
	fcntl(fds[NEW_LSN], F_SETFL, O_NONBLOCK);
	fcntl(fds[OLD_LSN], F_SETFL, O_NONBLOCK);
	int a = accept(fds[NEW_LSN], NULL, NULL), o = accept(fds[OLD_LSN], NULL, NULL);
	zdtm_check(a >= 0 && o < 0, "the path must lead to the second listener (second %d, first %d)", a, o);
	char path[200];
	snprintf(path, sizeof(path), "%s/replaced.sock", dir);
	int f = open(path, O_RDONLY);
	zdtm_check(f >= 0 && read(f, b, sizeof(b)) == 7 && !memcmp(b, "keep me", 7), "the regular file at the path changed");
	snprintf(path, sizeof(path), "%s/gone-dir", dir);
	zdtm_check(stat(path, &st) < 0 && errno == ENOENT, "the removed directory is back");
	snprintf(path, sizeof(path), "%s/sub/rel.sock", dir);
	zdtm_check(stat(path, &st) == 0 && S_ISSOCK(st.st_mode), "the relatively named socket's file is missing");
	zdtm_check(reaches("%s/%s", "sub/rel.sock", SOCK_STREAM), "the relatively named listener is not reached");
}

int main(void)
{
	zdtm_init("unix_names");
	snprintf(dir, sizeof(dir), "%s", zdtm_dir());
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	check();
	zdtm_exit();
}
