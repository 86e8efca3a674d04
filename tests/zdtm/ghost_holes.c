// SPDX-License-Identifier: Apache-2.0
// Sparse files removed while open, on ext4 (the test directory) and on tmpfs (/dev/shm): a hole at the
// head, in the middle, at the tail, a file that is one hole, and one without any. After restore each is
// still removed, with the same data/hole map (SEEK_DATA/SEEK_HOLE), content, size, blocks, name,
// flags and offset.
#include "fdview.h"

#include <errno.h>
#include <stdlib.h>

#define KiB 1024
struct piece { off_t off; size_t len; };
struct sparse {
	const char *name;
	off_t size;
	struct piece data[2];
};

static const struct sparse shapes[] = {
	{ "head-hole", 68 * KiB, { { 64 * KiB, 4 * KiB } } },
	{ "mid-hole", 132 * KiB, { { 0, 4 * KiB }, { 128 * KiB, 4 * KiB } } },
	{ "tail-hole", 1024 * KiB, { { 0, 8 * KiB } } },
	{ "all-hole", 3072 * KiB, { { 0, 0 } } },
	{ "no-hole", 100 * KiB, { { 0, 100 * KiB } } },
};
#define NS (sizeof(shapes) / sizeof(shapes[0]))

struct held {
	char path[PATH_MAX], map[512];
	uint64_t hash;
	int fd;
	struct fd_view v;
};
static struct held held[2 * NS];
static int nheld;

static int make(const char *dir, const struct sparse *s, int seed)
{
	static char buf[100 * KiB];
	struct held *h = &held[nheld];
	snprintf(h->path, sizeof(h->path), "%s/%s", dir, s->name);
	h->fd = open(h->path, O_RDWR | O_CREAT | O_TRUNC, 0640);
	if (h->fd < 0)
		return -1;
	for (int i = 0; i < 2 && s->data[i].len; i++) {
		zdtm_fill(buf, s->data[i].len, seed + i);
		if (pwrite(h->fd, buf, s->data[i].len, s->data[i].off) != (ssize_t)s->data[i].len)
			return -1;
	}
	if (ftruncate(h->fd, s->size) < 0)
		return -1;
	zdtm_file_survey(h->fd, s->size, h->map, sizeof(h->map), &h->hash);
	if (unlink(h->path) < 0)
		return -1;
	lseek(h->fd, 4097 + seed, SEEK_SET);
	fd_view(h->fd, &h->v);
	nheld++;
	return 0;
}

int main(void)
{
	char shm[PATH_MAX];
	const char *dirs[2] = { zdtm_dir(), NULL };
	zdtm_init("ghost_holes");
	dirs[0] = zdtm_dir();
	dirs[1] = tmpfs_dir(shm, sizeof(shm), "holes");
	for (int d = 0; d < 2; d++)
		for (size_t i = 0; dirs[d] && i < NS; i++)
			if (make(dirs[d], &shapes[i], (int)(d * 10 + i)) < 0)
				zdtm_skip("make %s in %s: %m", shapes[i].name, dirs[d]);
	zdtm_ready();
	zdtm_wait_sigterm();

	for (int i = 0; i < nheld; i++) {
		struct held *h = &held[i];
		char map[512];
		uint64_t hash;
		fd_view_check(h->path, h->fd, &h->v, VIEW_SIZE);
		zdtm_check(h->v.st.st_nlink == 0, "%s: not removed", h->path);
		zdtm_file_survey(h->fd, (uint64_t)h->v.st.st_size, map, sizeof(map), &hash);
		zdtm_check(!strcmp(map, h->map), "%s: data/hole map '%s', was '%s'", h->path, map, h->map);
		zdtm_check(hash == h->hash, "%s: content differs", h->path);
	}
	if (dirs[1])
		rmdir(dirs[1]);
	zdtm_exit();
}
