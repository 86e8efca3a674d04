// SPDX-License-Identifier: Apache-2.0
// The whole address space: /proc/self/maps after restore equals the one before (ranges, permissions,
// offsets, device and inode of file mappings), except that adjacent anonymous regions with equal
// permissions may have merged. The test builds a varied layout first.
#include "zdtm.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PG 4096UL
#define MAXV 512

static char raw_before[1 << 17], raw_after[1 << 17];
static struct zdtm_vma vb[MAXV], va[MAXV];

static void *xmmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = mmap(addr, len, prot, flags, fd, off);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	return p;
}

static void build_layout(void)
{
	char path[PATH_MAX];
	unsigned char *p;
	int fd;

	/* one anonymous mapping split into five by mprotect */
	p = xmmap(NULL, 10 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(p, 1, 10 * PG);
	mprotect(p + 2 * PG, 2 * PG, PROT_READ);
	mprotect(p + 5 * PG, PG, PROT_NONE);
	mprotect(p + 8 * PG, PG, PROT_READ | PROT_EXEC);
	/* holes */
	p = xmmap(NULL, 7 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	p[0] = p[6 * PG] = 1;
	munmap(p + 2 * PG, PG);
	munmap(p + 4 * PG, 2 * PG);
	/* a big reserved, untouched region and a growsdown one */
	xmmap(NULL, 64 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	p = xmmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0);
	p[3 * PG] = 1;
	/* file mappings: the executable itself at two offsets, a data file shared and private */
	fd = open("/proc/self/exe", O_RDONLY);
	xmmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0);
	xmmap(NULL, PG, PROT_READ, MAP_SHARED, fd, PG);
	close(fd);
	fd = open(zdtm_path(path, sizeof(path), "maps.dat"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, 8 * PG) < 0) {
		perror(path);
		exit(2);
	}
	p = xmmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 2 * PG);
	p[0] = 7;
	p = xmmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 5 * PG);
	p[PG] = 9;
	mprotect(p, PG, PROT_READ);
	close(fd);
	/* a fixed address, right below an anonymous region with equal permissions (they merge) */
	p = xmmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	p[0] = 1;
	p = mmap(p - PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p != MAP_FAILED)
		p[0] = 1;
}

static int is_anon(const struct zdtm_vma *v)
{
	return v->inode == 0 && v->path[0] == 0;
}

/* Parses raw maps text, merging adjacent anonymous ranges with equal permissions. */
static int parse(char *raw, struct zdtm_vma *out)
{
	char *line = raw;
	int n = 0;

	while (*line && n < MAXV) {
		struct zdtm_vma v;
		char *nl = strchr(line, '\n');

		if (zdtm_parse_vma(line, &v) == 0) {
			if (n && is_anon(&v) && is_anon(&out[n - 1]) && out[n - 1].end == v.start &&
			    !strcmp(out[n - 1].perms, v.perms))
				out[n - 1].end = v.end;
			else
				out[n++] = v;
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	return n;
}

static int same(const struct zdtm_vma *a, const struct zdtm_vma *b)
{
	if (a->start != b->start || a->end != b->end || strcmp(a->perms, b->perms) || strcmp(a->path, b->path))
		return 0;
	if (is_anon(a))
		return 1;
	return a->pgoff == b->pgoff && a->inode == b->inode && a->dev_major == b->dev_major &&
	       a->dev_minor == b->dev_minor;
}

static void report(const char *what, const struct zdtm_vma *v)
{
	zdtm_fail("%s: %lx-%lx %s %08lx %02x:%02x %lu %s", what, v->start, v->end, v->perms, v->pgoff, v->dev_major,
		  v->dev_minor, v->inode, v->path);
}

int main(void)
{
	int nb, na, shown = 0;

	zdtm_init("maps");
	build_layout();
	/* nothing may map or unmap memory from here to the comparison (no stdio, no malloc) */
	zdtm_ready();
	if (zdtm_read_file("/proc/self/maps", raw_before, sizeof(raw_before)) < 0)
		exit(2);
	zdtm_wait_sigterm();
	if (zdtm_read_file("/proc/self/maps", raw_after, sizeof(raw_after)) < 0)
		exit(2);

	nb = parse(raw_before, vb);
	na = parse(raw_after, va);
	for (int i = 0; i < nb && shown < 12; i++) {
		int found = 0;

		for (int j = 0; j < na && !found; j++)
			found = same(&vb[i], &va[j]);
		if (!found && ++shown)
			report("missing after restore", &vb[i]);
	}
	for (int j = 0; j < na && shown < 24; j++) {
		int found = 0;

		for (int i = 0; i < nb && !found; i++)
			found = same(&vb[i], &va[j]);
		if (!found && ++shown)
			report("new after restore", &va[j]);
	}
	zdtm_check(nb == na, "%d mappings (after merging anonymous neighbours), want %d", na, nb);
	if (zdtm_failed())
		printf("maps before:\n%s\nmaps after:\n%s\n", raw_before, raw_after);
	zdtm_exit();
}
