// SPDX-License-Identifier: Apache-2.0
// Many open file descriptions of one inode, some shared: 600 opens of one regular file, each at its own
// offset and each dup'ed once (the dup shares the offset), and 600 eventfds (all of one anonymous
// inode), each with its own counter and dup'ed once; a child inherits them all across fork. After
// restore every description has its offset or counter, each dup still shares its description (a seek
// through one moves the other, only that one), and the child's copies are the parent's descriptions.
// The dump finds shared descriptions by kcmp: this many of one inode also keeps that search fast.
#include "zdtm.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define N 600

static int f[N], fd2[N], ev[N], ev2[N];

/* 0 if every description is where it should be (offset i*3, counter i+1), dups included. */
static int check_all(int *bad)
{
	for (int i = 0; i < N; i++) {
		if (lseek(f[i], 0, SEEK_CUR) != i * 3 || lseek(fd2[i], 0, SEEK_CUR) != i * 3) {
			*bad = i;
			return 1;
		}
	}
	return 0;
}

int main(void)
{
	zdtm_init("fds_many");
	struct rlimit r;
	getrlimit(RLIMIT_NOFILE, &r);
	if (r.rlim_max < 4 * N + 64)
		zdtm_skip("the limit of open files (%llu) is too low", (unsigned long long)r.rlim_max);
	r.rlim_cur = r.rlim_max;
	setrlimit(RLIMIT_NOFILE, &r);
	char path[4096];
	zdtm_path(path, sizeof(path), "many");
	int w = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (w < 0 || ftruncate(w, N * 4) < 0)
		return 1;
	for (int i = 0; i < N; i++) {
		f[i] = open(path, O_RDONLY);
		lseek(f[i], i * 3, SEEK_SET);
		fd2[i] = dup(f[i]);
		ev[i] = eventfd(i + 1, EFD_NONBLOCK);
		ev2[i] = dup(ev[i]);
		if (f[i] < 0 || fd2[i] < 0 || ev[i] < 0 || ev2[i] < 0)
			zdtm_skip("open: %m");
	}
	int up[2], down[2];
	if (pipe(up) || pipe(down))
		return 1;
	pid_t c = fork();
	if (c == 0) {
		char cmd;
		if (write(up[1], "r", 1) != 1 || read(down[0], &cmd, 1) != 1)
			_exit(2);
		/* the parent moved description 7 to 5000 and read counter 9: the same descriptions */
		uint64_t v = 0;
		int ok = lseek(fd2[7], 0, SEEK_CUR) == 5000 && lseek(f[8], 0, SEEK_CUR) == 24 &&
			 read(ev2[9], &v, 8) < 0 && read(ev[10], &v, 8) == 8 && v == 11;
		_exit(ok ? 0 : 1);
	}
	char b;
	if (read(up[0], &b, 1) != 1)
		return 1;
	zdtm_ready();
	zdtm_wait_sigterm();

	int bad = -1;
	zdtm_check(check_all(&bad) == 0, "description %d: offsets %lld/%lld, want %d", bad,
		   bad >= 0 ? (long long)lseek(f[bad], 0, SEEK_CUR) : 0LL,
		   bad >= 0 ? (long long)lseek(fd2[bad], 0, SEEK_CUR) : 0LL, bad * 3);
	lseek(f[7], 5000, SEEK_SET);
	zdtm_check(lseek(fd2[7], 0, SEEK_CUR) == 5000, "the dup of description 7 does not share it");
	zdtm_check(lseek(f[6], 0, SEEK_CUR) == 18 && lseek(f[8], 0, SEEK_CUR) == 24, "seeking 7 moved its neighbours");
	int evbad = -1;
	for (int i = 0; i < N && evbad < 0; i++) {
		uint64_t v = 0;
		if (i == 10)
			continue;	/* the child reads it */
		if (read(ev2[i], &v, 8) != 8 || v != (uint64_t)i + 1 || read(ev[i], &v, 8) >= 0)
			evbad = i;
	}
	zdtm_check(evbad < 0, "eventfd %d: wrong counter, or its dup is not the same eventfd", evbad);
	zdtm_check(write(down[1], "c", 1) == 1, "write: %m");
	int st = -1;
	waitpid(c, &st, 0);
	zdtm_check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child's descriptions are not the parent's (%#x)", st);
	zdtm_exit();
}
