// SPDX-License-Identifier: Apache-2.0
// What a file removed while open carries besides its bytes, on ext4 and on tmpfs: its owner, its mode
// (setuid/setgid/sticky bits included), its access and modification times to the nanosecond, its
// xattrs (user.* and trusted.*), and the flags and offset of each descriptor: O_APPEND, O_NOATIME,
// O_SYNC, O_DSYNC, O_DIRECT, O_NONBLOCK, read-only, write-only. The status change time cannot be set
// by anyone and is not checked. After restore every descriptor shows the same name, flags, offset
// and mount, and still works in its mode.
#include "fdview.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/xattr.h>

struct ghost {
	const char *name;
	int flags;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	off_t pos;
	int fd;
	char path[PATH_MAX];
	struct fd_view v;
	char xattr[64];
	int has_xattr;
};

static struct ghost ghosts[] = {
	{ "append", O_WRONLY | O_APPEND, 0640, 1234, 5678, 100 },
	{ "noatime", O_RDONLY | O_NOATIME, 0444, 0, 0, 4000 },
	{ "sync", O_RDWR | O_SYNC, 04755, 42, 42, 17 },
	{ "dsync", O_WRONLY | O_DSYNC, 02710, 0, 99, 0 },
	{ "direct", O_RDWR | O_DIRECT, 0600, 7, 8, 4096 },
	{ "nonblock", O_RDONLY | O_NONBLOCK, 01777, 65534, 65534, 5 },
};
#define NG (sizeof(ghosts) / sizeof(ghosts[0]))
#define SIZE 8192

static struct ghost all[2 * NG];
static int nall;

static int setup(const char *dir, const struct ghost *proto, int seed)
{
	static char buf[SIZE];
	struct ghost *g = &all[nall];
	*g = *proto;
	snprintf(g->path, sizeof(g->path), "%s/%s", dir, g->name);
	int w = open(g->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	zdtm_fill(buf, SIZE, seed);
	if (w < 0 || write(w, buf, SIZE) != SIZE)
		return -1;
	snprintf(g->xattr, sizeof(g->xattr), "value %d of %s", seed, g->name);
	g->has_xattr = fsetxattr(w, "user.ferry", g->xattr, strlen(g->xattr), 0) == 0;
	if (g->has_xattr && fsetxattr(w, "trusted.ferry", "t", 1, 0) < 0)
		return -1;
	close(w);
	g->fd = open(g->path, g->flags);
	if (g->fd < 0 && errno == EINVAL && (g->flags & O_DIRECT))
		return 1;	/* this filesystem has no O_DIRECT */
	struct timespec ts[2] = { { 1000000000 + seed, 123456789 }, { 1500000000 + seed, 987654321 } };
	if (g->fd < 0 || fchown(g->fd, g->uid, g->gid) < 0 || fchmod(g->fd, g->mode) < 0 ||
	    lseek(g->fd, g->pos, SEEK_SET) < 0 || futimens(g->fd, ts) < 0 || unlink(g->path) < 0)
		return -1;
	fd_view(g->fd, &g->v);
	nall++;
	return 0;
}

static void verify(struct ghost *g)
{
	static char buf[SIZE] __attribute__((aligned(4096))), want[SIZE];
	char val[64];
	fd_view_check(g->path, g->fd, &g->v, VIEW_TIMES | VIEW_SIZE);
	if (g->has_xattr) {
		ssize_t n = fgetxattr(g->fd, "user.ferry", val, sizeof(val));
		zdtm_check(n == (ssize_t)strlen(g->xattr) && !memcmp(val, g->xattr, n), "%s: xattr user.ferry lost", g->path);
		zdtm_check(fgetxattr(g->fd, "trusted.ferry", val, sizeof(val)) == 1 && val[0] == 't',
			   "%s: xattr trusted.ferry lost", g->path);
	}
	int acc = g->flags & O_ACCMODE;
	if (acc != O_WRONLY) {
		zdtm_fill(want, SIZE, (int)(g - all));
		zdtm_check(pread(g->fd, buf, SIZE, 0) == SIZE && !memcmp(buf, want, SIZE), "%s: content differs", g->path);
	} else {
		zdtm_check(read(g->fd, buf, 1) < 0 && errno == EBADF, "%s: a write-only descriptor reads", g->path);
	}
	if (acc != O_RDONLY) {
		zdtm_check(pwrite(g->fd, buf, 4096, 0) == 4096, "%s: write after restore: %m", g->path);
		if (g->flags & O_APPEND)
			zdtm_check(lseek(g->fd, 0, SEEK_END) == SIZE + 4096, "%s: O_APPEND wrote elsewhere", g->path);
	} else {
		zdtm_check(write(g->fd, buf, 1) < 0 && errno == EBADF, "%s: a read-only descriptor writes", g->path);
	}
}

int main(void)
{
	char shm[PATH_MAX];
	zdtm_init("ghost_attrs");
	const char *dirs[2] = { zdtm_dir(), tmpfs_dir(shm, sizeof(shm), "attrs") };
	for (int d = 0; d < 2; d++)
		for (size_t i = 0; dirs[d] && i < NG; i++)
			if (setup(dirs[d], &ghosts[i], nall) < 0)
				zdtm_skip("set up %s in %s: %m", ghosts[i].name, dirs[d]);
	zdtm_ready();
	zdtm_wait_sigterm();
	for (int i = 0; i < nall; i++)
		verify(&all[i]);
	if (dirs[1])
		rmdir(dirs[1]);
	zdtm_exit();
}
