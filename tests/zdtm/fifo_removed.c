// SPDX-License-Identifier: Apache-2.0
// FIFOs whose name was removed while open, with bytes in them:
//   alone:  one O_RDWR description holding 3000 bytes, the name removed;
//   across: the parent holds the read end, the child the write end (opened by name, then removed),
//           1000 bytes in flight, and a second name (a hard link) of the same FIFO stays in place.
// After restore each descriptor shows "NAME (deleted)" with its flags and mode, the bytes come out in
// order, the child's writes reach the parent, and the kept link still opens the very same pipe.
#include "fdview.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

static unsigned char a_data[3000], x_data[1000], got[4096];
static char a_path[PATH_MAX], x_path[PATH_MAX], x_link[PATH_MAX];
static int a_fd, x_rd, x_wr, go[2];
static struct fd_view va, vrd, vwr;

static int in_flight(int fd)
{
	int n = -1;
	return ioctl(fd, FIONREAD, &n) < 0 ? -1 : n;
}

static __attribute__((noreturn)) void child(void)
{
	char c;
	close(x_rd);
	if (read(go[0], &c, 1) != 1)
		_exit(3);
	fd_view(x_wr, &vwr);
	zdtm_wait_sigterm();
	fd_view_check("write end", x_wr, &vwr, 0);
	zdtm_check(write(x_wr, "child", 5) == 5, "child: write after restore: %m");
	zdtm_exit();
}

int main(void)
{
	zdtm_init("fifo_removed");
	zdtm_fill(a_data, sizeof(a_data), 1);
	zdtm_fill(x_data, sizeof(x_data), 2);
	zdtm_path(a_path, sizeof(a_path), "alone");
	zdtm_path(x_path, sizeof(x_path), "across");
	zdtm_path(x_link, sizeof(x_link), "across.link");
	if (mkfifo(a_path, 0640) < 0 || (a_fd = open(a_path, O_RDWR | O_NONBLOCK)) < 0 ||
	    write(a_fd, a_data, sizeof(a_data)) != sizeof(a_data) || unlink(a_path) < 0)
		zdtm_skip("set up %s: %m", a_path);
	if (mkfifo(x_path, 0600) < 0 || link(x_path, x_link) < 0 || (x_rd = open(x_path, O_RDONLY | O_NONBLOCK)) < 0 ||
	    (x_wr = open(x_path, O_WRONLY)) < 0 || write(x_wr, x_data, sizeof(x_data)) != sizeof(x_data) || pipe(go) < 0)
		zdtm_skip("set up %s: %m", x_path);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		child();
	close(x_wr);
	if (pid < 0 || unlink(x_path) < 0 || write(go[1], "g", 1) != 1)
		zdtm_skip("fork/unlink: %m");
	fd_view(a_fd, &va);
	fd_view(x_rd, &vrd);
	struct stat lst;
	stat(x_link, &lst);
	zdtm_ready();
	zdtm_wait_sigterm();

	fd_view_check("alone", a_fd, &va, 0);
	fd_view_check("read end", x_rd, &vrd, VIEW_INODE);
	zdtm_check(in_flight(a_fd) == (int)sizeof(a_data), "alone: %d bytes in it", in_flight(a_fd));
	zdtm_check(read(a_fd, got, sizeof(got)) == (ssize_t)sizeof(a_data) && !memcmp(got, a_data, sizeof(a_data)),
		   "alone: the bytes differ");
	zdtm_check(in_flight(x_rd) == (int)sizeof(x_data), "across: %d bytes in it", in_flight(x_rd));
	zdtm_check(read(x_rd, got, sizeof(x_data)) == (ssize_t)sizeof(x_data) && !memcmp(got, x_data, sizeof(x_data)),
		   "across: the bytes differ");
	kill(pid, SIGTERM);
	int st = 0;
	zdtm_check(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed (%#x)", st);
	zdtm_check(read(x_rd, got, 5) == 5 && !memcmp(got, "child", 5), "across: the child's write did not arrive");
	struct stat now;
	zdtm_check(stat(x_link, &now) == 0 && now.st_ino == lst.st_ino, "%s is not the FIFO it was", x_link);
	int w = open(x_link, O_WRONLY | O_NONBLOCK);
	zdtm_check(w >= 0 && write(w, "link", 4) == 4, "open %s for writing: %m", x_link);
	zdtm_check(read(x_rd, got, 4) == 4 && !memcmp(got, "link", 4), "%s is another pipe than the read end's", x_link);
	zdtm_exit();
}
