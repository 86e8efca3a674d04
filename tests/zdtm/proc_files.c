// SPDX-License-Identifier: Apache-2.0
// Files of the tree under /proc, opened before the dump: /proc/self/status (read 10 bytes into it),
// a child's /proc/PID/stat, a thread's /proc/self/task/TID/comm, the /proc/self directory and the
// child's /proc/PID directory. After restore each descriptor is reopened against the restored
// process: the path is the same, the offset kept, the content is the live process's own (status
// shows its pid, the child's stat its state and pid, the comm the thread's name, the directories
// hold their entries), and once the child is reaped its stat reads nothing.
#include "zdtm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char want_link[5][128];

static void *thread_fn(void *arg)
{
	pthread_setname_np(pthread_self(), "proc-files-th");
	for (;;)
		pause();
	return arg;
}

static void check_link(int fd, int i)
{
	char path[64], link[256];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	zdtm_check(zdtm_readlink(path, link, sizeof(link)) > 0 && !strcmp(link, want_link[i]),
		   "fd %d is %s, want %s", fd, link, want_link[i]);
}

static void read_at(int fd, off_t off, char *buf, size_t size)
{
	ssize_t n = pread(fd, buf, size - 1, off);
	buf[n > 0 ? n : 0] = 0;
}

int main(void)
{
	char path[128], buf[4096], line[64];
	pthread_t th;
	zdtm_init("proc_files");
	pid_t kid = fork();
	if (kid == 0) {
		signal(SIGTERM, SIG_DFL);
		for (;;)
			pause();
	}
	if (kid < 0 || pthread_create(&th, NULL, thread_fn, NULL) != 0)
		zdtm_skip("fork/pthread_create: %m");
	pid_t tid = 0;
	for (int i = 0; i < 200 && !tid; i++) {
		DIR *d = opendir("/proc/self/task");
		for (struct dirent *de; d && (de = readdir(d));)
			if (atoi(de->d_name) > 0 && atoi(de->d_name) != getpid())
				tid = atoi(de->d_name);
		if (d)
			closedir(d);
		usleep(5000);
	}
	usleep(50000);	/* the thread names itself */
	int fstatus = open("/proc/self/status", O_RDONLY);
	snprintf(path, sizeof(path), "/proc/%d/stat", kid);
	int fkid = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tid);
	int fcomm = open(path, O_RDONLY);
	int fdir = open("/proc/self", O_RDONLY | O_DIRECTORY);
	snprintf(path, sizeof(path), "/proc/%d", kid);
	int fkdir = open(path, O_RDONLY | O_DIRECTORY);
	if (fstatus < 0 || fkid < 0 || fcomm < 0 || fdir < 0 || fkdir < 0 || read(fstatus, buf, 10) != 10)
		zdtm_skip("open /proc files: %m");
	snprintf(want_link[0], sizeof(want_link[0]), "/proc/%d/status", getpid());
	snprintf(want_link[1], sizeof(want_link[1]), "/proc/%d/stat", kid);
	snprintf(want_link[2], sizeof(want_link[2]), "/proc/%d/task/%d/comm", getpid(), tid);
	snprintf(want_link[3], sizeof(want_link[3]), "/proc/%d", getpid());
	snprintf(want_link[4], sizeof(want_link[4]), "/proc/%d", kid);
	zdtm_ready();
	zdtm_wait_sigterm();

	int fds[] = { fstatus, fkid, fcomm, fdir, fkdir };
	for (int i = 0; i < 5; i++)
		check_link(fds[i], i);
	zdtm_check(lseek(fstatus, 0, SEEK_CUR) == 10, "offset in /proc/self/status is %ld, want 10",
		   (long)lseek(fstatus, 0, SEEK_CUR));
	read_at(fstatus, 0, buf, sizeof(buf));
	snprintf(line, sizeof(line), "\nPid:\t%d\n", getpid());
	zdtm_check(strstr(buf, line) != NULL, "/proc/self/status through the fd does not show Pid %d", getpid());
	read_at(fkid, 0, buf, sizeof(buf));
	snprintf(line, sizeof(line), "%d (proc_files) S ", kid);
	zdtm_check(!strncmp(buf, line, strlen(line)), "the child's stat reads '%.40s', want '%s'", buf, line);
	read_at(fcomm, 0, buf, sizeof(buf));
	zdtm_check(!strcmp(buf, "proc-files-th\n"), "the thread's comm reads '%s'", buf);
	int probe = openat(fdir, "status", O_RDONLY), kprobe = openat(fkdir, "cmdline", O_RDONLY);
	zdtm_check(probe >= 0 && kprobe >= 0, "openat in the /proc directories: %m");
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	read_at(fkid, 0, buf, sizeof(buf));
	zdtm_check(buf[0] == 0, "the stat of the reaped child still reads '%.30s'", buf);
	zdtm_exit();
}
