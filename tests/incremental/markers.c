// SPDX-License-Identifier: Apache-2.0
// The workload of tests/incremental's markers test: memory whose content changes without a write
// to this process's own page table entries, which write-protect tracking must not miss.
//   markers DIR   writes DIR/ready; on SIGUSR1 (once) drops a copied-on-write page of a private
//   file mapping (MADV_DONTNEED: it reads the file again) and has its child write a page of
//   memory they share (MAP_SHARED|MAP_ANONYMOUS); writes DIR/round-1. On SIGTERM checks both,
//   and a sparse area of which only one page was ever touched; prints PASS or FAIL.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#define SPARSE_PAGES 512

static volatile sig_atomic_t usr1, term;
static void on_usr1(int s) { usr1 = 1; }
static void on_term(int s) { term = 1; }

static void touch(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fclose(fopen(path, "w"));
}

int main(int argc, char **argv)
{
	char path[4096], page[4096];
	if (argc != 2)
		return 2;
	snprintf(path, sizeof(path), "%s/file", argv[1]);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	for (int i = 0; i < 8; i++) {
		memset(page, 0xf0 + i, sizeof(page));
		if (fd < 0 || write(fd, page, sizeof(page)) != sizeof(page))
			return 2;
	}
	unsigned char *file = mmap(NULL, 8 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	unsigned char *shared = mmap(NULL, 8 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned char *sparse = mmap(NULL, SPARSE_PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	close(fd);
	if (file == MAP_FAILED || shared == MAP_FAILED || sparse == MAP_FAILED)
		return 2;
	memset(file + 2 * 4096, 0x22, 4096);	/* copied on write: the process's own page now */
	memset(shared, 0x11, 8 * 4096);
	sparse[7 * 4096] = 0x5a;
	signal(SIGUSR1, on_usr1);
	signal(SIGTERM, on_term);
	pid_t child = fork();
	if (child == 0) {
		while (!term) {
			if (usr1) {
				usr1 = 0;
				memset(shared + 3 * 4096, 0x99, 4096);
			}
			usleep(10000);
		}
		_exit(0);
	}
	touch(argv[1], "ready");
	int done = 0;
	while (!term) {
		if (usr1 && !done) {
			done = 1;
			madvise(file + 2 * 4096, 4096, MADV_DONTNEED);
			kill(child, SIGUSR1);
			while (shared[3 * 4096] != 0x99)
				usleep(1000);
			touch(argv[1], "round-1");
		}
		usleep(10000);
	}
	int bad = 0;
	if (file[2 * 4096] != (done ? 0xf2 : 0x22))
		printf("FAIL: the private file page reads %#x\n", file[2 * 4096]), bad++;
	if (shared[3 * 4096] != (done ? 0x99 : 0x11))
		printf("FAIL: the shared page reads %#x\n", shared[3 * 4096]), bad++;
	for (int i = 0; i < SPARSE_PAGES; i++)
		if (sparse[i * 4096] != (i == 7 ? 0x5a : 0))
			printf("FAIL: sparse page %d reads %#x\n", i, sparse[i * 4096]), bad++, i = SPARSE_PAGES;
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	printf(bad ? "FAIL\n" : "PASS\n");
	fflush(stdout);
	return bad != 0;
}
