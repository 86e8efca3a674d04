// SPDX-License-Identifier: Apache-2.0
// Pipes between two processes: the parent holds the write end of `down` and the read end of `up`, the
// child the other ends; each direction has bytes in flight at the dump. After restore (SIGTERM to the
// parent, which passes it on) each side reads exactly the bytes in flight, the pipes still connect the
// two processes, and closing one side gives EOF on the other (no stray end survived the restore).
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define NDOWN 30000
#define NUP 777
static unsigned char down_data[NDOWN], up_data[NUP], got[NDOWN + 16];
static int down[2], up[2];

static int read_exact(int fd, unsigned char *buf, int n)
{
	int t = 0, r;

	while (t < n && (r = read(fd, buf + t, n - t)) > 0)
		t += r;
	return t;
}

static int in_flight(int fd)
{
	int n = -1;

	return ioctl(fd, FIONREAD, &n) < 0 ? -1 : n;
}

static __attribute__((noreturn)) void child(void)
{
	close(down[1]);
	close(up[0]);
	if (write(up[1], up_data, NUP) != NUP)
		_exit(2);
	zdtm_wait_sigterm();
	int n = in_flight(down[0]);
	zdtm_check(n == NDOWN, "child: %d bytes in flight from the parent, want %d", n, NDOWN);
	n = read_exact(down[0], got, NDOWN);
	zdtm_check(n == NDOWN && !memcmp(got, down_data, NDOWN), "child: read %d bytes, content %s", n,
		   memcmp(got, down_data, NDOWN) ? "differs" : "matches");
	zdtm_check(write(up[1], "bye", 3) == 3, "child: write after restore: %m");
	zdtm_check(read_exact(down[0], got, 5) == 5 && !memcmp(got, "after", 5), "child: no bytes written after restore");
	zdtm_check(read(down[0], got, 1) == 0, "child: no EOF once the parent closed its end (a stray write end?)");
	zdtm_exit();
}

int main(void)
{
	zdtm_init("pipe_tree");
	zdtm_fill(down_data, NDOWN, 11);
	zdtm_fill(up_data, NUP, 12);
	if (pipe(down) < 0 || pipe(up) < 0)
		zdtm_skip("pipe: %m");
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		zdtm_skip("fork: %m");
	if (pid == 0)
		child();
	close(down[0]);
	close(up[1]);
	if (write(down[1], down_data, NDOWN) != NDOWN)
		zdtm_skip("write: %m");
	while (in_flight(up[0]) < NUP)
		usleep(1000);
	zdtm_ready();
	zdtm_wait_sigterm();

	int n = in_flight(up[0]);
	zdtm_check(n == NUP, "parent: %d bytes in flight from the child, want %d", n, NUP);
	n = read_exact(up[0], got, NUP);
	zdtm_check(n == NUP && !memcmp(got, up_data, NUP), "parent: read %d bytes from the child, content %s", n,
		   memcmp(got, up_data, NUP) ? "differs" : "matches");
	kill(pid, SIGTERM);
	zdtm_check(read_exact(up[0], got, 3) == 3 && !memcmp(got, "bye", 3), "parent: the child's reply is missing");
	zdtm_check(write(down[1], "after", 5) == 5, "parent: write after restore: %m");
	close(down[1]);
	int status = 0;
	zdtm_check(waitpid(pid, &status, 0) == pid, "waitpid: %m");
	zdtm_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed (status %#x)", status);
	zdtm_check(read(up[0], got, 1) == 0, "parent: no EOF after the child exited (a stray write end?)");
	zdtm_exit();
}
