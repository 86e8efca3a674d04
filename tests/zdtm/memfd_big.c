// SPDX-License-Identifier: Apache-2.0
// A 300 MiB memfd held by a descriptor, with a 20 MiB hole and a partial last page: more than
// any one buffer of the image reader holds. After restore: the same size, content, holes
// (SEEK_DATA/SEEK_HOLE and st_blocks), offset and seals.
#include "zdtm.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MiB (1UL << 20)
#define SZ (300 * MiB + 1000)
#define HOLE_AT (100 * MiB)
#define HOLE_LEN (20 * MiB)

int main(void)
{
	static char buf[MiB];
	zdtm_init("memfd_big");
	int fd = memfd_create("big", MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, SZ) < 0)
		zdtm_skip("memfd_create/ftruncate: %m");
	for (off_t off = 0; off < (off_t)SZ; off += MiB) {
		if ((size_t)off >= HOLE_AT && (size_t)off < HOLE_AT + HOLE_LEN)
			continue;
		size_t n = SZ - (size_t)off < MiB ? SZ - (size_t)off : MiB;
		zdtm_fill(buf, n, (uint64_t)off);
		if (pwrite(fd, buf, n, off) != (ssize_t)n)
			zdtm_skip("fill the memfd: %m");
	}
	fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK);
	char map0[512], map1[512];
	uint64_t h0, h1;
	struct stat s0, s1;
	zdtm_file_survey(fd, SZ, map0, sizeof(map0), &h0);
	fstat(fd, &s0);
	lseek(fd, 12345, SEEK_SET);	/* the survey seeks: the offset is set after it, checked before it */
	zdtm_ready();
	zdtm_wait_sigterm();

	off_t pos = lseek(fd, 0, SEEK_CUR);
	zdtm_file_survey(fd, SZ, map1, sizeof(map1), &h1);
	zdtm_check(fstat(fd, &s1) == 0 && s1.st_size == (off_t)SZ, "size %lld, was %lu", (long long)s1.st_size, SZ);
	zdtm_check(!strcmp(map0, map1), "data/hole map %s, was %s", map1, map0);
	zdtm_check(s1.st_blocks == s0.st_blocks, "%lld blocks, were %lld", (long long)s1.st_blocks, (long long)s0.st_blocks);
	zdtm_check(h1 == h0, "content differs");
	zdtm_check(pos == 12345, "offset %lld", (long long)pos);
	zdtm_check(fcntl(fd, F_GET_SEALS) == F_SEAL_SHRINK, "seals %#x", fcntl(fd, F_GET_SEALS));
	zdtm_exit();
}
