// SPDX-License-Identifier: Apache-2.0
// A pty pair in canonical mode with echo, both ends in one process: "line1\npart" typed at the master
// before the dump. After restore the slave reads exactly one line "line1\n", the partial line stays
// unreadable until it is completed, and the master reads the echo once ("line1\r\npart"), not twice.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static int inq(int fd)
{
	int n = -1;
	return ioctl(fd, FIONREAD, &n) < 0 ? -1 : n;
}

static int read_wait(int fd, char *buf, int n)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 3000) <= 0)
		return -1;
	return read(fd, buf, n);
}

int main(void)
{
	char buf[64];
	struct termios t0, t1;
	zdtm_init("pty_canon");
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
		zdtm_skip("pty: %m");
	int s = open(ptsname(m), O_RDWR | O_NOCTTY | O_NONBLOCK);
	if (s < 0 || tcgetattr(s, &t0) < 0)
		zdtm_skip("open the slave: %m");
	if (!(t0.c_lflag & ICANON) || !(t0.c_lflag & ECHO) || !(t0.c_oflag & ONLCR))
		zdtm_skip("a new pty is not in canonical mode with echo");
	if (write(m, "line1\npart", 10) != 10)
		zdtm_skip("write: %m");
	for (int i = 0; i < 300 && inq(m) < 11; i++)
		usleep(10000);
	zdtm_ready();
	zdtm_wait_sigterm();

	zdtm_check(tcgetattr(s, &t1) == 0 && t1.c_lflag == t0.c_lflag && t1.c_iflag == t0.c_iflag &&
		   t1.c_oflag == t0.c_oflag, "termios changed: lflag %#x, was %#x", t1.c_lflag, t0.c_lflag);
	int n = inq(m);
	zdtm_check(n == 11, "%d echo bytes queued on the master, want 11", n);
	n = read_wait(m, buf, sizeof(buf));
	zdtm_check(n == 11 && !memcmp(buf, "line1\r\npart", 11), "master read %d bytes: '%.*s'", n, n > 0 ? n : 0, buf);
	n = inq(s);
	zdtm_check(n == 6, "%d bytes readable on the slave, want 6 (one line)", n);
	n = read_wait(s, buf, sizeof(buf));
	zdtm_check(n == 6 && !memcmp(buf, "line1\n", 6), "slave read %d bytes: '%.*s'", n, n > 0 ? n : 0, buf);
	n = read(s, buf, sizeof(buf));
	zdtm_check(n < 0 && errno == EAGAIN, "the partial line is readable (%d bytes)", n);
	zdtm_check(write(m, "ial\n", 4) == 4, "write after restore: %m");
	n = read_wait(s, buf, sizeof(buf));
	zdtm_check(n == 8 && !memcmp(buf, "partial\n", 8), "slave read %d bytes: '%.*s'", n, n > 0 ? n : 0, buf);
	n = read_wait(m, buf, sizeof(buf));
	zdtm_check(n == 5 && !memcmp(buf, "ial\r\n", 5), "master echo after restore: %d bytes", n);
	zdtm_exit();
}
