// SPDX-License-Identifier: Apache-2.0
// MAP_HUGETLB memory in a parent and its child: private huge pages (their content, VmFlags "ht" and
// the 2 MiB page size after restore) and shared anonymous huge pages (one object: what the child
// writes after restore the parent sees). The test reserves huge pages if the machine has none free
// (vm.nr_hugepages) and gives them back at the end. A file on a hugetlbfs mount of the test's own,
// mapped shared and private (the private copy written), keeps both contents.
#include "zdtm.h"
#include "memtest.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define HP (2UL << 20)
#define WANT 16
static char *priv, *shared, *fshared, *fpriv;
static char mnt[4096];
static long added;

static long read_long(const char *path)
{
	char buf[32];
	return zdtm_read_line(path, buf, sizeof(buf)) > 0 ? atol(buf) : -1;
}

static void write_long(const char *path, long v)
{
	char buf[32];
	int fd = open(path, O_WRONLY);
	int n = snprintf(buf, sizeof(buf), "%ld", v);
	if (fd >= 0 && write(fd, buf, n) != n)
		perror(path);
	close(fd);
}

/* Enough free huge pages for the test and its restored copy (the original is gone by then). */
static void reserve(void)
{
	char v[32];
	long free_pages = zdtm_status_field("/proc/meminfo", "HugePages_Free", v, sizeof(v)) == 0 ? atol(v) : 0;
	if (free_pages >= WANT)
		return;
	long total = read_long("/proc/sys/vm/nr_hugepages");
	if (total < 0)
		zdtm_skip("no /proc/sys/vm/nr_hugepages");
	write_long("/proc/sys/vm/nr_hugepages", total + WANT - free_pages);
	added = read_long("/proc/sys/vm/nr_hugepages") - total;
	if (added < WANT - free_pages)
		zdtm_skip("cannot reserve %ld huge pages (vm.nr_hugepages)", WANT - free_pages);
}

/* A file of two huge pages on a hugetlbfs of the test's own, mapped shared and private. */
static void map_file(void)
{
	char path[4200];
	zdtm_path(mnt, sizeof(mnt), "huge");
	mkdir(mnt, 0755);
	if (mount("none", mnt, "hugetlbfs", 0, NULL) < 0)
		return;
	snprintf(path, sizeof(path), "%s/file", mnt);
	int fd = open(path, O_RDWR | O_CREAT, 0600);
	if (fd < 0 || ftruncate(fd, 2 * HP) < 0)
		return;
	fshared = mmap(NULL, 2 * HP, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	fpriv = mmap(NULL, 2 * HP, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	if (fshared == MAP_FAILED || fpriv == MAP_FAILED) {
		fshared = fpriv = NULL;
		return;
	}
	strcpy(fshared + HP, "in the file");
	strcpy(fpriv + HP + 100, "private copy");
}

static void give_back(void)
{
	if (fshared) {
		munmap(fshared, 2 * HP);
		munmap(fpriv, 2 * HP);
	}
	if (mnt[0])
		umount2(mnt, MNT_DETACH);
	if (added > 0)
		write_long("/proc/sys/vm/nr_hugepages", read_long("/proc/sys/vm/nr_hugepages") - added);
}

static void child_setup(void)
{
	priv[5] = 'c';	/* its own copy of the first private huge page */
	mt_layout_save();
}

static void child_check(void)
{
	mt_layout_check("child");
	zdtm_check(priv[5] == 'c', "child: its private huge page");
	zdtm_check(shared[0] == 's', "child: shared huge page content");
	shared[HP + 1] = 'c';
}

int main(void)
{
	zdtm_init("hugetlb");
	reserve();
	priv = mmap(NULL, 2 * HP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	shared = mmap(NULL, 2 * HP, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (priv == MAP_FAILED || shared == MAP_FAILED) {
		give_back();
		zdtm_skip("MAP_HUGETLB: %m");
	}
	map_file();
	zdtm_fill(priv, 2 * HP, 1);
	shared[0] = 's';	/* the second huge page stays unallocated */
	uint64_t h = zdtm_hash(priv, 2 * HP);
	pid_t child = mt_child(child_setup, child_check);
	mt_layout_save();
	zdtm_ready();
	zdtm_wait_sigterm();
	mt_layout_check("parent");
	zdtm_check(smaps_has(&mt_after, priv, "ht") && smaps_has(&mt_after, shared, "ht"), "no huge pages after restore");
	zdtm_check(zdtm_hash(priv, 2 * HP) == h, "private huge pages differ");
	zdtm_check(!fshared || (strcmp(fshared + HP, "in the file") == 0 && strcmp(fpriv + HP, "in the file") == 0 &&
				strcmp(fpriv + HP + 100, "private copy") == 0 && fshared[HP + 100] == 0),
		   "a hugetlbfs file's shared or private mapping differs");
	mt_child_finish(child);
	zdtm_check(shared[HP + 1] == 'c', "the parent does not see the child's write to shared huge pages");
	munmap(priv, 2 * HP);
	munmap(shared, 2 * HP);
	give_back();
	zdtm_exit();
}
