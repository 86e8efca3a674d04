// SPDX-License-Identifier: Apache-2.0
// O_PATH descriptors of the socket files of unix listeners the process itself holds, one at a
// lower descriptor number than its socket, one at a higher. After restore (where each socket is
// bound again, a new inode under the same name) each O_PATH descriptor is the inode its listener is
// bound to: connecting through /proc/self/fd/N reaches the listener, and it is the inode its path
// names. (One of a removed socket file still bound is refused: tests/paths.)
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct lsn {
	const char *name;
	int low;
	int sk, opath;
	char path[PATH_MAX];
};
static struct lsn lsns[] = { { "low", 1 }, { "high", 0 } };	/* low: the O_PATH descriptor takes a number below the socket's */

static int via(const struct lsn *l)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", l->opath);
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	int r = c >= 0 && connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
	if (r == 0) {
		int a = accept(l->sk, NULL, NULL);
		r = a >= 0 ? 0 : -errno;
		if (a >= 0)
			close(a);
	}
	if (c >= 0)
		close(c);
	return r;
}

int main(void)
{
	zdtm_init("opath_sock");
	int below = open("/dev/null", O_RDONLY);	/* a number below the sockets', for "low" */
	for (size_t i = 0; i < sizeof(lsns) / sizeof(lsns[0]); i++) {
		struct lsn *l = &lsns[i];
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		zdtm_path(l->path, sizeof(l->path), l->name);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", l->path);
		l->sk = socket(AF_UNIX, SOCK_STREAM, 0);
		if (l->sk < 0 || bind(l->sk, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l->sk, 4) < 0 ||
		    (l->opath = open(l->path, O_PATH)) < 0)
			zdtm_skip("%s: set up: %m", l->name);
		if (l->low && (below < 0 || dup2(l->opath, below) < 0 || close(l->opath) < 0))
			zdtm_skip("%s: move the O_PATH descriptor: %m", l->name);
		if (l->low)
			l->opath = below;
		int r = via(l);
		if (r < 0)
			zdtm_skip("%s: connect through the O_PATH descriptor: %s", l->name, strerror(-r));
	}
	zdtm_ready();
	zdtm_wait_sigterm();

	for (size_t i = 0; i < sizeof(lsns) / sizeof(lsns[0]); i++) {
		struct lsn *l = &lsns[i];
		char proc[64], link[PATH_MAX + 16], want[PATH_MAX + 16];
		struct stat o, p;
		int r = via(l);
		zdtm_check(r == 0, "%s: connect through the O_PATH descriptor: %s", l->name, strerror(-r));
		zdtm_check(fstat(l->opath, &o) == 0 && S_ISSOCK(o.st_mode), "%s: the O_PATH descriptor is not a socket file",
			   l->name);
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", l->opath);
		snprintf(want, sizeof(want), "%s", l->path);
		zdtm_check(zdtm_readlink(proc, link, sizeof(link)) > 0 && !strcmp(link, want), "%s: fd reads %s, want %s",
			   l->name, link, want);
		zdtm_check(stat(l->path, &p) == 0 && p.st_ino == o.st_ino && p.st_dev == o.st_dev,
			   "%s: the O_PATH descriptor is not the inode its path names", l->name);
	}
	zdtm_exit();
}
