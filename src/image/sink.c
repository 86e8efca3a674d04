/* SPDX-License-Identifier: Apache-2.0 */
/* The local image sink: a temporary file in the image directory, renamed into place on commit. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/util.h"
#include "image/sink.h"

struct img_out {
	int fd;
	int dirfd;
	char name[256];
	char tmp[300];
};

static int local_begin(struct img_sink *s, const char *name, uint64_t size, struct img_out **out, struct ferry_err *err)
{
	struct img_out *o = calloc(1, sizeof(*o));
	if (!o)
		return fe_set(err, ENOMEM, "image %s", name);
	o->dirfd = s->dirfd;
	snprintf(o->name, sizeof(o->name), "%s", name);
	snprintf(o->tmp, sizeof(o->tmp), ".%s.tmp", name);
	o->fd = openat(s->dirfd, o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (o->fd < 0) {
		int e = errno;
		free(o);
		return fe_set(err, e, "create image %s", name);
	}
	*out = o;
	return 0;
}

static int local_write(struct img_out *o, const void *buf, size_t len, struct ferry_err *err)
{
	int r = write_full(o->fd, buf, len);
	if (!r && fault_point("image-write"))
		r = -ENOSPC;
	return r < 0 ? fe_set(err, r, "write image %s", o->name) : 0;
}

static void local_abort(struct img_out *o)
{
	close(o->fd);
	unlinkat(o->dirfd, o->tmp, 0);
	free(o);
}

static int local_commit(struct img_out *o, struct ferry_err *err)
{
	if (renameat(o->dirfd, o->tmp, o->dirfd, o->name) < 0) {
		int e = errno;
		local_abort(o);
		return fe_set(err, e, "rename image %s", o->name);
	}
	close(o->fd);
	free(o);
	return 0;
}

static int local_close(struct img_sink *s, int ok, struct ferry_err *err)
{
	return 0;
}

static void local_remove(struct img_sink *s, const char *name)
{
	unlinkat(s->dirfd, name, 0);
}

static const struct img_sink_ops local_ops = {
	.begin = local_begin, .write = local_write, .commit = local_commit, .abort = local_abort,
	.close = local_close, .remove = local_remove,
};

void img_sink_local(struct img_sink *s, int dirfd)
{
	memset(s, 0, sizeof(*s));
	s->ops = &local_ops;
	s->dirfd = dirfd;
}

int img_sink_write_file(struct img_sink *s, const char *name, const void *a, size_t alen, const void *b,
			size_t blen, struct ferry_err *err)
{
	struct img_out *o;
	int r = s->ops->begin(s, name, alen + blen, &o, err);
	if (r < 0)
		return r;
	r = s->ops->write(o, a, alen, err);
	if (!r && blen)
		r = s->ops->write(o, b, blen, err);
	if (r < 0) {
		s->ops->abort(o);
		return r;
	}
	return s->ops->commit(o, err);
}
