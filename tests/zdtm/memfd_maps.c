// SPDX-License-Identifier: Apache-2.0
// memfds and their mappings, in a parent and a child: one memfd mapped twice and held by an fd (one
// object after restore: a write through one mapping is seen through the other, through the fd and
// in the child); a memfd holding an executable, exec'd after restore with execveat() (no ETXTBSY:
// the restore leaves no writer behind), with a read-only descriptor and the memfd_create() one; a
// memfd sealed F_SEAL_WRITE and mapped read-only (mprotect to write fails, a writable shared mmap
// fails); a memfd with a writable shared mapping (F_SEAL_WRITE fails with EBUSY); and one sealed
// F_SEAL_FUTURE_WRITE after its writable shared mapping was made (it stays writable, write(2) and
// new writable mappings fail).
#include "zdtm.h"
#include "memtest.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

static int twice_fd, exe_fd, exe_ro, sealed_fd, busy_fd, future_fd;
static char *twice1, *twice2, *sealed_map, *busy_map, *future_map;

static int copy_true(int to)
{
	char buf[65536];
	ssize_t n;
	int src = open("/bin/true", O_RDONLY | O_CLOEXEC);
	if (src < 0)
		return -1;
	while ((n = read(src, buf, sizeof(buf))) > 0)
		if (write(to, buf, n) != n)
			return -1;
	close(src);
	return 0;
}

static int run_memfd(int fd)
{
	pid_t c = fork();
	if (c == 0) {
		char *argv[] = { "true", NULL }, *envp[] = { NULL };
		syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
		_exit(100 + errno);
	}
	int st = 0;
	waitpid(c, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

static void setup(void)
{
	char p[64];
	twice_fd = memfd_create("zdtm-twice", MFD_CLOEXEC);
	ftruncate(twice_fd, 2 * PG);
	twice1 = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, twice_fd, 0);
	twice2 = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, twice_fd, PG);
	strcpy(twice1 + PG, "twice");

	exe_fd = memfd_create("zdtm-exe", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (copy_true(exe_fd) < 0)
		exit(2);
	snprintf(p, sizeof(p), "/proc/self/fd/%d", exe_fd);
	exe_ro = open(p, O_RDONLY | O_CLOEXEC);

	sealed_fd = memfd_create("zdtm-sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ftruncate(sealed_fd, PG);
	pwrite(sealed_fd, "sealed", 6, 0);
	fcntl(sealed_fd, F_ADD_SEALS, F_SEAL_WRITE);
	sealed_map = mmap(NULL, PG, PROT_READ, MAP_SHARED, sealed_fd, 0);

	busy_fd = memfd_create("zdtm-busy", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ftruncate(busy_fd, PG);
	busy_map = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, busy_fd, 0);
	busy_map[0] = 'b';

	future_fd = memfd_create("zdtm-future", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ftruncate(future_fd, PG);
	future_map = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, future_fd, 0);
	future_map[0] = 'f';
	if (fcntl(future_fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) < 0)
		zdtm_skip("F_SEAL_FUTURE_WRITE: %m");
	if (twice1 == MAP_FAILED || twice2 == MAP_FAILED || sealed_map == MAP_FAILED || busy_map == MAP_FAILED ||
	    future_map == MAP_FAILED || exe_ro < 0)
		exit(2);
}

static void verify(const char *who, char mark)
{
	char buf[8] = { 0 };
	twice2[1] = mark;
	zdtm_check(twice1[PG + 1] == mark, "%s: a memfd mapped twice is two objects", who);
	zdtm_check(pread(twice_fd, buf, 5, PG) == 5 && buf[1] == mark && buf[0] == 't', "%s: the memfd's fd does not see its mappings", who);
	zdtm_check(run_memfd(exe_ro) == 0, "%s: execveat of the read-only memfd fd: status %d", who, run_memfd(exe_ro));
	zdtm_check(run_memfd(exe_fd) == 0, "%s: execveat of the memfd_create() fd: status %d", who, run_memfd(exe_fd));
	zdtm_check(mprotect(sealed_map, PG, PROT_READ | PROT_WRITE) < 0 && errno == EACCES,
		   "%s: a write-sealed memfd's mapping could be made writable", who);
	zdtm_check(mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, sealed_fd, 0) == MAP_FAILED && errno == EPERM,
		   "%s: a write-sealed memfd could be mapped writable", who);
	zdtm_check(memcmp(sealed_map, "sealed", 6) == 0, "%s: sealed content", who);
	zdtm_check(fcntl(busy_fd, F_ADD_SEALS, F_SEAL_WRITE) < 0 && errno == EBUSY,
		   "%s: F_SEAL_WRITE on a memfd with a writable mapping: %s", who, strerror(errno));
	zdtm_check(busy_map[0] == 'b', "%s: busy content", who);
	future_map[1] = mark;
	zdtm_check(pread(future_fd, buf, 2, 0) == 2 && buf[0] == 'f' && buf[1] == mark,
		   "%s: the mapping made before F_SEAL_FUTURE_WRITE is no longer written through", who);
	zdtm_check(pwrite(future_fd, "x", 1, 0) < 0 && errno == EPERM, "%s: write(2) to a FUTURE_WRITE-sealed memfd", who);
	zdtm_check(mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, future_fd, 0) == MAP_FAILED,
		   "%s: a FUTURE_WRITE-sealed memfd could be mapped writable again", who);
	zdtm_check(fcntl(future_fd, F_GET_SEALS) == F_SEAL_FUTURE_WRITE, "%s: seals %#x", who, fcntl(future_fd, F_GET_SEALS));
}

static void child_check(void)
{
	verify("child", 'c');
}

int main(void)
{
	zdtm_init("memfd_maps");
	setup();
	pid_t child = mt_child(NULL, child_check);
	zdtm_ready();
	zdtm_wait_sigterm();
	mt_child_finish(child);
	zdtm_check(twice1[PG + 1] == 'c' && future_map[1] == 'c', "the parent does not see the child's writes");
	verify("parent", 'p');
	zdtm_exit();
}
