// SPDX-License-Identifier: Apache-2.0
// Device nodes the task made with mknod, opened and removed: a null (1:3) read-write, a zero (1:5)
// read-only at an offset, a urandom (1:9) non-blocking, each with its own mode and owner, and an
// O_PATH descriptor of another removed node. After restore each shows "NAME (deleted)" with the same
// device number, mode, owner, flags and offset, and still is that device (zero reads zeros, null takes
// writes, urandom gives bytes).
#include "fdview.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/sysmacros.h>

struct node { const char *name; unsigned maj, min; int flags; mode_t mode; uid_t uid; int fd; struct fd_view v; };
static struct node nodes[] = {
	{ "null", 1, 3, O_RDWR, 0666, 0 },
	{ "zero", 1, 5, O_RDONLY, 0440, 1000 },
	{ "urandom", 1, 9, O_RDONLY | O_NONBLOCK, 0604, 4 },
	{ "path", 1, 7, O_PATH, 0600, 2 },
};
#define NN (sizeof(nodes) / sizeof(nodes[0]))

int main(void)
{
	char path[PATH_MAX], buf[64];
	zdtm_init("dev_removed");
	for (size_t i = 0; i < NN; i++) {
		struct node *n = &nodes[i];
		zdtm_path(path, sizeof(path), n->name);
		if (mknod(path, S_IFCHR | 0600, makedev(n->maj, n->min)) < 0)
			zdtm_skip("mknod %s: %m", path);
		if ((n->fd = open(path, n->flags)) < 0 || chown(path, n->uid, n->uid) < 0 || chmod(path, n->mode) < 0 ||
		    unlink(path) < 0)
			zdtm_skip("set up %s: %m", path);
		if (!(n->flags & O_PATH))
			lseek(n->fd, 10 * i, SEEK_SET);
		fd_view(n->fd, &n->v);
	}
	zdtm_ready();
	zdtm_wait_sigterm();
	for (size_t i = 0; i < NN; i++)
		fd_view_check(nodes[i].name, nodes[i].fd, &nodes[i].v, 0);
	zdtm_check(write(nodes[0].fd, "x", 1) == 1, "null: write: %m");
	memset(buf, 1, sizeof(buf));
	zdtm_check(read(nodes[1].fd, buf, sizeof(buf)) == sizeof(buf) && !buf[0] && !buf[63], "zero: no zeros");
	zdtm_check(read(nodes[2].fd, buf, 16) == 16, "urandom: read: %m");
	zdtm_check(major(nodes[3].v.st.st_rdev) == 1 && minor(nodes[3].v.st.st_rdev) == 7, "path: not 1:7");
	zdtm_exit();
}
