/* SPDX-License-Identifier: Apache-2.0 */
/*
 * O_PATH descriptors of what is not a regular file or a directory (those are reg.c's, flags and
 * all): symlinks held with O_PATH|O_NOFOLLOW, FIFOs, sockets and device nodes. Such a descriptor
 * names an inode and opens nothing, so it is reopened by path with the same flags; a removed one
 * is made again (ghost.c: the symlink with its target, the node with its type and device number).
 */
#include <fcntl.h>
#include <sys/stat.h>
#include "files/path.h"

static int opath_match(const struct fd_info *fi, const struct dump_opts *o)
{
	return (fi->flags & O_PATH) && !S_ISREG(fi->st.st_mode) && !S_ISDIR(fi->st.st_mode) && fi->link[0] == '/';
}

static int opath_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	if (S_ISCHR(fi->st.st_mode) || S_ISBLK(fi->st.st_mode)) {
		fe->has_rdev = 1;
		fe->rdev = fi->st.st_rdev;
	}
	return path_dump(ctx, t, fi, fe);
}

static int opath_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	if (!(fe->flags & O_PATH))
		return fe_msg(err, EBADMSG, "files.img: O_PATH entry %u (%s) is not O_PATH", fe->id, fe->path);
	return path_open(ctx, fe, 0, err);
}

const struct file_ops opath_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_PATH, .name = "O_PATH descriptor",
	.match = opath_match, .dump = opath_dump, .open = opath_open,
};
