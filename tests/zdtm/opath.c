// SPDX-License-Identifier: Apache-2.0
// O_PATH descriptors of every kind of inode, kept and removed: a regular file, a directory, a symlink
// (O_PATH|O_NOFOLLOW: the link itself), a FIFO, a unix socket file, a device node (/dev/null), and the
// same removed: a file only an O_PATH descriptor holds (its content still readable by reopening
// /proc/self/fd/N), a removed directory, symlink, FIFO and socket file. After restore each has the
// same name, fdinfo flags (O_PATH, O_NOFOLLOW, O_CLOEXEC per fd), type, mode, owner and links; a kept
// one is the very inode its path names, a symlink still reads its target with readlinkat(fd, "").
#include "fdview.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/un.h>

enum kind { K_REG, K_DIR, K_LNK, K_FIFO, K_SOCK, K_DEV };
struct op {
	const char *name;
	enum kind kind;
	int removed;
	int flags;
	int fd;
	char path[PATH_MAX];
	struct fd_view v;
};
static struct op ops[] = {
	{ "reg", K_REG, 0, O_PATH }, { "dir", K_DIR, 0, O_PATH | O_CLOEXEC }, { "lnk", K_LNK, 0, O_PATH | O_NOFOLLOW },
	{ "fifo", K_FIFO, 0, O_PATH }, { "sock", K_SOCK, 0, O_PATH }, { "null", K_DEV, 0, O_PATH },
	{ "reg-gone", K_REG, 1, O_PATH }, { "dir-gone", K_DIR, 1, O_PATH }, { "lnk-gone", K_LNK, 1, O_PATH | O_NOFOLLOW },
	{ "fifo-gone", K_FIFO, 1, O_PATH | O_CLOEXEC }, { "sock-gone", K_SOCK, 1, O_PATH },
};
#define NO (sizeof(ops) / sizeof(ops[0]))
#define TARGET "some/where/else"

static int make(struct op *o)
{
	int r = 0, s;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	switch (o->kind) {
	case K_REG:
		r = open(o->path, O_WRONLY | O_CREAT | O_EXCL, 0604);
		if (r >= 0 && write(r, "o_path content", 14) != 14)
			r = -1;
		if (r >= 0)
			r = close(r);
		break;
	case K_DIR: r = mkdir(o->path, 0751); break;
	case K_LNK: r = symlink(TARGET, o->path); break;
	case K_FIFO: r = mkfifo(o->path, 0620); break;
	case K_SOCK:
		if (strlen(o->path) >= sizeof(sa.sun_path))
			return -1;
		strcpy(sa.sun_path, o->path);
		s = socket(AF_UNIX, SOCK_STREAM, 0);
		r = s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -1 : close(s);
		break;
	case K_DEV: snprintf(o->path, sizeof(o->path), "/dev/null"); break;
	}
	return r;
}

static int setup(void)
{
	for (size_t i = 0; i < NO; i++) {
		struct op *o = &ops[i];
		zdtm_path(o->path, sizeof(o->path), o->name);
		if (make(o) < 0 || (o->fd = open(o->path, o->flags)) < 0)
			return -1;
		if (o->removed && (o->kind == K_DIR ? rmdir(o->path) : unlink(o->path)) < 0)
			return -1;
		fd_view(o->fd, &o->v);
	}
	return 0;
}

static void verify(struct op *o)
{
	struct stat st;
	char buf[64];
	fd_view_check(o->name, o->fd, &o->v, o->removed ? 0 : VIEW_INODE);
	if (!o->removed)
		zdtm_check(lstat(o->path, &st) == 0 && st.st_ino == o->v.st.st_ino, "%s: not the inode its path names", o->name);
	else
		zdtm_check(o->v.st.st_nlink == 0 && lstat(o->path, &st) < 0, "%s: not removed", o->name);
	if (o->kind == K_LNK) {
		ssize_t n = readlinkat(o->fd, "", buf, sizeof(buf));
		zdtm_check(n == (ssize_t)strlen(TARGET) && !memcmp(buf, TARGET, n), "%s: the symlink reads '%.*s'", o->name,
			   (int)(n > 0 ? n : 0), buf);
	}
	if (o->kind == K_REG) {
		char p[64];
		snprintf(p, sizeof(p), "/proc/self/fd/%d", o->fd);
		int r = open(p, O_RDONLY);
		zdtm_check(r >= 0 && read(r, buf, sizeof(buf)) == 14 && !memcmp(buf, "o_path content", 14),
			   "%s: reopened through /proc, the content differs", o->name);
		close(r);
	}
	if (o->kind == K_DIR && !o->removed)
		zdtm_check(mkdirat(o->fd, "sub", 0700) == 0 && unlinkat(o->fd, "sub", AT_REMOVEDIR) == 0,
			   "%s: not usable as a directory descriptor: %m", o->name);
	if (o->kind == K_DEV)
		zdtm_check(major(o->v.st.st_rdev) == 1 && minor(o->v.st.st_rdev) == 3, "%s: not /dev/null", o->name);
}

int main(void)
{
	zdtm_init("opath");
	if (setup() < 0)
		zdtm_skip("set up: %m");
	zdtm_ready();
	zdtm_wait_sigterm();
	for (size_t i = 0; i < NO; i++)
		verify(&ops[i]);
	zdtm_exit();
}
