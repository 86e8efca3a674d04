// SPDX-License-Identifier: Apache-2.0
// MAP_HUGETLB memory in a parent and its child: private huge pages (their content, VmFlags "ht" and
// the 2 MiB page size after restore) and shared anonymous huge pages (one object: what the child
// writes after restore the parent sees). The test reserves huge pages if the machine has none free
// (vm.nr_hugepages) and gives them back at the end.
#include "zdtm.h"
#include "memtest.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define HP (2UL << 20)
#define WANT 6
static char *priv, *shared;
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

static void give_back(void)
{
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
	mt_child_finish(child);
	zdtm_check(shared[HP + 1] == 'c', "the parent does not see the child's write to shared huge pages");
	munmap(priv, 2 * HP);
	munmap(shared, 2 * HP);
	give_back();
	zdtm_exit();
}
