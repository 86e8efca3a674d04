// SPDX-License-Identifier: Apache-2.0
// File mappings: MAP_PRIVATE with some pages modified (COW), a read-only private mapping at an offset,
// and MAP_SHARED written through the mapping. Contents survive; the shared one still writes through.
#include "zdtm.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PG 4096UL
#define NPAGES 16

static char priv_path[PATH_MAX], shared_path[PATH_MAX];
static unsigned char *priv, *priv_ro, *shared;
static uint64_t priv_hash, priv_ro_hash, shared_hash, priv_file_hash;
static struct stat priv_st, shared_st;
static unsigned char filebuf[NPAGES * PG];

static void make_file(const char *path, uint64_t seed, struct stat *st)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

	zdtm_fill(filebuf, sizeof(filebuf), seed);
	if (fd < 0 || write(fd, filebuf, sizeof(filebuf)) != (ssize_t)sizeof(filebuf) || fstat(fd, st)) {
		perror(path);
		exit(2);
	}
	close(fd);
}

static unsigned char *map_file(const char *path, int prot, int flags, size_t len, off_t off)
{
	int fd = open(path, (prot & PROT_WRITE) && (flags & MAP_SHARED) ? O_RDWR : O_RDONLY);
	unsigned char *p;

	if (fd < 0) {
		perror(path);
		exit(2);
	}
	p = mmap(NULL, len, prot, flags, fd, off);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	close(fd); /* the mapping alone keeps the file */
	return p;
}

static uint64_t file_hash(const char *path, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = pread(fd, filebuf, len, 0);
	close(fd);
	return n == (ssize_t)len ? zdtm_hash(filebuf, len) : 0;
}

static void setup(void)
{
	zdtm_path(priv_path, sizeof(priv_path), "private.dat");
	zdtm_path(shared_path, sizeof(shared_path), "shared.dat");
	make_file(priv_path, 11, &priv_st);
	make_file(shared_path, 22, &shared_st);
	priv_file_hash = file_hash(priv_path, NPAGES * PG);

	priv = map_file(priv_path, PROT_READ | PROT_WRITE, MAP_PRIVATE, NPAGES * PG, 0);
	memset(priv + 2 * PG, 0xab, PG);                   /* COW page 2 */
	zdtm_fill(priv + 5 * PG + 100, 3000, 33);          /* COW page 5 partly */
	(void)*(volatile unsigned char *)(priv + 9 * PG);  /* page 9 read: shared with the page cache */
	priv_hash = zdtm_hash(priv, NPAGES * PG);

	priv_ro = map_file(priv_path, PROT_READ, MAP_PRIVATE, 4 * PG, 4 * PG);
	priv_ro_hash = zdtm_hash(priv_ro, 4 * PG);

	shared = map_file(shared_path, PROT_READ | PROT_WRITE, MAP_SHARED, NPAGES * PG, 0);
	memset(shared + 3 * PG, 0xcd, PG);
	strcpy((char *)shared + 7 * PG + 10, "written through the shared mapping");
	msync(shared, NPAGES * PG, MS_SYNC);
	shared_hash = zdtm_hash(shared, NPAGES * PG);
}

static void check_vma(const char *what, void *addr, const char *perms, unsigned long pgoff, const struct stat *st)
{
	struct zdtm_vma v;

	if (zdtm_find_vma((unsigned long)addr, &v)) {
		zdtm_fail("%s: no mapping at %p", what, addr);
		return;
	}
	zdtm_check(v.start == (unsigned long)addr, "%s: mapping starts at %lx, want %p", what, v.start, addr);
	zdtm_check(!strcmp(v.perms, perms), "%s: perms %s, want %s", what, v.perms, perms);
	zdtm_check(v.pgoff == pgoff, "%s: offset %lx, want %lx", what, v.pgoff, pgoff);
	zdtm_check(v.inode == st->st_ino, "%s: inode %lu, want %lu", what, v.inode, (unsigned long)st->st_ino);
}

static void verify(void)
{
	check_vma("private", priv, "rw-p", 0, &priv_st);
	check_vma("private-ro", priv_ro, "r--p", 4 * PG, &priv_st);
	check_vma("shared", shared, "rw-s", 0, &shared_st);

	zdtm_check(zdtm_hash(priv, NPAGES * PG) == priv_hash, "private mapping content differs");
	zdtm_check(priv[2 * PG + 17] == 0xab, "private COW page 2 lost its change");
	zdtm_check(zdtm_hash(priv_ro, 4 * PG) == priv_ro_hash, "read-only private mapping content differs");
	zdtm_check(file_hash(priv_path, NPAGES * PG) == priv_file_hash, "private changes leaked into the file");
	zdtm_check(zdtm_hash(shared, NPAGES * PG) == shared_hash, "shared mapping content differs");
	zdtm_check(file_hash(shared_path, NPAGES * PG) == shared_hash, "shared file differs from its mapping");

	/* still private: a write does not reach the file */
	priv[0] ^= 0xff;
	zdtm_check(file_hash(priv_path, NPAGES * PG) == priv_file_hash, "private write after restore reached file");
	/* still shared: a write reaches the file, and a file write reaches the mapping */
	memset(shared + 11 * PG, 0xee, 64);
	{
		int fd = open(shared_path, O_RDWR);
		unsigned char b[64], c = 0x42;

		zdtm_check(fd >= 0 && pread(fd, b, 64, 11 * PG) == 64 && b[0] == 0xee && b[63] == 0xee,
			   "write through the shared mapping after restore does not reach the file");
		zdtm_check(fd >= 0 && pwrite(fd, &c, 1, 12 * PG) == 1 && shared[12 * PG] == 0x42,
			   "file write after restore does not show in the shared mapping");
		if (fd >= 0)
			close(fd);
	}
}

int main(void)
{
	zdtm_init("file_map");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	verify();
	zdtm_exit();
}
