// SPDX-License-Identifier: Apache-2.0
// What a program can read back about a pty pair, beyond termios and queued data:
//   A: /dev/pts/N chowned to 1234:5 and chmodded 0640, the slave in exclusive mode (TIOCEXCL), the
//      master too, ECHO locked (TIOCSLCKTRMIOS), packet mode, a window size, output stopped (TCOOFF);
//   B: the slave's line discipline N_NULL;
//   C: a slave whose master was closed: hung up ("/dev/pts/N (deleted)", reads 0, writes EIO);
//   D: a master whose slave was never opened (reads EAGAIN, no POLLHUP);
//   E: a master whose slave was opened and closed (reads EIO, POLLHUP).
// After restore all of it reads back the same; A's output starts again with TCOON and then reaches
// the master.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#ifndef N_NULL
#define N_NULL 27
#endif

static int ma, sa, mb, sb, sc, md, me;

static int revents(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };
	return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

static int pair(int *m, int open_slave)
{
	*m = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
	if (*m < 0 || unlockpt(*m) < 0)
		return -1;
	return open_slave ? ioctl(*m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_NONBLOCK) : 0;
}

static int setup_a(void)
{
	struct termios lk;
	struct winsize ws = { .ws_row = 40, .ws_col = 132, .ws_xpixel = 3, .ws_ypixel = 5 };
	if ((sa = pair(&ma, 1)) < 0 || fchown(sa, 1234, 5) < 0 || fchmod(sa, 0640) < 0 || ioctl(sa, TIOCEXCL) < 0 ||
	    ioctl(ma, TIOCEXCL) < 0 || ioctl(ma, TIOCSWINSZ, &ws) < 0 || tcflow(sa, TCOOFF) < 0 ||
	    ioctl(ma, TIOCPKT, &(int){ 1 }) < 0)
		return -1;
	memset(&lk, 0, sizeof(lk));
	lk.c_lflag = ECHO;
	return ioctl(ma, TIOCSLCKTRMIOS, &lk);
}

static int setup(void)
{
	int ld = N_NULL, s;
	if (setup_a() < 0 || (sb = pair(&mb, 1)) < 0 || ioctl(sb, TIOCSETD, &ld) < 0)
		return -1;
	int mc;
	if ((sc = pair(&mc, 1)) < 0 || close(mc) < 0 || pair(&md, 0) < 0 || (s = pair(&me, 1)) < 0)
		return -1;
	return close(s);
}

static void check_a(void)
{
	struct stat st;
	struct termios lk;
	struct winsize ws;
	int ex = -1, pkt = -1;
	char buf[16];
	zdtm_check(fstat(sa, &st) == 0 && st.st_uid == 1234 && st.st_gid == 5 && (st.st_mode & 07777) == 0640,
		   "A: /dev/pts/N is %u:%u %o", st.st_uid, st.st_gid, st.st_mode & 07777);
	zdtm_check(ioctl(sa, TIOCGEXCL, &ex) == 0 && ex == 1, "A: slave exclusive %d", ex);
	ex = -1;
	zdtm_check(ioctl(ma, TIOCGEXCL, &ex) == 0 && ex == 1, "A: master exclusive %d", ex);
	zdtm_check(ioctl(ma, TIOCGLCKTRMIOS, &lk) == 0 && lk.c_lflag == ECHO, "A: locked lflag %#x", lk.c_lflag);
	zdtm_check(ioctl(ma, TIOCGPKT, &pkt) == 0 && pkt == 1, "A: packet mode %d", pkt);
	zdtm_check(ioctl(sa, TIOCGWINSZ, &ws) == 0 && ws.ws_row == 40 && ws.ws_col == 132 && ws.ws_xpixel == 3 &&
		   ws.ws_ypixel == 5, "A: window %ux%u", ws.ws_row, ws.ws_col);
	zdtm_check(!(revents(sa, POLLOUT) & POLLOUT) && write(sa, "z", 1) < 0 && errno == EAGAIN,
		   "A: the slave can write: output is not stopped");
	zdtm_check(!(revents(ma, POLLIN | POLLPRI) & (POLLIN | POLLPRI)), "A: the master has something to read");
	zdtm_check(tcflow(sa, TCOON) == 0 && write(sa, "z", 1) == 1, "A: TCOON and write: %m");
	usleep(100000);
	ssize_t n = read(ma, buf, sizeof(buf));
	zdtm_check(n >= 1 && buf[0] == TIOCPKT_START, "A: the master reads %zd bytes, first %#x, want TIOCPKT_START",
		   n, n > 0 ? buf[0] : 0);
}

int main(void)
{
	char path[64], link[128], buf[4];
	zdtm_init("pty_state");
	if (setup() < 0)
		zdtm_skip("setup: %m");
	zdtm_ready();
	zdtm_wait_sigterm();

	check_a();
	int ld = -1;
	zdtm_check(ioctl(sb, TIOCGETD, &ld) == 0 && ld == N_NULL, "B: line discipline %d", ld);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", sc);
	zdtm_check(zdtm_readlink(path, link, sizeof(link)) > 0 && strstr(link, " (deleted)"), "C: the hung-up slave "
		   "is %s", link);
	zdtm_check(read(sc, buf, 1) == 0, "C: the hung-up slave reads something");
	zdtm_check(write(sc, "x", 1) < 0 && errno == EIO, "C: the hung-up slave writes: %m");
	zdtm_check(revents(sc, POLLIN) & POLLHUP, "C: no POLLHUP");
	zdtm_check(read(md, buf, 1) < 0 && errno == EAGAIN && !(revents(md, POLLIN) & POLLHUP),
		   "D: a master whose slave was never opened reads %m, or polls POLLHUP");
	zdtm_check(read(me, buf, 1) < 0 && errno == EIO && (revents(me, POLLIN) & POLLHUP),
		   "E: a master whose slave was closed reads %m, or has no POLLHUP");
	zdtm_exit();
}
