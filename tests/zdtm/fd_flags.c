// SPDX-License-Identifier: Apache-2.0
// Status flags on every kind of descriptor, set with F_SETFL after opening (so the kind's own open
// path cannot just have passed them through): O_APPEND, O_NONBLOCK, O_NOATIME, O_DIRECT on regular
// files, a directory, /dev/null, pipes, a socketpair, an eventfd, an epoll, an inotify, a timerfd,
// a signalfd and a pidfd; close-on-exec on some. After restore every descriptor's fdinfo flags,
// pos and mnt_id lines and its F_GETFD read back exactly.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define MAXFD 32
static int fds[MAXFD], nfds;
static char before[MAXFD][256];

static void state(int fd, char *out, size_t size)
{
	char path[64], text[4096], *line;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	snprintf(out, size, "fd %d cloexec %d:", fd, fcntl(fd, F_GETFD));
	if (zdtm_read_file(path, text, sizeof(text)) < 0)
		return;
	for (char *save = NULL, *p = text; (line = strtok_r(p, "\n", &save)); p = NULL)
		if (!strncmp(line, "pos:", 4) || !strncmp(line, "flags:", 6) || !strncmp(line, "mnt_id:", 7)) {
			strncat(out, " ", size - strlen(out) - 1);
			strncat(out, line, size - strlen(out) - 1);
		}
}

/* Adds fd with status flags fl set by F_SETFL (and close-on-exec if cloexec). */
static int add(int fd, int fl, int cloexec)
{
	if (fd < 0 || nfds == MAXFD)
		return -1;
	if (fl && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | fl) < 0)
		return -1;
	if (fcntl(fd, F_SETFD, cloexec ? FD_CLOEXEC : 0) < 0)
		return -1;
	fds[nfds++] = fd;
	return 0;
}

static int setup(void)
{
	char path[256];
	int p[2], sv[2];
	sigset_t ss;
	snprintf(path, sizeof(path), "%s/file", zdtm_dir());
	int f = open(path, O_CREAT | O_RDWR, 0644);
	if (f < 0 || write(f, "0123456789", 10) != 10 || lseek(f, 3, SEEK_SET) != 3)
		return -1;
	if (add(f, O_APPEND | O_NOATIME, 0) < 0 || add(open(path, O_RDONLY), O_DIRECT | O_NONBLOCK, 1) < 0 ||
	    add(open(zdtm_dir(), O_RDONLY | O_DIRECTORY), O_NOATIME, 0) < 0 ||
	    add(open("/dev/null", O_WRONLY), O_APPEND | O_NONBLOCK, 0) < 0)
		return -1;
	if (pipe(p) < 0 || add(p[0], O_NONBLOCK, 0) < 0 || add(p[1], O_DIRECT, 1) < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || add(sv[0], O_NONBLOCK, 0) < 0 || add(sv[1], 0, 1) < 0)
		return -1;
	sigemptyset(&ss);
	sigaddset(&ss, SIGUSR1);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	if (add(eventfd(5, 0), O_NONBLOCK, 0) < 0 || add(epoll_create1(0), O_NONBLOCK, 0) < 0 ||
	    add(inotify_init1(0), O_NONBLOCK, 1) < 0 || add(timerfd_create(CLOCK_MONOTONIC, 0), O_NONBLOCK, 0) < 0 ||
	    add(signalfd(-1, &ss, 0), O_NONBLOCK, 1) < 0 || add((int)syscall(SYS_pidfd_open, getpid(), 0), O_NONBLOCK, 0) < 0)
		return -1;
	return 0;
}

int main(void)
{
	char after[256];
	zdtm_init("fd_flags");
	if (setup() < 0)
		zdtm_skip("setup (%d descriptors so far): %m", nfds);
	for (int i = 0; i < nfds; i++)
		state(fds[i], before[i], sizeof(before[i]));
	zdtm_ready();
	zdtm_wait_sigterm();

	for (int i = 0; i < nfds; i++) {
		state(fds[i], after, sizeof(after));
		zdtm_check(!strcmp(before[i], after), "%s\n  became %s", before[i], after);
	}
	zdtm_exit();
}
