// SPDX-License-Identifier: Apache-2.0
// Pipes with one end gone, and a third open file description: a read end whose write end was closed
// (its bytes come back, then EOF), a write end whose read end was closed (EPIPE), and an O_RDWR end
// opened through /proc/self/fd beside the two ends of a pipe (all three stay one pipe).
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define NDATA 1000
static unsigned char data[NDATA], got[NDATA + 16];
static int lone_rd, lone_wr, tri[3], fl[5];

static void setup(void)
{
	int a[2], b[2];
	char p[64];

	zdtm_fill(data, NDATA, 5);
	signal(SIGPIPE, SIG_IGN);
	if (pipe(a) < 0 || pipe(b) < 0 || pipe(tri) < 0)
		zdtm_skip("pipe: %m");
	if (write(a[1], data, NDATA) != NDATA)
		zdtm_skip("write: %m");
	close(a[1]);
	close(b[0]);
	lone_rd = a[0];
	lone_wr = b[1];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", tri[0]);
	tri[2] = open(p, O_RDWR);
	if (tri[2] < 0 || write(tri[2], "abc", 3) != 3)
		zdtm_skip("open %s O_RDWR: %m", p);
	int fds[5] = { lone_rd, lone_wr, tri[0], tri[1], tri[2] };
	for (int i = 0; i < 5; i++)
		fl[i] = fcntl(fds[i], F_GETFL);
}

static void verify(void)
{
	int fds[5] = { lone_rd, lone_wr, tri[0], tri[1], tri[2] }, n = -1;
	struct stat s0, s;

	for (int i = 0; i < 5; i++) {
		int v = fcntl(fds[i], F_GETFL);
		zdtm_check(v == fl[i], "fd %d: F_GETFL %#o, want %#o", fds[i], v, fl[i]);
	}
	zdtm_check(ioctl(lone_rd, FIONREAD, &n) == 0 && n == NDATA, "lone read end holds %d bytes, want %d", n, NDATA);
	int t = 0, r;
	while (t < NDATA && (r = read(lone_rd, got + t, NDATA - t)) > 0)
		t += r;
	zdtm_check(t == NDATA && !memcmp(got, data, NDATA), "lone read end: %d bytes back, content differs?", t);
	zdtm_check(read(lone_rd, got, 1) == 0, "lone read end: no EOF (a write end survived?)");
	zdtm_check(write(lone_wr, "x", 1) < 0 && errno == EPIPE, "lone write end: write did not fail with EPIPE: %m");

	fstat(tri[0], &s0);
	for (int i = 1; i < 3; i++)
		zdtm_check(fstat(tri[i], &s) == 0 && s.st_ino == s0.st_ino, "fd %d is not in the same pipe", tri[i]);
	zdtm_check(ioctl(tri[0], FIONREAD, &n) == 0 && n == 3, "three-end pipe holds %d bytes, want 3", n);
	zdtm_check(read(tri[2], got, 3) == 3 && !memcmp(got, "abc", 3), "O_RDWR end reads other bytes");
	zdtm_check(write(tri[1], "de", 2) == 2 && read(tri[2], got, 16) == 2 && !memcmp(got, "de", 2),
		   "write end and O_RDWR end not connected");
	zdtm_check(write(tri[2], "f", 1) == 1 && read(tri[0], got, 16) == 1 && got[0] == 'f',
		   "O_RDWR end and read end not connected");
}

int main(void)
{
	zdtm_init("pipe_half");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	verify();
	zdtm_exit();
}
