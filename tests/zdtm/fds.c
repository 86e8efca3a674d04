// SPDX-License-Identifier: Apache-2.0
// File descriptors: regular files with several open flags and offsets, close-on-exec, dup'ed fds
// sharing one open file description, independent opens of one file, a directory, /dev/{null,zero,urandom}.
#include "zdtm.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fdinfo {
	const char *what;
	int fd;
	int fdflags;   /* F_GETFD */
	int flflags;   /* F_GETFL */
	off_t off;
	char link[PATH_MAX];
	dev_t dev;
	ino_t ino;
};

#define MAXFD 32
static struct fdinfo fds[MAXFD];
static int nfds;
static int fd_dup_a, fd_dup_b, fd_ind_a, fd_ind_b, fd_append, fd_ro, fd_zero;
static char fd_list[4096];

static void record(const char *what, int fd)
{
	struct fdinfo *f = &fds[nfds++];
	struct stat st;
	char p[64];

	f->what = what;
	f->fd = fd;
	f->fdflags = fcntl(fd, F_GETFD);
	f->flflags = fcntl(fd, F_GETFL);
	f->off = lseek(fd, 0, SEEK_CUR);
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	zdtm_readlink(p, f->link, sizeof(f->link));
	fstat(fd, &st);
	f->dev = st.st_dev;
	f->ino = st.st_ino;
}

static int xopen(const char *name, int flags)
{
	char path[PATH_MAX];
	int fd = open(zdtm_path(path, sizeof(path), name), flags, 0644);

	if (fd < 0) {
		perror(path);
		exit(2);
	}
	return fd;
}

static void list_fds(char *out, size_t size)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int dfd = dirfd(d);
	int have[1024] = { 0 };
	size_t len = 0;

	while ((de = readdir(d))) {
		int n = atoi(de->d_name);

		if (de->d_name[0] != '.' && n != dfd && n < 1024)
			have[n] = 1;
	}
	closedir(d);
	out[0] = 0;
	for (int i = 0; i < 1024 && len + 8 < size; i++)
		if (have[i])
			len += snprintf(out + len, size - len, "%d ", i);
}

static void setup(void)
{
	static char data[20000];
	int fd;

	zdtm_fill(data, sizeof(data), 9);
	fd = xopen("data.bin", O_RDWR | O_CREAT | O_TRUNC);
	if (write(fd, data, sizeof(data)) != (ssize_t)sizeof(data))
		exit(2);
	lseek(fd, 12345, SEEK_SET);
	record("rdwr 12345", fd);

	fd_ro = xopen("data.bin", O_RDONLY | O_CLOEXEC);
	lseek(fd_ro, 4096, SEEK_SET);
	record("rdonly cloexec 4096", fd_ro);

	fd_append = xopen("log.txt", O_WRONLY | O_APPEND | O_CREAT | O_TRUNC);
	if (write(fd_append, "line one\n", 9) != 9)
		exit(2);
	record("wronly append", fd_append);

	fd_dup_a = xopen("data.bin", O_RDWR);
	lseek(fd_dup_a, 777, SEEK_SET);
	fd_dup_b = dup(fd_dup_a);
	fcntl(fd_dup_b, F_SETFD, FD_CLOEXEC);     /* cloexec is per fd, not per description */
	record("dup a", fd_dup_a);
	record("dup b cloexec", fd_dup_b);

	fd_ind_a = xopen("data.bin", O_RDONLY);
	fd_ind_b = xopen("data.bin", O_RDONLY | O_NOATIME);
	lseek(fd_ind_a, 100, SEEK_SET);
	lseek(fd_ind_b, 200, SEEK_SET);
	record("independent a", fd_ind_a);
	record("independent b", fd_ind_b);

	fd = open(zdtm_dir(), O_RDONLY | O_DIRECTORY);
	record("directory", fd);
	fd = open("/dev/null", O_RDWR);
	record("/dev/null", fd);
	fd_zero = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	record("/dev/zero", fd_zero);
	fd = open("/dev/urandom", O_RDONLY | O_NONBLOCK);
	record("/dev/urandom", fd);

	fd = xopen("data.bin", O_WRONLY);
	lseek(fd, 1 << 20, SEEK_SET);              /* beyond EOF */
	if (dup2(fd, 100) != 100)
		exit(2);
	close(fd);
	record("high fd 100, offset past EOF", 100);

	record("stdin", 0);
	record("stdout", 1);
	record("stderr", 2);
	list_fds(fd_list, sizeof(fd_list));
}

static void verify(void)
{
	char now_list[4096], p[64], link[PATH_MAX];
	struct stat st;
	off_t off;

	list_fds(now_list, sizeof(now_list));
	zdtm_check(!strcmp(now_list, fd_list), "open fds: [%s], want [%s]", now_list, fd_list);
	for (int i = 0; i < nfds; i++) {
		struct fdinfo *f = &fds[i];
		int v;

		if ((v = fcntl(f->fd, F_GETFD)) != f->fdflags)
			zdtm_fail("fd %d (%s): F_GETFD %#x, want %#x", f->fd, f->what, v, f->fdflags);
		if ((v = fcntl(f->fd, F_GETFL)) != f->flflags)
			zdtm_fail("fd %d (%s): F_GETFL %#o, want %#o", f->fd, f->what, v, f->flflags);
		off = lseek(f->fd, 0, SEEK_CUR);
		if (off != f->off)
			zdtm_fail("fd %d (%s): offset %lld, want %lld", f->fd, f->what, (long long)off,
				  (long long)f->off);
		snprintf(p, sizeof(p), "/proc/self/fd/%d", f->fd);
		zdtm_readlink(p, link, sizeof(link));
		zdtm_check(!strcmp(link, f->link), "fd %d (%s): path %s, want %s", f->fd, f->what, link, f->link);
		if (fstat(f->fd, &st) == 0)
			zdtm_check(st.st_dev == f->dev && st.st_ino == f->ino, "fd %d (%s): dev/inode changed",
				   f->fd, f->what);
	}

	/* dup'ed fds still share one offset */
	lseek(fd_dup_a, 4321, SEEK_SET);
	off = lseek(fd_dup_b, 0, SEEK_CUR);
	zdtm_check(off == 4321, "dup'ed fds no longer share the offset (b at %lld after seeking a)", (long long)off);
	/* separately opened fds do not */
	lseek(fd_ind_a, 999, SEEK_SET);
	off = lseek(fd_ind_b, 0, SEEK_CUR);
	zdtm_check(off == 200, "independent fds share an offset now (b at %lld)", (long long)off);
	/* O_APPEND still appends */
	lseek(fd_append, 0, SEEK_SET);
	zdtm_check(write(fd_append, "line two\n", 9) == 9, "append write failed: %m");
	off = lseek(fd_append, 0, SEEK_CUR);
	zdtm_check(off == 18, "append write went to offset %lld, want 18", (long long)off - 9);
	/* read-only fd still reads the right bytes */
	{
		unsigned char got[16], want[16];
		int fd = fds[0].fd;

		zdtm_check(pread(fd, want, 16, 4096) == 16 && read(fd_ro, got, 16) == 16 && !memcmp(got, want, 16),
			   "read through the O_RDONLY fd returns other bytes");
		zdtm_check(write(fd_ro, got, 1) < 0, "write to an O_RDONLY fd succeeded");
		zdtm_check(read(fd_zero, got, 16) == 16 && got[0] == 0 && got[15] == 0, "/dev/zero reads non-zero");
	}
}

int main(void)
{
	zdtm_init("fds");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	verify();
	zdtm_exit();
}
