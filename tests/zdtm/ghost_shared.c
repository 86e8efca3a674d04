// SPDX-License-Identifier: Apache-2.0
// One removed file held by two processes in every way at once: the parent and the child share one
// open file description (opened before fork: one offset), each also has a description of its own
// (opened after fork, through another name of the inode), the child maps it shared, the parent maps
// it privately. After restore it is one inode in both processes: a write through any of them is
// seen by all the others (the private mapping keeps its own copied page), the shared description
// still shares its offset, and each descriptor keeps its name, flags and offset.
#include "fdview.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define SIZE 16384
static int shared_fd, own_fd, to_child[2], to_parent[2];
static struct fd_view vshared, vown;
static char name1[PATH_MAX], name2[PATH_MAX];

static void say(int fd, char c) { if (write(fd, &c, 1) != 1) zdtm_fail("pipe write: %m"); }
static char hear(int fd) { char c = 0; if (read(fd, &c, 1) != 1) zdtm_fail("pipe read: %m"); return c; }

static __attribute__((noreturn)) void child(void)
{
	own_fd = open(name2, O_RDWR | O_APPEND);
	char *map = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, own_fd, 0);
	struct fd_view v;
	if (own_fd < 0 || map == MAP_FAILED)
		_exit(2);
	say(to_parent[1], 'r');
	hear(to_child[0]);		/* both names are gone now */
	fd_view(own_fd, &v);
	fd_view(shared_fd, &vshared);
	say(to_parent[1], 'v');
	zdtm_wait_sigterm();
	fd_view_check("child's own", own_fd, &v, VIEW_SIZE);
	fd_view_check("child's shared", shared_fd, &vshared, VIEW_SIZE);
	struct stat a, b;
	zdtm_check(fstat(own_fd, &a) == 0 && fstat(shared_fd, &b) == 0 && a.st_ino == b.st_ino, "child: two inodes");
	map[4096 + 100] = 'c';		/* the parent reads it through its descriptors and private mapping */
	say(to_parent[1], '1');
	hear(to_child[0]);		/* the parent wrote 'p' at 200 */
	zdtm_check(map[200] == 'p', "child: the parent's write is not in the shared mapping");
	lseek(shared_fd, 777, SEEK_SET);	/* one offset with the parent */
	say(to_parent[1], '2');
	zdtm_exit();
}

int main(void)
{
	static char buf[SIZE];
	zdtm_init("ghost_shared");
	zdtm_path(name1, sizeof(name1), "file1");
	zdtm_path(name2, sizeof(name2), "file2");
	zdtm_fill(buf, SIZE, 9);
	if ((shared_fd = open(name1, O_RDWR | O_CREAT, 0644)) < 0 || write(shared_fd, buf, SIZE) != SIZE ||
	    link(name1, name2) < 0 || pipe(to_child) < 0 || pipe(to_parent) < 0)
		zdtm_skip("set up: %m");
	lseek(shared_fd, 10, SEEK_SET);
	fd_view(shared_fd, &vshared);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		child();
	if (pid < 0 || hear(to_parent[0]) != 'r')
		zdtm_skip("child did not start");
	own_fd = open(name1, O_RDONLY);
	char *priv = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, own_fd, 0);
	if (own_fd < 0 || priv == MAP_FAILED || unlink(name1) < 0 || unlink(name2) < 0)
		zdtm_skip("set up: %m");
	priv[0] = 'x';			/* a copied page: stays private */
	lseek(own_fd, 5, SEEK_SET);
	fd_view(own_fd, &vown);
	fd_view(shared_fd, &vshared);
	say(to_child[1], 'u');
	if (hear(to_parent[0]) != 'v')
		zdtm_skip("child did not look");
	zdtm_ready();
	zdtm_wait_sigterm();

	fd_view_check("parent's own", own_fd, &vown, VIEW_SIZE);
	fd_view_check("parent's shared", shared_fd, &vshared, VIEW_SIZE);
	kill(pid, SIGTERM);
	char c = 0;
	zdtm_check(hear(to_parent[0]) == '1', "child: no step 1");
	zdtm_check(pread(own_fd, &c, 1, 4096 + 100) == 1 && c == 'c', "the child's mapping write is not in the parent's file");
	zdtm_check(priv[4096 + 100] == 'c', "the child's write is not in the parent's private mapping (an untouched page)");
	zdtm_check(priv[0] == 'x', "the private copied page lost its content");
	zdtm_check(pwrite(shared_fd, "p", 1, 200) == 1, "parent: write: %m");
	say(to_child[1], 'g');
	zdtm_check(hear(to_parent[0]) == '2', "child: no step 2");
	zdtm_check(lseek(shared_fd, 0, SEEK_CUR) == 777, "the shared description no longer shares its offset");
	int st = 0;
	zdtm_check(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed (%#x)", st);
	zdtm_exit();
}
