// SPDX-License-Identifier: Apache-2.0
// Mappings of files deleted while mapped: POSIX shm unlinked after mmap (shared with a child), and a
// regular file mapped privately (with copy-on-write changes) and shared, then unlinked. After
// restore: contents, private changes, and sharing between parent and child.
#include "zdtm.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define SZ (64 << 10)

static volatile sig_atomic_t go;
static void on_term(int s) { go = 1; }

int main(void)
{
	char name[64], path[512];
	zdtm_init("deleted_map");
	snprintf(name, sizeof(name), "/ferry-zdtm-delmap-%d", getpid());
	int sfd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	ftruncate(sfd, SZ);
	char *shm = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
	close(sfd);
	shm_unlink(name);
	zdtm_path(path, sizeof(path), "delmap.dat");
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	char block[SZ];
	for (int i = 0; i < SZ; i++)
		block[i] = (char)(i * 7);
	write(fd, block, SZ);
	char *priv = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	char *shared = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	unlink(path);
	memset(shm, 's', SZ);
	priv[100] = 'P';	/* copy-on-write: the file keeps its byte */
	shared[200] = 'S';	/* through to the file, so priv sees it too (page 0 already copied? no: other page) */
	pid_t child = fork();
	if (!child) {
		struct sigaction sa = { .sa_handler = on_term };
		sigaction(SIGTERM, &sa, NULL);
		while (!go)
			pause();
		int ok = shm[SZ - 1] == 'p' && shared[SZ - 1] == 'p';
		shm[SZ - 2] = shared[SZ - 2] = ok ? 'c' : 'x';
		_exit(ok ? 0 : 1);
	}
	zdtm_ready();
	zdtm_wait_sigterm();

	int bad = 0;
	for (int i = 0; i < SZ; i++)
		bad += shm[i] != 's';
	zdtm_check(!bad, "%d bytes of the unlinked POSIX shm differ", bad);
	zdtm_check(priv[100] == 'P', "private copy-on-write byte lost");
	zdtm_check(shared[100] == (char)(100 * 7), "the shared mapping sees the private change");
	zdtm_check(shared[200] == 'S', "shared write lost");
	zdtm_check(priv[5000] == (char)(5000 * 7), "private mapping content differs");
	shm[SZ - 1] = shared[SZ - 1] = 'p';
	kill(child, SIGTERM);
	int st;
	zdtm_check(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		   "child did not see the parent's writes (%#x)", st);
	zdtm_check(shm[SZ - 2] == 'c' && shared[SZ - 2] == 'c', "parent does not see the child's writes");
	zdtm_exit();
}
