// SPDX-License-Identifier: Apache-2.0
// Terminals opened by path: a console node (5:1) and a virtual terminal node (4:12) made with mknod
// in the test directory, and /dev/tty12 itself; a child session leader took the vt as its
// controlling terminal by opening it. After restore each descriptor is the same device under the
// same path with the same flags, and the child's controlling terminal is the vt again (tty_nr,
// tcgetsid, /dev/tty).
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define VT 12

static char console[256], vt[256];

static void check_fd(int fd, const char *path, dev_t rdev, int flags)
{
	char proc[64], link[256];
	struct stat st;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	zdtm_check(fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == rdev, "fd %d: device %u:%u, want %u:%u",
		   fd, major(st.st_rdev), minor(st.st_rdev), major(rdev), minor(rdev));
	zdtm_check(zdtm_readlink(proc, link, sizeof(link)) > 0 && !strcmp(link, path), "fd %d is %s, want %s", fd, link,
		   path);
	zdtm_check((fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) == flags, "fd %d flags %#o, want %#o", fd,
		   fcntl(fd, F_GETFL), flags);
}

static __attribute__((noreturn)) void leader(int rep)
{
	setsid();
	int fd = open(vt, O_RDWR);	/* a session leader without a terminal: it becomes its own */
	char c = fd >= 0 && tcgetsid(fd) == getpid() ? 'y' : 'n';
	if (write(rep, &c, 1) != 1 || c != 'y')
		_exit(2);
	int nr = zdtm_tty_nr();
	zdtm_wait_sigterm();
	int bad = tcgetsid(fd) != getpid() || zdtm_tty_nr() != nr || open("/dev/tty", O_RDWR) < 0;
	if (bad)
		fprintf(stderr, "child: tcgetsid %d, tty_nr %d (was %d), /dev/tty: %m\n", tcgetsid(fd), zdtm_tty_nr(), nr);
	_exit(bad);
}

int main(void)
{
	int rep[2];
	char c;
	zdtm_init("tty_vt");
	snprintf(console, sizeof(console), "%s/console", zdtm_dir());
	snprintf(vt, sizeof(vt), "%s/vt", zdtm_dir());
	unlink(console);
	unlink(vt);
	if (mknod(console, S_IFCHR | 0600, makedev(5, 1)) < 0 || mknod(vt, S_IFCHR | 0600, makedev(4, VT)) < 0)
		zdtm_skip("mknod: %m");
	int fc = open(console, O_RDONLY | O_NOCTTY), fv = open(vt, O_RDWR | O_NOCTTY | O_NONBLOCK);
	int fdev = open("/dev/tty12", O_WRONLY | O_NOCTTY);
	if (fc < 0 || fv < 0 || fdev < 0 || pipe(rep) < 0)
		zdtm_skip("open the console or /dev/tty%d: %m", VT);
	pid_t kid = fork();
	if (kid == 0)
		leader(rep[1]);
	if (read(rep[0], &c, 1) != 1 || c != 'y')
		zdtm_skip("/dev/tty%d cannot be a controlling terminal here (another session has it?)", VT);
	zdtm_ready();
	zdtm_wait_sigterm();

	check_fd(fc, console, makedev(5, 1), O_RDONLY);
	check_fd(fv, vt, makedev(4, VT), O_RDWR | O_NONBLOCK);
	check_fd(fdev, "/dev/tty12", makedev(4, VT), O_WRONLY);
	int st = 0;
	kill(kid, SIGTERM);
	zdtm_check(waitpid(kid, &st, 0) == kid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the session leader's "
		   "controlling terminal is not the vt (status %#x)", st);
	zdtm_exit();
}
