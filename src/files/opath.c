/* SPDX-License-Identifier: Apache-2.0 */
/*
 * O_PATH descriptors of what is not a regular file or a directory (those are reg.c's, flags and
 * all): symlinks held with O_PATH|O_NOFOLLOW, FIFOs, sockets and device nodes. Such a descriptor
 * names an inode and opens nothing, so it is reopened by path with the same flags; a removed one
 * is made again (ghost.c: the symlink with its target, the node with its type and device number).
 * The file of a unix socket the tree keeps bound is the one that socket is bound to again: opened
 * once the socket is made.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "common/cleanup.h"
#include "files/path.h"

static int opath_match(const struct fd_info *fi, const struct dump_opts *o)
{
	return (fi->flags & O_PATH) && !S_ISREG(fi->st.st_mode) && !S_ISDIR(fi->st.st_mode) && fi->link[0] == '/';
}

/* Whether a unix socket is bound to socket file fd: a datagram connect to it finds one (or one of another type). */
static int socket_bound(int fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", fd);
	_cleanup_close_ int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	return s >= 0 && (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EPROTOTYPE);
}

static int opath_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	if (S_ISCHR(fi->st.st_mode) || S_ISBLK(fi->st.st_mode)) {
		fe->has_rdev = 1;
		fe->rdev = fi->st.st_rdev;
	}
	int r = path_dump(ctx, t, fi, fe);
	if (r == 0 && fe->deleted && S_ISSOCK(fi->st.st_mode) && socket_bound(fi->stolen))
		return fe_msg(ctx->err, EOPNOTSUPP, "%s: an O_PATH descriptor of a removed socket file that a unix socket "
			      "is still bound to: not supported (made again, it would lead to no socket)", fe->path);
	return r;
}

/* The path a unix socket of the image is bound to now (where its file is), or NULL. */
static const char *bound_path(const Ferry__UnixSkEntry *u, char *buf, size_t size)
{
	size_t len = u && u->has_name ? strnlen((const char *)u->name.data, u->name.len) : 0;
	if (!len || u->hidden || u->file_gone)	/* unnamed, abstract, or bound where no path leads */
		return NULL;
	if (u->file_now)
		return u->file_now;
	if (u->name.data[0] == '/')
		snprintf(buf, size, "%.*s", (int)len, (const char *)u->name.data);
	else if (u->bind_cwd)
		snprintf(buf, size, "%s/%.*s", u->bind_cwd, (int)len, (const char *)u->name.data);
	else
		return NULL;
	return buf;
}

/*
 * The socket file of a unix socket of the image: that socket is made first (its file with it).
 * Returns 1 if so: the file is then a new inode, the one it is bound to.
 */
static int socket_made(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	char buf[PATH_MAX + 128];
	for (size_t i = 0; i < ctx->files->n_files; i++) {
		const Ferry__FileEntry *e = ctx->files->files[i];
		const char *p = e->kind == FERRY__FILE_KIND__FILE_UNIX_SK ? bound_path(e->unix_sk, buf, sizeof(buf)) : NULL;
		if (!p || strcmp(p, fe->path))
			continue;
		int r = files_open_id(ctx, e->id);
		return r < 0 ? fe_wrap(err, r, "the socket bound to %s", fe->path) : 1;
	}
	return 0;
}

static int opath_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	if (!(fe->flags & O_PATH))
		return fe_msg(err, EBADMSG, "files.img: O_PATH entry %u (%s) is not O_PATH", fe->id, fe->path);
	int r = fe->path && !fe->deleted && S_ISSOCK(fe->mode) ? socket_made(ctx, fe, err) : 0;
	if (r <= 0)
		return r < 0 ? r : path_open(ctx, fe, 0, err);
	Ferry__FileEntry rebound = *fe;	/* bound again by this restore: the same name, another inode */
	rebound.has_ino = 0;
	return path_open(ctx, &rebound, 0, err);
}

const struct file_ops opath_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_PATH, .name = "O_PATH descriptor",
	.match = opath_match, .dump = opath_dump, .open = opath_open,
};
