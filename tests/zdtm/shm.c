// SPDX-License-Identifier: Apache-2.0
// Shared memory between a parent and its child: MAP_SHARED|MAP_ANONYMOUS, a memfd that is only
// mapped (its fd closed), a sealed memfd held by an fd with an offset, and POSIX shm in /dev/shm.
// After restore each region has its content and is still shared: what one writes, the other sees.
#include "zdtm.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define SZ (1 << 20)

static char *anon, *mfd_map, *posix_map;
static int sealed_fd;
static volatile sig_atomic_t go;
static void on_term(int s) { go = 1; }

static int region_ok(const char *p, char base)
{
	for (size_t i = 0; i < SZ; i += 4096)
		if (p[i] != (char)(base + i / 4096 % 50))
			return 0;
	return 1;
}

static void fill(char *p, char base)
{
	for (size_t i = 0; i < SZ; i += 4096)
		p[i] = (char)(base + i / 4096 % 50);
}

int main(void)
{
	char shm_name[64];
	zdtm_init("shm");
	snprintf(shm_name, sizeof(shm_name), "/ferry-zdtm-shm-%d", getpid());
	anon = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int mfd = memfd_create("zdtm-mapped", MFD_CLOEXEC);
	ftruncate(mfd, SZ);
	mfd_map = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	close(mfd);
	sealed_fd = memfd_create("zdtm-sealed", MFD_ALLOW_SEALING);
	write(sealed_fd, "sealed content!", 15);
	fcntl(sealed_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
	lseek(sealed_fd, 7, SEEK_SET);
	int pfd = shm_open(shm_name, O_RDWR | O_CREAT | O_EXCL, 0600);
	ftruncate(pfd, SZ);
	posix_map = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, pfd, 0);
	close(pfd);
	fill(anon, 1);
	fill(mfd_map, 60);
	fill(posix_map, 120);

	pid_t child = fork();
	if (!child) {
		struct sigaction sa = { .sa_handler = on_term };
		sigaction(SIGTERM, &sa, NULL);
		while (!go)
			pause();
		/* After restore: the parent wrote markers; answer through the same regions. */
		int ok = anon[SZ - 1] == 'P' && mfd_map[SZ - 1] == 'P' && posix_map[SZ - 1] == 'P';
		anon[SZ - 2] = mfd_map[SZ - 2] = posix_map[SZ - 2] = ok ? 'C' : 'X';
		_exit(ok ? 0 : 1);
	}
	zdtm_ready();
	zdtm_wait_sigterm();

	zdtm_check(region_ok(anon, 1), "shared anonymous content differs");
	zdtm_check(region_ok(mfd_map, 60), "mapped memfd content differs");
	zdtm_check(region_ok(posix_map, 120), "POSIX shm content differs");
	char buf[32] = { 0 }, link[256] = { 0 }, path[64];
	zdtm_check(lseek(sealed_fd, 0, SEEK_CUR) == 7, "sealed memfd offset %ld, want 7", (long)lseek(sealed_fd, 0, SEEK_CUR));
	zdtm_check(pread(sealed_fd, buf, 15, 0) == 15 && !memcmp(buf, "sealed content!", 15), "sealed memfd content '%s'", buf);
	int seals = fcntl(sealed_fd, F_GET_SEALS);
	zdtm_check(seals == (F_SEAL_SHRINK | F_SEAL_GROW), "seals %#x, want %#x", seals, F_SEAL_SHRINK | F_SEAL_GROW);
	zdtm_check(ftruncate(sealed_fd, 100) < 0, "ftruncate of a sealed memfd succeeded");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", sealed_fd);
	readlink(path, link, sizeof(link) - 1);
	zdtm_check(strncmp(link, "/memfd:zdtm-sealed", 18) == 0, "memfd name '%s'", link);
	anon[SZ - 1] = mfd_map[SZ - 1] = posix_map[SZ - 1] = 'P';
	kill(child, SIGTERM);
	int st;
	zdtm_check(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		   "child did not see the parent's writes (status %#x)", st);
	zdtm_check(anon[SZ - 2] == 'C', "parent does not see the child's write to shared anonymous memory");
	zdtm_check(mfd_map[SZ - 2] == 'C', "parent does not see the child's write to the memfd");
	zdtm_check(posix_map[SZ - 2] == 'C', "parent does not see the child's write to POSIX shm");
	shm_unlink(shm_name);
	zdtm_exit();
}
