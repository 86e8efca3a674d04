/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Finding the inodes inotify watches and fanotify marks name. fdinfo gives each one's inode
 * number, device and file handle: open_by_handle_at() on a mount of that filesystem opens it and
 * /proc/self/fd gives a path. When that path does not lead back to the inode (a hard link whose
 * name was removed, a dentry the kernel cannot reconnect), or with --force-irmap, directories are
 * scanned for it ("irmap": the --irmap-scan-path directories, then a few usual places). An inode
 * with no name left (deleted) is reported as such: a watch or mark on it can be restored when the
 * tree keeps that inode (a descriptor, a mapping, a working or root directory): it is made again
 * as one inode for all of them (ghost.c), and the watch goes on it through /proc/self/fd.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#define LOG_PREFIX "fhandle: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "files/files.h"

#define HANDLE_MAX 128
#define IRMAP_MAX_NODES 200000	/* entries looked at per scan, at most */

/* Where irmap looks after the directories it is given (as CRIU does). */
static const char *const irmap_defaults[] = {
	"/etc", "/var/spool", "/var/log", "/usr/share/dbus-1/system-services", "/var/lib/polkit-1",
	"/usr/lib/polkit-1",
};

/* Fields 1 (mount id), 3 (maj:min) and 5 (mount point) of a mountinfo line. */
static int parse_mountinfo(const char *line, int *id, dev_t *dev, char *mnt)
{
	unsigned maj, min;
	if (sscanf(line, "%d %*d %u:%u %*s %4095s", id, &maj, &min, mnt) != 4)
		return -EINVAL;
	*dev = makedev(maj, min);
	return 0;
}

/* The first mount in ferry's mountinfo with this id (id >= 0) or of this device. */
static int mount_path(int mnt_id, dev_t dev, char **path)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[8192], mnt[4096];
	int id;
	dev_t d;
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (parse_mountinfo(line, &id, &d, mnt) == 0 && (mnt_id >= 0 ? id == mnt_id : d == dev)) {
			*path = strdup(mnt);
			return *path ? 0 : -ENOMEM;
		}
	return -ENOENT;
}

int mount_path_by_id(int mnt_id, char **path)
{
	return mount_path(mnt_id, 0, path);
}

int mount_path_by_dev(dev_t dev, char **path)
{
	return mount_path(-1, dev, path);
}

static int unhex(const char *s, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EIO;
		out[i] = v;
	}
	return 0;
}

/* An O_PATH descriptor of the inode named by handle ("fhandle-bytes:… f_handle:…"), or -errno. */
static int open_handle(const char *handle, dev_t dev)
{
	unsigned bytes, type;
	int off = 0;
	if (sscanf(handle, "fhandle-bytes:%x fhandle-type:%x f_handle:%n", &bytes, &type, &off) != 2 || !off ||
	    bytes > HANDLE_MAX)
		return -EIO;
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + HANDLE_MAX];
	} h;
	h.fh.handle_bytes = bytes;
	h.fh.handle_type = (int)type;
	if (unhex(handle + off, h.fh.f_handle, bytes) < 0)
		return -EIO;
	_cleanup_free_ char *mnt = NULL;
	int r = mount_path_by_dev(dev, &mnt);
	if (r < 0)
		return r;
	_cleanup_close_ int mfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);	/* not O_PATH: refused */
	if (mfd < 0)
		return -errno;
	int fd = open_by_handle_at(mfd, &h.fh, O_PATH | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* irmap: a scan of the directory trees for dev:ino. */
static dev_t scan_dev;
static uint64_t scan_ino;
static char *scan_found;
static long scan_nodes;

static int scan_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (++scan_nodes > IRMAP_MAX_NODES)
		return 2;
	if (flag != FTW_NS && st->st_ino == scan_ino && st->st_dev == scan_dev) {
		scan_found = strdup(path);
		return 1;
	}
	return 0;
}

static char *irmap_scan(const struct dump_opts *o, dev_t dev, uint64_t ino)
{
	scan_dev = dev;
	scan_ino = ino;
	scan_found = NULL;
	for (size_t i = 0; i < o->n_irmap_scan_paths + ARRAY_SIZE(irmap_defaults) && !scan_found; i++) {
		const char *dir = i < o->n_irmap_scan_paths ? o->irmap_scan_paths[i] : irmap_defaults[i - o->n_irmap_scan_paths];
		scan_nodes = 0;
		nftw(dir, scan_one, 16, FTW_PHYS | FTW_MOUNT);
	}
	return scan_found;
}

static int lands_on(const char *path, dev_t dev, uint64_t ino)
{
	struct stat st;
	return path[0] == '/' && stat(path, &st) == 0 && st.st_ino == ino && st.st_dev == dev;
}

/* By handle: the inode's path if it leads back to it, else an irmap scan; 1 when deleted. */
static int handle_path(struct dump_ctx *ctx, const struct fhandle_ref *ref, char **found)
{
	_cleanup_free_ char *link = NULL;
	_cleanup_close_ int fd = open_handle(ref->handle, ref->dev);
	if (fd < 0)
		return fe_set(ctx->err, -fd, "open inode %" PRIu64 " (device %u:%u) by its file handle", ref->ino,
			      major(ref->dev), minor(ref->dev));
	char proc[64];
	struct stat st;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (read_link(proc, &link) < 0 || fstat(fd, &st) < 0)
		return fe_set(ctx->err, errno, "the path of inode %" PRIu64, ref->ino);
	if (st.st_nlink == 0)
		return 1;	/* deleted: no name to find */
	if (lands_on(link, ref->dev, ref->ino))
		*found = TAKE_PTR(link);
	else if (!(*found = irmap_scan(ctx->opts, ref->dev, ref->ino)))
		return fe_msg(ctx->err, EOPNOTSUPP, "inode %" PRIu64 " (%s) has a name no scanned directory holds "
			      "(--irmap-scan-path)", ref->ino, link);
	return 0;
}

int fhandle_path(struct dump_ctx *ctx, const struct fhandle_ref *ref, char **path)
{
	_cleanup_free_ char *found = NULL;
	if (!ctx->opts->force_irmap || !(found = irmap_scan(ctx->opts, ref->dev, ref->ino))) {
		int r = handle_path(ctx, ref, &found);
		if (r != 0)
			return r;
	}
	pr_debug("inode %" PRIu64 " is %s\n", ref->ino, found);
	*path = arena_strdup(&ctx->arena, found);
	return *path ? 0 : fe_set(ctx->err, ENOMEM, "path");
}

struct inode_ref {
	uint64_t ino;
	dev_t dev;
};

static int is_inode(pid_t pid, int fd, const char *path, const struct stat *st, void *arg)
{
	const struct inode_ref *ref = arg;
	return st->st_ino == ref->ino && st->st_dev == ref->dev;
}

static int holds(const char *path, const struct inode_ref *ref)
{
	struct stat st;
	return stat(path, &st) == 0 && is_inode(0, -1, path, &st, (void *)ref);
}

/* A mapping of the task (map_files), or the working or root directory of one of its threads. */
static int task_keeps(const struct dtask *t, const struct inode_ref *ref)
{
	char path[320];
	for (size_t i = 0; i < t->nthreads; i++) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/cwd", t->pid, t->threads[i].tid);
		if (holds(path, ref))
			return 1;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/root", t->pid, t->threads[i].tid);
		if (holds(path, ref))
			return 1;
	}
	snprintf(path, sizeof(path), "/proc/%d/map_files", t->pid);
	_cleanup_closedir_ DIR *d = opendir(path);
	for (struct dirent *de; d && (de = readdir(d));) {
		snprintf(path, sizeof(path), "/proc/%d/map_files/%s", t->pid, de->d_name);
		if (de->d_name[0] != '.' && holds(path, ref))
			return 1;
	}
	return 0;
}

/*
 * Every holder of a removed inode in the tree is restored as one inode (files/ghost.c): a
 * descriptor of any kind, a mapping, a working or root directory of a process or a thread.
 */
int fhandle_tree_keeps(struct dump_ctx *ctx, uint64_t ino, dev_t dev)
{
	struct inode_ref ref = { ino, dev };
	if (files_tree_walk(ctx, is_inode, &ref))
		return 1;
	for (size_t k = 0; k < ctx->ntasks; k++)
		if (!ctx->tasks[k].zombie && task_keeps(&ctx->tasks[k], &ref))
			return 1;
	return 0;
}

/* Whether fe is the restored removed inode ino of device dev (an older entry has no dev: by ino). */
static int is_removed(const Ferry__FileEntry *fe, uint64_t ino, dev_t dev)
{
	if (fe->kind == FERRY__FILE_KIND__FILE_MEMFD)
		return fe->memfd && fe->memfd->ino == ino;
	if (!fe->deleted || !fe->has_ino || fe->ino != ino)
		return 0;
	return fe->reg ? fe->reg->dev == (uint64_t)dev : fe->kind == FERRY__FILE_KIND__FILE_REG;
}

const char *fhandle_deleted_path(struct restore_ctx *ctx, uint64_t ino, dev_t dev, char *buf, size_t len)
{
	for (size_t i = 0; i < ctx->files->n_files; i++) {
		const Ferry__FileEntry *fe = ctx->files->files[i];
		int fd = is_removed(fe, ino, dev) ? files_open_id(ctx, fe->id) : -1;	/* a watch in flight may come first */
		if (fd >= 0) {
			snprintf(buf, len, "/proc/self/fd/%d", fd);
			return buf;
		}
	}
	return NULL;
}
