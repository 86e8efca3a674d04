// SPDX-License-Identifier: Apache-2.0
// A FIFO (named pipe) open at both ends, a read end O_NONBLOCK and an O_RDWR third description, with
// 5000 bytes in flight: after restore the fds name the same FIFO, keep their flags, the bytes come out
// in order, and a new opener of the path joins the same pipe.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define NDATA 5000
static unsigned char data[NDATA], got[NDATA + 16];
static char path[PATH_MAX];
static int rd, wr, rw, fl[3];
static struct stat st0;

static void setup(void)
{
	zdtm_fill(data, NDATA, 3);
	zdtm_path(path, sizeof(path), "fifo");
	unlink(path);
	if (mkfifo(path, 0600) < 0)
		zdtm_skip("mkfifo: %m");
	rd = open(path, O_RDONLY | O_NONBLOCK);
	wr = open(path, O_WRONLY);
	rw = open(path, O_RDWR | O_CLOEXEC);
	if (rd < 0 || wr < 0 || rw < 0)
		zdtm_skip("open fifo: %m");
	if (write(wr, data, NDATA) != NDATA)
		zdtm_skip("write: %m");
	fl[0] = fcntl(rd, F_GETFL);
	fl[1] = fcntl(wr, F_GETFL);
	fl[2] = fcntl(rw, F_GETFL);
	stat(path, &st0);
}

static void verify(void)
{
	int fds[3] = { rd, wr, rw }, n = -1;
	char p[64], link[PATH_MAX];
	struct stat st;

	for (int i = 0; i < 3; i++) {
		int v = fcntl(fds[i], F_GETFL);
		zdtm_check(v == fl[i], "fd %d: F_GETFL %#o, want %#o", fds[i], v, fl[i]);
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fds[i]);
		zdtm_readlink(p, link, sizeof(link));
		zdtm_check(!strcmp(link, path), "fd %d names %s, want %s", fds[i], link, path);
		zdtm_check(fstat(fds[i], &st) == 0 && st.st_ino == st0.st_ino && st.st_dev == st0.st_dev,
			   "fd %d is not the FIFO's inode", fds[i]);
	}
	zdtm_check(fcntl(rw, F_GETFD) == FD_CLOEXEC, "O_RDWR end lost close-on-exec");
	zdtm_check(ioctl(rd, FIONREAD, &n) == 0 && n == NDATA, "FIFO holds %d bytes, want %d", n, NDATA);
	ssize_t t = 0, r;
	while (t < NDATA && (r = read(rd, got + t, NDATA - t)) > 0)
		t += r;
	zdtm_check(t == NDATA && !memcmp(got, data, NDATA), "FIFO data differs (%zd bytes read)", t);
	zdtm_check(read(rd, got, 1) < 0 && errno == EAGAIN, "empty FIFO read: %m");
	/* one pipe behind all ends, and behind the path */
	zdtm_check(write(rw, "12", 2) == 2 && read(rd, got, 16) == 2, "O_RDWR end not in the same pipe");
	int w2 = open(path, O_WRONLY | O_NONBLOCK);
	zdtm_check(w2 >= 0 && write(w2, "xyz", 3) == 3 && read(rd, got, 16) == 3 && !memcmp(got, "xyz", 3),
		   "a new opener of the FIFO does not reach the restored reader");
	unlink(path);
}

int main(void)
{
	zdtm_init("pipe_fifo");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	verify();
	zdtm_exit();
}
