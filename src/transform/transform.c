/* SPDX-License-Identifier: Apache-2.0 */
/* Options, the encoded-directory probe, cleanup of a decoded copy, and writing a file back encoded. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/cleanup.h"
#include "common/util.h"
#include "transform/codec.h"
#include "transform/transform.h"

int transform_parse_compress(const char *name, enum compress_alg *alg)
{
	if (!strcmp(name, "none"))
		*alg = COMPRESS_NONE;
	else if (!strcmp(name, "zstd"))
		*alg = COMPRESS_ZSTD;
	else if (!strcmp(name, "lz4"))
		*alg = COMPRESS_LZ4;
	else
		return -EINVAL;
	return 0;
}

static int file_encoded(int dirfd, const char *name)
{
	size_t l = strlen(name);
	if (name[0] == '.' || l < 5 || strcmp(name + l - 4, ".img"))
		return 0;
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct img_hdr h;
	if (fd < 0 || pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return 0;
	return h.magic == FERRY_IMG_MAGIC && h.flags != 0;
}

int transform_dir_encoded(const char *dir, struct ferry_err *err)
{
	DIR *d = opendir(dir);
	if (!d)
		return fe_set(err, errno, "open image directory %s", dir);
	int found = 0;
	struct dirent *de;
	while (!found && (de = readdir(d)))
		found = file_encoded(dirfd(d), de->d_name);
	closedir(d);
	return found;
}

void transform_cleanup(char *plain)
{
	if (!plain)
		return;
	DIR *d = opendir(plain);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	rmdir(plain);
	free(plain);
}

static int write_through(struct img_sink *s, const char *name, const void *buf, size_t len, struct ferry_err *err)
{
	struct img_out *o;
	int r = s->ops->begin(s, name, len, &o, err);
	if (r < 0)
		return r;
	if ((r = s->ops->write(o, buf, len, err)) < 0) {
		s->ops->abort(o);
		return r;
	}
	return s->ops->commit(o, err);
}

int transform_export_file(const char *plain, const char *dir, const char *name, const char *key_file,
			  struct ferry_err *err)
{
	char path[4096];
	_cleanup_free_ char *buf = NULL;
	size_t len;
	snprintf(path, sizeof(path), "%s/%s", plain, name);
	int r = read_file(path, &buf, &len);
	if (r < 0)
		return r == -ENOENT ? r : fe_set(err, -r, "read %s", path);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fe_set(err, errno, "open image directory %s", dir);
	struct img_sink local, *s = &local;
	img_sink_local(&local, dfd);
	struct transform_opts o = { .compress = COMPRESS_NONE, .key_file = key_file };
	if (key_file && (r = transform_sink_wrap(&local, &o, &s, err)) < 0)
		return r;
	r = write_through(s, name, buf, len, err);
	if (s != &local)
		s->ops->close(s, r == 0, err);
	return r;
}
