// SPDX-License-Identifier: Apache-2.0
// Pipes held by one process with both ends: bytes in flight (not yet read) survive exactly, the ends
// stay connected (one pipe inode), per-end flags and close-on-exec are kept, an empty pipe stays empty
// and a dup'ed end still shares its open file description.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define NDATA 40000
static unsigned char data[NDATA], got[NDATA + 16];
static int full[2], empty[2], dup_rd;
static int fl[4], fd_fl[4];

static void check_pair(const char *what, int rd, int wr)
{
	struct stat a, b;

	zdtm_check(fstat(rd, &a) == 0 && fstat(wr, &b) == 0, "%s: fstat: %m", what);
	zdtm_check(S_ISFIFO(a.st_mode) && a.st_ino == b.st_ino, "%s: ends are not one pipe (%lu, %lu)", what,
		   (unsigned long)a.st_ino, (unsigned long)b.st_ino);
}

static void check_flags(int i, int fd, const char *what)
{
	int v = fcntl(fd, F_GETFL), d = fcntl(fd, F_GETFD);

	zdtm_check(v == fl[i], "%s: F_GETFL %#o, want %#o", what, v, fl[i]);
	zdtm_check(d == fd_fl[i], "%s: F_GETFD %#x, want %#x", what, d, fd_fl[i]);
}

static void setup(void)
{
	zdtm_fill(data, NDATA, 42);
	if (pipe(full) < 0 || pipe2(empty, O_CLOEXEC) < 0)
		zdtm_skip("pipe: %m");
	if (write(full[1], data, 1000) != 1000 || write(full[1], data + 1000, NDATA - 1000) != NDATA - 1000)
		zdtm_skip("write: %m");
	fcntl(empty[0], F_SETFL, O_NONBLOCK);
	dup_rd = dup(full[0]);
	int fds[4] = { full[0], full[1], empty[0], empty[1] };
	for (int i = 0; i < 4; i++) {
		fl[i] = fcntl(fds[i], F_GETFL);
		fd_fl[i] = fcntl(fds[i], F_GETFD);
	}
}

static void verify(void)
{
	int n = -1;

	check_pair("full pipe", full[0], full[1]);
	check_pair("empty pipe", empty[0], empty[1]);
	check_flags(0, full[0], "full read end");
	check_flags(1, full[1], "full write end");
	check_flags(2, empty[0], "empty read end");
	check_flags(3, empty[1], "empty write end");
	zdtm_check(ioctl(full[0], FIONREAD, &n) == 0 && n == NDATA, "full pipe holds %d bytes, want %d", n, NDATA);
	zdtm_check(ioctl(empty[0], FIONREAD, &n) == 0 && n == 0, "empty pipe holds %d bytes", n);
	zdtm_check(read(empty[0], got, 1) < 0 && errno == EAGAIN, "read of the empty O_NONBLOCK pipe: %m");

	/* the dup'ed read end shares the description: both read one stream */
	zdtm_check(read(dup_rd, got, 100) == 100 && !memcmp(got, data, 100), "first 100 bytes differ");
	ssize_t r = 0, t = 100;
	while (t < NDATA && (r = read(full[0], got + t, NDATA - t)) > 0)
		t += r;
	zdtm_check(t == NDATA && !memcmp(got, data, NDATA), "read %zd bytes back, content %s", t,
		   memcmp(got, data, t < NDATA ? t : NDATA) ? "differs" : "matches");

	/* still connected: what is written now comes out at the other end */
	zdtm_check(write(full[1], "after", 5) == 5, "write after restore: %m");
	zdtm_check(read(full[0], got, 16) == 5 && !memcmp(got, "after", 5), "pipe no longer connected");
	zdtm_check(write(empty[1], "x", 1) == 1 && read(empty[0], got, 1) == 1 && got[0] == 'x',
		   "empty pipe no longer connected");
}

int main(void)
{
	zdtm_init("pipe_data");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	verify();
	zdtm_exit();
}
