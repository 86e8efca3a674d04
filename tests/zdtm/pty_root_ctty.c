// SPDX-License-Identifier: Apache-2.0
// The root of the tree (a session leader) opens a pty slave, which becomes its controlling terminal,
// and /dev/tty; ten lines are typed at the master (moved to fd 101, the slave to fd 100) and not yet
// read. After restore the ten lines read back from the slave, a new line typed at the master reads
// from /dev/tty, no SIGHUP arrived, and closing the master hangs the terminal up: exactly one SIGHUP.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static volatile int hups;

static void on_hup(int sig)
{
	hups++;
}

int main(void)
{
	static const char line[] = "hello\n";
	char buf[64];
	zdtm_init("pty_root_ctty");
	signal(SIGHUP, on_hup);
	int m = posix_openpt(O_RDWR);
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
		zdtm_skip("pty: %m");
	int s = open(ptsname(m), O_RDWR), tty = open("/dev/tty", O_RDWR);
	if (s < 0 || tty < 0 || dup2(m, 101) != 101 || dup2(s, 100) != 100)
		zdtm_skip("slave, /dev/tty or dup2: %m");
	close(m);
	close(s);
	for (int i = 0; i < 10; i++)
		if (write(101, line, sizeof(line) - 1) != sizeof(line) - 1)
			zdtm_skip("write: %m");
	zdtm_ready();
	zdtm_wait_sigterm();

	for (int i = 0; i < 10; i++) {
		ssize_t n = read(100, buf, sizeof(buf));
		zdtm_check(n == (ssize_t)sizeof(line) - 1 && !memcmp(buf, line, n), "line %d reads %zd bytes", i, n);
	}
	zdtm_check(tcgetsid(tty) == getpid(), "/dev/tty is not its terminal (tcgetsid %d)", tcgetsid(tty));
	zdtm_check(write(101, line, sizeof(line) - 1) == sizeof(line) - 1, "write: %m");
	ssize_t n = read(tty, buf, sizeof(buf));
	zdtm_check(n == (ssize_t)sizeof(line) - 1 && !memcmp(buf, line, n), "/dev/tty reads %zd bytes", n);
	zdtm_check(hups == 0, "%d SIGHUP before the terminal was closed", hups);
	close(101);
	close(100);
	close(tty);
	zdtm_check(hups == 1, "%d SIGHUP after closing the terminal, want 1", hups);
	zdtm_exit();
}
