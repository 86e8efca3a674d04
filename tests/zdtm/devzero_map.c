// SPDX-License-Identifier: Apache-2.0
// Mappings of /dev/zero: MAP_SHARED (the kernel makes it a shared memory object, shown as
// "/dev/zero (deleted)") inherited by a child, with the descriptor closed, and MAP_PRIVATE (plain
// anonymous memory named /dev/zero). After restore both keep their names and contents in /proc maps,
// the shared one is still one object in parent and child (same inode; each sees the other's writes),
// and the private one is still private (the child's write stays its own).
#include "zdtm.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define SZ (3 * 4096)

static char *sh, *pr;

/* The inode and name of the mapping at addr in /proc/PID/maps ("self" for ours). */
static int vma_of(pid_t pid, void *addr, unsigned long *ino, char *name, size_t len)
{
	char path[64], buf[1 << 16];
	snprintf(path, sizeof(path), pid ? "/proc/%d/maps" : "/proc/self/maps", pid);
	if (zdtm_read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
		struct zdtm_vma v;
		if (zdtm_parse_vma(l, &v) == 0 && v.start == (unsigned long)addr) {
			*ino = v.inode;
			snprintf(name, len, "%s", v.path);
			return 0;
		}
	}
	return -1;
}

int main(void)
{
	zdtm_init("devzero_map");
	int fd = open("/dev/zero", O_RDWR);
	sh = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	pr = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	if (sh == MAP_FAILED || pr == MAP_FAILED)
		zdtm_skip("mmap /dev/zero: %m");
	strcpy(sh + 4096, "shared");
	strcpy(pr + 4096, "private");
	int up[2], down[2];
	if (pipe(up) || pipe(down))
		return 1;
	pid_t c = fork();
	if (c == 0) {
		char cmd;
		pr[8000] = 'c';	/* the child's own copy */
		if (write(up[1], "r", 1) != 1 || read(down[0], &cmd, 1) != 1)
			_exit(2);
		int ok = !strcmp(sh + 4096, "shared") && sh[5] == 'P' && pr[8000] == 'c' && !strcmp(pr + 4096, "private");
		sh[6] = 'C';
		_exit(ok ? 0 : 1);
	}
	char b;
	if (read(up[0], &b, 1) != 1)
		return 1;
	unsigned long ino0, cino0;
	char name[256], cname[256];
	zdtm_check(vma_of(0, sh, &ino0, name, sizeof(name)) == 0 && vma_of(c, sh, &cino0, cname, sizeof(cname)) == 0 &&
		   ino0 == cino0, "the shared mapping is not one object before the dump");
	zdtm_ready();
	zdtm_wait_sigterm();

	unsigned long ino, cino, pino;
	char n2[256], cn2[256], pn[256];
	zdtm_check(vma_of(0, sh, &ino, n2, sizeof(n2)) == 0 && !strcmp(n2, name), "shared mapping: '%s', was '%s'", n2, name);
	zdtm_check(vma_of(c, sh, &cino, cn2, sizeof(cn2)) == 0 && ino == cino,
		   "the child's shared mapping is inode %lu, the parent's %lu", cino, ino);
	zdtm_check(vma_of(0, pr, &pino, pn, sizeof(pn)) == 0 && !strcmp(pn, "/dev/zero"), "private mapping: '%s'", pn);
	zdtm_check(!strcmp(pr + 4096, "private") && pr[8000] == 0, "the private mapping changed");
	sh[5] = 'P';
	zdtm_check(write(down[1], "c", 1) == 1, "write: %m");
	int st = -1;
	waitpid(c, &st, 0);
	zdtm_check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child's checks: status %#x", st);
	zdtm_check(sh[6] == 'C', "the child's write did not reach the parent");
	zdtm_exit();
}
