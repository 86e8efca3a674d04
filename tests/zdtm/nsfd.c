// SPDX-License-Identifier: Apache-2.0
// Namespace files open in a task: /proc/self/ns/{net,uts,ipc,pid,pid_for_children,user,mnt,cgroup,
// time,time_for_children} and a child's /proc/PID/ns/net. After restore each is a descriptor of the
// restored task's own namespace of that kind (same inode as /proc/self/ns/NAME now, the link names
// the kind), setns() through it is accepted, and the child's is the child's namespace.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct {
	const char *name, *kind;
	int nstype;
} ns[] = {
	{ "net", "net", CLONE_NEWNET }, { "uts", "uts", CLONE_NEWUTS }, { "ipc", "ipc", CLONE_NEWIPC },
	{ "pid", "pid", CLONE_NEWPID }, { "pid_for_children", "pid", CLONE_NEWPID }, { "user", "user", 0 },
	{ "mnt", "mnt", CLONE_NEWNS }, { "cgroup", "cgroup", CLONE_NEWCGROUP }, { "time", "time", 0 },
	{ "time_for_children", "time", 0 },
};
#define NNS (sizeof(ns) / sizeof(ns[0]))

static ino_t ino_of_path(const char *path)
{
	struct stat st;
	return stat(path, &st) < 0 ? 0 : st.st_ino;
}

int main(void)
{
	int fds[NNS];
	char path[96], link[96];
	zdtm_init("nsfd");
	pid_t kid = fork();
	if (kid == 0) {
		signal(SIGTERM, SIG_DFL);
		for (;;)
			pause();
	}
	for (size_t i = 0; i < NNS; i++) {
		snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i].name);
		fds[i] = open(path, O_RDONLY);
		if (fds[i] < 0)
			zdtm_skip("open %s: %m", path);
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/net", kid);
	int kfd = open(path, O_RDONLY | O_CLOEXEC);
	if (kfd < 0)
		zdtm_skip("open %s: %m", path);
	zdtm_ready();
	zdtm_wait_sigterm();

	for (size_t i = 0; i < NNS; i++) {
		struct stat st;
		snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i].name);
		zdtm_check(fstat(fds[i], &st) == 0 && st.st_ino == ino_of_path(path), "fd of %s is not the task's "
			   "namespace now (inode %lu, /proc/self/ns has %lu)", ns[i].name, (unsigned long)st.st_ino,
			   (unsigned long)ino_of_path(path));
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fds[i]);
		zdtm_check(zdtm_readlink(path, link, sizeof(link)) > 0 && !strncmp(link, ns[i].kind, strlen(ns[i].kind)) &&
			   link[strlen(ns[i].kind)] == ':', "fd of %s links to %s", ns[i].name, link);
		if (ns[i].nstype == CLONE_NEWUTS || ns[i].nstype == CLONE_NEWNET || ns[i].nstype == CLONE_NEWIPC)
			zdtm_check(setns(fds[i], ns[i].nstype) == 0, "setns(%s): %m", ns[i].name);
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/net", kid);
	struct stat st;
	zdtm_check(fstat(kfd, &st) == 0 && st.st_ino == ino_of_path(path), "the child's net namespace fd is not the "
		   "child's namespace");
	zdtm_check(fcntl(kfd, F_GETFD) == FD_CLOEXEC, "close-on-exec lost");
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	zdtm_exit();
}
