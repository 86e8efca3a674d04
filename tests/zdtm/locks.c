// SPDX-License-Identifier: Apache-2.0
// File locks (dumped with --file-locks, which the test asks for in <dir>/dump.opts): an flock
// write lock on one file, POSIX write and read locks on ranges of another (also reachable through a
// dup'ed fd), an OFD write lock on a third. After restore a forked checker sees every lock held by
// its owner (flock LOCK_NB fails, F_GETLK and F_OFD_GETLK report the exact lock), the owner
// releases them, and a second checker finds every file free.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

static char path_a[4096], path_b[4096], path_c[4096];
static int fa, fb, fb_dup, fc;

enum { BAD_FLOCK = 1, BAD_POSIX_W = 2, BAD_POSIX_R = 4, BAD_OFD = 8, BAD_OPEN = 16 };

/* F_GETLK-style probe of a write lock over [start, start+len) through a fresh open of path. */
static struct flock probe(const char *path, int cmd, off_t start, off_t len)
{
	struct flock f = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
	int fd = open(path, O_RDWR);
	if (fd < 0 || fcntl(fd, cmd, &f) < 0)
		f.l_type = -1;
	if (fd >= 0)
		close(fd);
	return f;
}

static int flock_free(const char *path)
{
	int fd = open(path, O_RDWR), r;
	if (fd < 0)
		return -1;
	r = flock(fd, LOCK_EX | LOCK_NB) == 0;
	close(fd);
	return r;
}

/* Exit status: a mask of what did not match expectations (held: locks expected, else free). */
static int check(pid_t owner, int held)
{
	int bad = 0;
	if (flock_free(path_a) != !held)
		bad |= BAD_FLOCK;
	struct flock w = probe(path_b, F_GETLK, 0, 0);
	if (held ? w.l_type != F_WRLCK || w.l_start != 100 || w.l_len != 50 || w.l_pid != owner : w.l_type != F_UNLCK)
		bad |= BAD_POSIX_W;
	struct flock r = probe(path_b, F_GETLK, 1000, 10);
	if (held ? r.l_type != F_RDLCK || r.l_start != 500 || r.l_len != 0 || r.l_pid != owner : r.l_type != F_UNLCK)
		bad |= BAD_POSIX_R;
	struct flock o = probe(path_c, F_OFD_GETLK, 0, 0);
	if (held ? o.l_type != F_WRLCK || o.l_start != 0 || o.l_len != 4096 || o.l_pid != -1 : o.l_type != F_UNLCK)
		bad |= BAD_OFD;
	return bad;
}

static int run_checker(int held)
{
	pid_t owner = getpid(), pid = fork();
	int st;
	if (pid == 0)
		_exit(check(owner, held));
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return BAD_OPEN;
	return WEXITSTATUS(st);
}

static void report(const char *when, int bad)
{
	zdtm_check(!(bad & BAD_FLOCK), "%s: flock write lock on A wrong", when);
	zdtm_check(!(bad & BAD_POSIX_W), "%s: POSIX write lock on B [100,150) wrong", when);
	zdtm_check(!(bad & BAD_POSIX_R), "%s: POSIX read lock on B [500,EOF) wrong", when);
	zdtm_check(!(bad & BAD_OFD), "%s: OFD write lock on C [0,4096) wrong", when);
	zdtm_check(!(bad & BAD_OPEN), "%s: checker process failed", when);
}

static int setlk(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock f = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
	return fcntl(fd, cmd, &f);
}

int main(void)
{
	char opts[4096];
	zdtm_init("locks");
	zdtm_path(path_a, sizeof(path_a), "lock-a");
	zdtm_path(path_b, sizeof(path_b), "lock-b");
	zdtm_path(path_c, sizeof(path_c), "lock-c");
	FILE *f = fopen(zdtm_path(opts, sizeof(opts), "dump.opts"), "w");
	if (!f || fputs("--file-locks\n", f) < 0 || fclose(f))
		zdtm_skip("write dump.opts: %m");
	fa = open(path_a, O_RDWR | O_CREAT, 0600);
	fb = open(path_b, O_RDWR | O_CREAT, 0600);
	fc = open(path_c, O_RDWR | O_CREAT, 0600);
	if (fa < 0 || fb < 0 || fc < 0 || (fb_dup = dup(fb)) < 0)
		zdtm_skip("open: %m");
	if (flock(fa, LOCK_EX) < 0 || setlk(fb, F_SETLK, F_WRLCK, 100, 50) < 0 ||
	    setlk(fb, F_SETLK, F_RDLCK, 500, 0) < 0 || setlk(fc, F_OFD_SETLK, F_WRLCK, 0, 4096) < 0)
		zdtm_skip("take the locks: %m");
	report("before", run_checker(1));
	if (zdtm_failed())
		zdtm_exit();
	zdtm_ready();
	zdtm_wait_sigterm();

	report("after restore", run_checker(1));
	zdtm_check(flock(fa, LOCK_UN) == 0, "release the flock: %m");
	zdtm_check(setlk(fb_dup, F_SETLK, F_UNLCK, 0, 0) == 0, "release the POSIX locks: %m");
	zdtm_check(setlk(fc, F_OFD_SETLK, F_UNLCK, 0, 0) == 0, "release the OFD lock: %m");
	report("after release", run_checker(0));
	zdtm_exit();
}
