// SPDX-License-Identifier: Apache-2.0
// Controlling terminals held in no descriptor, and inherited ones. The root holds the masters of two
// pairs. Session leader L took pair 1's slave as its terminal, opened /dev/tty, closed the slave,
// forked G1 (which moved to a group of its own, made the terminal's foreground group) and G2 (which
// gave the terminal up with TIOCNOTTY). Session leader L2 took pair 2's slave and closed every
// descriptor of it. After restore: L's /dev/tty descriptor and a new open of /dev/tty are its
// terminal (tcgetsid is L), the foreground group is G1's, G1 has the terminal (tty_nr, /dev/tty),
// G2 has none (tty_nr 0, /dev/tty gives ENXIO), L2 opens /dev/tty and what it writes there reaches
// pair 2's master, and what L writes reaches pair 1's.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static int bad, ready[2];
#define CCHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); bad = 1; } } while (0)

static void signal_ready(void)
{
	if (write(ready[1], "r", 1) != 1)
		_exit(3);
}

static pid_t child(void (*fn)(void *), void *arg)
{
	fflush(NULL);
	pid_t p = fork();
	if (p == 0) {
		fn(arg);
		_exit(bad);
	}
	return p;
}

static int reap(pid_t p)
{
	int st = 0;
	kill(p, SIGTERM);
	return waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* The device of the terminal fd names (the pts number changes with a restore). */
static int dev_of(int fd)
{
	unsigned int dev = 0;
	return fd >= 0 && ioctl(fd, TIOCGDEV, &dev) == 0 ? (int)dev : -1;
}

static void g1(void *arg)
{
	setpgid(0, 0);
	signal_ready();
	zdtm_wait_sigterm();
	int nr = zdtm_tty_nr(), t = open("/dev/tty", O_RDWR);
	CCHECK(nr > 0 && nr == dev_of(t), "G1: tty_nr %d, its terminal is %d", nr, dev_of(t));
	CCHECK(t >= 0 && tcgetpgrp(t) == getpgrp(), "G1: /dev/tty %d, foreground %d, its group %d", t,
	       t >= 0 ? tcgetpgrp(t) : -1, getpgrp());
}

static void g2(void *arg)
{
	int s = *(int *)arg;
	CCHECK(ioctl(s, TIOCNOTTY) == 0, "G2: TIOCNOTTY: %m");
	close(s);
	signal_ready();
	zdtm_wait_sigterm();
	errno = 0;
	int t = open("/dev/tty", O_RDWR);
	CCHECK(zdtm_tty_nr() == 0 && t < 0 && errno == ENXIO, "G2: tty_nr %d, /dev/tty %d (%m): it gave its terminal up",
	       zdtm_tty_nr(), t);
}

static void leader(void *arg)
{
	const char *name = arg;
	if (setsid() < 0)
		_exit(2);
	int s = open(name, O_RDWR), t = open("/dev/tty", O_RDWR | O_NOCTTY);
	pid_t k1 = child(g1, NULL), k2 = child(g2, &s);
	close(s);
	while (getpgid(k1) != k1)
		usleep(1000);
	if (t < 0 || tcsetpgrp(t, k1) < 0)
		_exit(4);
	signal_ready();
	zdtm_wait_sigterm();
	int t2 = open("/dev/tty", O_RDWR);
	CCHECK(tcgetsid(t) == getpid() && t2 >= 0 && tcgetsid(t2) == getpid(), "L: its terminal is not its own "
	       "(tcgetsid %d, /dev/tty %d)", tcgetsid(t), t2);
	CCHECK(tcgetpgrp(t) == k1, "L: foreground group %d, want G1's %d", tcgetpgrp(t), k1);
	CCHECK(zdtm_tty_nr() > 0 && zdtm_tty_nr() == dev_of(t), "L: tty_nr %d, its terminal is %d", zdtm_tty_nr(),
	       dev_of(t));
	CCHECK(reap(k1) && reap(k2), "L: a grandchild failed");
	CCHECK(write(t, "L", 1) == 1, "L: write /dev/tty: %m");
}

static void leader2(void *arg)
{
	if (setsid() < 0)
		_exit(2);
	int s = open((const char *)arg, O_RDWR);
	close(s);
	signal_ready();
	zdtm_wait_sigterm();
	int t = open("/dev/tty", O_RDWR);
	CCHECK(t >= 0 && tcgetsid(t) == getpid(), "L2: /dev/tty %d: %m", t);
	CCHECK(t >= 0 && write(t, "2", 1) == 1, "L2: write /dev/tty: %m");
}

static char read_one(int m)
{
	struct pollfd p = { .fd = m, .events = POLLIN };
	char c = 0;
	if (poll(&p, 1, 3000) != 1 || read(m, &c, 1) != 1)
		return 0;
	return c;
}

int main(void)
{
	char name1[64], name2[64], buf[1];
	zdtm_init("pty_ctty");
	int m1 = posix_openpt(O_RDWR | O_NOCTTY), m2 = posix_openpt(O_RDWR | O_NOCTTY);
	if (m1 < 0 || m2 < 0 || unlockpt(m1) < 0 || unlockpt(m2) < 0 || pipe(ready) < 0)
		zdtm_skip("pty: %m");
	snprintf(name1, sizeof(name1), "%s", ptsname(m1));
	snprintf(name2, sizeof(name2), "%s", ptsname(m2));
	pid_t l = child(leader, name1), l2 = child(leader2, name2);
	for (int i = 0; i < 4; i++)
		if (read(ready[0], buf, 1) != 1)
			zdtm_skip("a child failed to set up");
	zdtm_ready();
	zdtm_wait_sigterm();

	zdtm_check(reap(l), "L failed (its lines are above)");
	zdtm_check(read_one(m1) == 'L', "pair 1's master did not get L's byte");
	zdtm_check(reap(l2), "L2 failed (its lines are above)");
	zdtm_check(read_one(m2) == '2', "pair 2's master did not get L2's byte");
	zdtm_exit();
}
