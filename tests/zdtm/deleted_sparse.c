// SPDX-License-Identifier: Apache-2.0
// A sparse file deleted while open: 64 KiB of data, a page at 10 MiB, a few bytes at 100 MiB,
// and a size of 200 MiB and a bit, otherwise holes. After restore it is still deleted, and has
// the same size, content, holes (SEEK_DATA/SEEK_HOLE), st_blocks and offset.
#include "zdtm.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MiB (1UL << 20)
#define SZ (200 * MiB + 17)

int main(void)
{
	static char buf[64 << 10];
	char path[4096], map0[512], map1[512];
	uint64_t h0, h1;
	struct stat s0, s1;
	zdtm_init("deleted_sparse");
	int fd = open(zdtm_path(path, sizeof(path), "sparse.dat"), O_RDWR | O_CREAT | O_TRUNC, 0640);
	if (fd < 0)
		zdtm_skip("open %s: %m", path);
	zdtm_fill(buf, sizeof(buf), 1);
	if (pwrite(fd, buf, sizeof(buf), 0) != sizeof(buf) || pwrite(fd, buf, 4096, 10 * MiB) != 4096 ||
	    pwrite(fd, "sparse", 6, 100 * MiB + 5) != 6 || ftruncate(fd, SZ) < 0)
		zdtm_skip("write %s: %m", path);
	zdtm_file_survey(fd, SZ, map0, sizeof(map0), &h0);
	if (!strcmp(map0, "0-209715217 "))
		zdtm_skip("the filesystem of %s keeps no holes", path);
	unlink(path);
	fstat(fd, &s0);
	lseek(fd, 777, SEEK_SET);	/* the survey seeks: the offset is set after it, checked before it */
	zdtm_ready();
	zdtm_wait_sigterm();

	off_t pos = lseek(fd, 0, SEEK_CUR);
	zdtm_file_survey(fd, SZ, map1, sizeof(map1), &h1);
	zdtm_check(fstat(fd, &s1) == 0 && s1.st_size == (off_t)SZ, "size %lld", (long long)s1.st_size);
	zdtm_check(s1.st_nlink == 0, "the file has %lu links: not deleted any more", (unsigned long)s1.st_nlink);
	zdtm_check(!strcmp(map0, map1), "data/hole map %s, was %s", map1, map0);
	zdtm_check(s1.st_blocks == s0.st_blocks, "%lld blocks, were %lld", (long long)s1.st_blocks, (long long)s0.st_blocks);
	zdtm_check(h1 == h0, "content differs");
	zdtm_check(pos == 777, "offset %lld", (long long)pos);
	zdtm_check((s1.st_mode & 07777) == 0640, "mode %o", s1.st_mode & 07777);
	zdtm_exit();
}
