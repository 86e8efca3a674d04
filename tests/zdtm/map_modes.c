// SPDX-License-Identifier: Apache-2.0
// Shared file mappings whose rights depend on how the file was opened: a file opened O_RDONLY and
// mapped MAP_SHARED|PROT_READ still refuses mprotect(PROT_WRITE) after restore (EACCES), one opened
// O_RDWR and mapped read-only may still become writable (and the write reaches the file), a private
// read-only mapping of a read-only file may still become writable (copy-on-write, the file keeps its
// content), and the same for a memfd reopened read-only. All fds are closed: only the mappings say
// how the file was opened. VmFlags (mw) are compared too, in a parent and its child.
#include "zdtm.h"
#include "memtest.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096
enum { RO_SHARED, RW_SHARED_RO, RO_PRIVATE, RW_SHARED, MFD_RO_SHARED, MFD_RW_SHARED_RO, NMAP };
static const char *names[NMAP] = { "O_RDONLY, MAP_SHARED", "O_RDWR, MAP_SHARED, PROT_READ", "O_RDONLY, MAP_PRIVATE",
				   "O_RDWR, MAP_SHARED, rw", "memfd reopened O_RDONLY, MAP_SHARED",
				   "memfd O_RDWR, MAP_SHARED, PROT_READ" };
static unsigned char *m[NMAP];
static char path[PATH_MAX];

static unsigned char *map_file(int flags, int prot, int share)
{
	int fd = open(path, flags);
	void *p = fd < 0 ? MAP_FAILED : mmap(NULL, PG, prot, share, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

static unsigned char *map_memfd(int reopen_ro, int prot)
{
	char fdp[64];
	int mfd = memfd_create("zdtm-modes", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, PG) < 0 || pwrite(mfd, "M", 1, 0) != 1)
		return NULL;
	snprintf(fdp, sizeof(fdp), "/proc/self/fd/%d", mfd);
	int fd = reopen_ro ? open(fdp, O_RDONLY) : dup(mfd);
	void *p = fd < 0 ? MAP_FAILED : mmap(NULL, PG, prot, MAP_SHARED, fd, 0);
	close(fd);
	close(mfd);
	return p == MAP_FAILED ? NULL : p;
}

static void setup(void)
{
	int fd = open(zdtm_path(path, sizeof(path), "modes.dat"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, PG) < 0 || pwrite(fd, "F", 1, 0) != 1)
		exit(2);
	close(fd);
	m[RO_SHARED] = map_file(O_RDONLY, PROT_READ, MAP_SHARED);
	m[RW_SHARED_RO] = map_file(O_RDWR, PROT_READ, MAP_SHARED);
	m[RO_PRIVATE] = map_file(O_RDONLY, PROT_READ, MAP_PRIVATE);
	m[RW_SHARED] = map_file(O_RDWR, PROT_READ | PROT_WRITE, MAP_SHARED);
	m[MFD_RO_SHARED] = map_memfd(1, PROT_READ);
	m[MFD_RW_SHARED_RO] = map_memfd(0, PROT_READ);
	for (int i = 0; i < NMAP; i++)
		if (!m[i])
			exit(2);
}

/* What mprotect(PROT_WRITE) does to each mapping; must be what it did before the dump. */
static void verify(const char *who)
{
	static const int want_errno[NMAP] = { [RO_SHARED] = EACCES, [MFD_RO_SHARED] = EACCES };
	for (int i = 0; i < NMAP; i++) {
		int r = mprotect(m[i], PG, PROT_READ | PROT_WRITE), e = errno;
		zdtm_check(want_errno[i] ? (r < 0 && e == want_errno[i]) : r == 0, "%s: %s: mprotect(PROT_WRITE) %s", who,
			   names[i], r == 0 ? "succeeded" : strerror(e));
		zdtm_check(m[i][0] == (i >= MFD_RO_SHARED ? 'M' : 'F'), "%s: %s: content '%c'", who, names[i], m[i][0]);
	}
	m[RW_SHARED_RO][1] = 'w';	/* through the file */
	m[RO_PRIVATE][2] = 'p';		/* copy-on-write, not into the file */
	zdtm_check(m[RW_SHARED][1] == 'w', "%s: a write through a shared mapping is not in the file", who);
	zdtm_check(m[RO_SHARED][2] == 0, "%s: a write to a private mapping reached the file", who);
	m[RW_SHARED_RO][1] = 0;
}

static void child_check(void)
{
	mt_layout_check("child");
	verify("child");
}

int main(void)
{
	zdtm_init("map_modes");
	setup();
	pid_t child = mt_child(mt_layout_save, child_check);
	mt_layout_save();
	zdtm_ready();
	zdtm_wait_sigterm();
	mt_layout_check("parent");
	mt_child_finish(child);
	verify("parent");
	zdtm_exit();
}
