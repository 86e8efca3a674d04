// SPDX-License-Identifier: Apache-2.0
// A file written through a MAP_SHARED mapping (and through write()), then left alone: after restore its
// content is the written one, and its mtime and ctime are what they were at the dump — restoring the
// mapping must not write to the file. A second file only mapped (never written) keeps its times too.
#include "zdtm.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIZE (16 * 4096)

static int same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

int main(void)
{
	zdtm_init("mtime_map");
	char p1[4096], p2[4096];
	zdtm_path(p1, sizeof(p1), "written");
	zdtm_path(p2, sizeof(p2), "read");
	int fd = open(p1, O_RDWR | O_CREAT | O_TRUNC, 0644);
	int fd2 = open(p2, O_RDWR | O_CREAT | O_TRUNC, 0644);
	static char buf[SIZE];
	memset(buf, 1, sizeof(buf));
	if (fd < 0 || fd2 < 0 || write(fd, buf, SIZE) != SIZE || write(fd2, buf, SIZE) != SIZE)
		return 1;
	char *m = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *m2 = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
	if (m == MAP_FAILED || m2 == MAP_FAILED)
		return 1;
	usleep(20000);
	for (int i = 0; i < SIZE; i++)
		m[i]++;
	msync(m, SIZE, MS_SYNC);
	volatile char sum = 0;
	for (int i = 0; i < SIZE; i += 4096)
		sum += m2[i];
	struct stat before, before2, after, after2;
	fstat(fd, &before);
	fstat(fd2, &before2);
	zdtm_ready();
	zdtm_wait_sigterm();

	fstat(fd, &after);
	fstat(fd2, &after2);
	zdtm_check(same_time(&before.st_mtim, &after.st_mtim), "written: mtime %ld.%09ld, was %ld.%09ld",
		   after.st_mtim.tv_sec, after.st_mtim.tv_nsec, before.st_mtim.tv_sec, before.st_mtim.tv_nsec);
	zdtm_check(same_time(&before.st_ctim, &after.st_ctim), "written: ctime changed");
	zdtm_check(same_time(&before2.st_mtim, &after2.st_mtim), "read: mtime changed");
	zdtm_check(same_time(&before2.st_ctim, &after2.st_ctim), "read: ctime changed");
	int ok = 1;
	for (int i = 0; i < SIZE; i++)
		ok &= m[i] == 2 && m2[i] == 1;
	zdtm_check(ok, "mapped content differs");
	char c;
	zdtm_check(pread(fd, &c, 1, SIZE - 1) == 1 && c == 2, "file content differs");
	m[0] = 9;
	zdtm_check(pread(fd, &c, 1, 0) == 1 && c == 9, "the mapping no longer writes through");
	zdtm_exit();
}
