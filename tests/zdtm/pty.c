// SPDX-License-Identifier: Apache-2.0
// A pty pair inside the tree: the parent holds the master; the child is a session leader with the
// slave as its controlling terminal, stdin and stdout, in raw mode with a window size. Before the
// dump the parent writes bytes to the master and the child writes bytes to the slave; nobody reads
// them. After restore the child reads exactly the parent's bytes, the parent exactly the child's;
// termios, window size, controlling terminal and foreground group are as before, and the pair
// still carries data both ways. The child reports on stderr (test.out) and by its exit status.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define NDOWN 300
#define NUP 500
static unsigned char down_data[NDOWN], up_data[NUP], got[NUP + 16];
static struct termios want;
static int child_bad;

#define CCHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, "child: " __VA_ARGS__); fputc('\n', stderr); child_bad = 1; } } while (0)

/* Reads n bytes within a few seconds; returns how many came. */
static int read_exact(int fd, unsigned char *buf, int n)
{
	int t = 0;
	while (t < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 3000) <= 0)
			break;
		int r = read(fd, buf + t, n - t);
		if (r <= 0)
			break;
		t += r;
	}
	return t;
}

static int inq(int fd)
{
	int n = -1;
	return ioctl(fd, FIONREAD, &n) < 0 ? -1 : n;
}

static void child_verify(void)
{
	struct termios t;
	struct winsize ws;
	CCHECK(tcgetattr(0, &t) == 0, "tcgetattr: %m");
	CCHECK(t.c_iflag == want.c_iflag && t.c_oflag == want.c_oflag && t.c_lflag == want.c_lflag &&
	       t.c_cflag == want.c_cflag && t.c_cc[VMIN] == want.c_cc[VMIN] && t.c_cc[VINTR] == want.c_cc[VINTR],
	       "termios changed: iflag %#x/%#x oflag %#x/%#x lflag %#x/%#x", t.c_iflag, want.c_iflag, t.c_oflag,
	       want.c_oflag, t.c_lflag, want.c_lflag);
	CCHECK(ioctl(0, TIOCGWINSZ, &ws) == 0 && ws.ws_row == 33 && ws.ws_col == 101 && ws.ws_xpixel == 7,
	       "window size %dx%d", ws.ws_row, ws.ws_col);
	CCHECK(tcgetsid(0) == getpid(), "the slave is not its controlling terminal (tcgetsid %d)", tcgetsid(0));
	CCHECK(tcgetpgrp(0) == getpgrp(), "foreground group %d, its own is %d", tcgetpgrp(0), getpgrp());
	int tty = open("/dev/tty", O_RDWR);
	CCHECK(tty >= 0 && tcgetsid(tty) == getpid(), "/dev/tty does not lead to its terminal (fd %d)", tty);
	CCHECK(inq(0) == NDOWN, "%d bytes queued from the master, want %d", inq(0), NDOWN);
	int n = read_exact(0, got, NDOWN);
	CCHECK(n == NDOWN && !memcmp(got, down_data, NDOWN), "read %d bytes from the master, content %s", n,
	       memcmp(got, down_data, NDOWN) ? "differs" : "matches");
	CCHECK(write(1, "bye", 3) == 3, "write after restore: %m");
	CCHECK(read_exact(0, got, 5) == 5 && !memcmp(got, "after", 5), "no bytes from the master after restore");
}

static __attribute__((noreturn)) void child(const char *name, int ready, int m)
{
	close(m);
	if (setsid() < 0)
		_exit(2);
	int s = open(name, O_RDWR);	/* a session leader without a terminal: it becomes its own */
	if (s < 0 || dup2(s, 0) < 0 || dup2(s, 1) < 0)
		_exit(3);
	close(s);
	tcgetattr(0, &want);
	cfmakeraw(&want);
	want.c_cc[VINTR] = 7;
	if (tcsetattr(0, TCSANOW, &want) < 0 || write(1, up_data, NUP) != NUP || write(ready, "r", 1) != 1)
		_exit(4);
	zdtm_wait_sigterm();
	child_verify();
	_exit(child_bad);
}

int main(void)
{
	int rp[2];
	char buf[1];
	zdtm_init("pty");
	zdtm_fill(down_data, NDOWN, 21);
	zdtm_fill(up_data, NUP, 22);
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	struct winsize ws = { .ws_row = 33, .ws_col = 101, .ws_xpixel = 7 };
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 || ioctl(m, TIOCSWINSZ, &ws) < 0 || pipe(rp) < 0)
		zdtm_skip("pty: %m");
	const char *name = ptsname(m);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		zdtm_skip("fork: %m");
	if (pid == 0)
		child(name, rp[1], m);
	close(rp[1]);
	if (read(rp[0], buf, 1) != 1)
		zdtm_skip("the child failed to set up");
	if (write(m, down_data, NDOWN) != NDOWN)
		zdtm_skip("write to the master: %m");
	for (int i = 0; i < 300 && inq(m) < NUP; i++)
		usleep(10000);
	zdtm_ready();
	zdtm_wait_sigterm();

	zdtm_check(inq(m) == NUP, "parent: %d bytes queued from the slave, want %d", inq(m), NUP);
	int n = read_exact(m, got, NUP);
	zdtm_check(n == NUP && !memcmp(got, up_data, NUP), "parent: read %d bytes from the slave, content %s", n,
		   memcmp(got, up_data, NUP) ? "differs" : "matches");
	kill(pid, SIGTERM);
	zdtm_check(read_exact(m, got, 3) == 3 && !memcmp(got, "bye", 3), "parent: no bytes from the child after restore");
	zdtm_check(write(m, "after", 5) == 5, "parent: write after restore: %m");
	int st = 0;
	zdtm_check(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		   "the child failed (status %#x, see its lines above)", st);
	zdtm_exit();
}
