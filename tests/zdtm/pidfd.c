// SPDX-License-Identifier: Apache-2.0
// pidfds: of a live child (PIDFD_NONBLOCK), of a zombie child (exit 5), of itself, of one of its
// threads (PIDFD_THREAD), two of one reaped child (exit 7, plus a dup of one), one of another
// reaped child (killed by SIGUSR2). After restore: fdinfo shows the same Pid and flags; the live
// child's pidfd is not readable until pidfd_send_signal(SIGTERM) through it kills the child, then
// it is and waitid(P_PIDFD) reports the signal; the zombie's gives exit 5; dead ones are readable,
// refuse signals (ESRCH) and show Pid -1; the two of one dead process are one pid (same inode), the
// other dead one another; the kernel's exit status of the dead (PIDFD_GET_INFO) is kept.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#define PIDFD_THREAD O_EXCL

struct pidfd_info_k {
	uint64_t mask, cgroupid;
	uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
	int32_t exit_code;
	uint32_t coredump_mask, pad;
};
#define PIDFD_GET_INFO_K _IOWR(0xFF, 11, struct pidfd_info_k)
#define PIDFD_INFO_EXIT_K (1ULL << 3)

static int pfd_open(pid_t pid, unsigned flags)
{
	return (int)syscall(SYS_pidfd_open, pid, flags);
}

static int fdinfo_pid(int fd)
{
	char path[64], v[32];
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	return zdtm_status_field(path, "Pid", v, sizeof(v)) < 0 ? -100 : atoi(v);
}

static int readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* The exit status the kernel keeps for a dead pidfd's process, or -1 when it does not tell. */
static int exit_info(int fd)
{
	struct pidfd_info_k info = { .mask = PIDFD_INFO_EXIT_K };
	if (ioctl(fd, PIDFD_GET_INFO_K, &info) < 0 || !(info.mask & PIDFD_INFO_EXIT_K))
		return -1;
	return info.exit_code;
}

static ino_t ino_of(int fd)
{
	struct stat st;
	return fstat(fd, &st) < 0 ? 0 : st.st_ino;
}

static void *thread_fn(void *arg)
{
	for (;;)
		pause();
	return arg;
}

static pid_t spawn(int code)
{
	pid_t p = fork();
	if (p == 0) {
		signal(SIGTERM, SIG_DFL);
		if (code < 0)
			for (;;)
				pause();
		_exit(code);
	}
	return p;
}

int main(void)
{
	pthread_t th;
	zdtm_init("pidfd");
	pid_t live = spawn(-1), zombie = spawn(5), dead1 = spawn(7), dead2 = spawn(-1);
	int fl = pfd_open(live, O_NONBLOCK), fz = pfd_open(zombie, 0), fd1 = pfd_open(dead1, 0);
	int fd1b = pfd_open(dead1, 0), fd2 = pfd_open(dead2, 0), fself = pfd_open(getpid(), 0);
	if (fl < 0 || fz < 0 || fd1 < 0 || fd1b < 0 || fd2 < 0 || fself < 0)
		zdtm_skip("pidfd_open: %m");
	int fd1c = dup(fd1);
	if (pthread_create(&th, NULL, thread_fn, NULL) != 0)
		zdtm_skip("pthread_create");
	pid_t tid = 0;
	for (int i = 0; i < 100 && !tid; i++) {
		char path[64];
		for (pid_t t = getpid() + 1; t < getpid() + 200 && !tid; t++) {
			snprintf(path, sizeof(path), "/proc/self/task/%d", t);
			if (access(path, F_OK) == 0)
				tid = t;
		}
		usleep(10000);
	}
	int ft = tid ? pfd_open(tid, PIDFD_THREAD) : -1;
	if (ft < 0)
		zdtm_skip("pidfd_open(PIDFD_THREAD) of thread %d: %m", tid);
	kill(dead2, SIGUSR2);
	siginfo_t si;
	waitid(P_PID, dead1, &si, WEXITED);
	waitid(P_PID, dead2, &si, WEXITED);
	waitid(P_PID, zombie, &si, WEXITED | WNOWAIT);	/* a zombie until after the restore */
	int st1 = exit_info(fd1), st2 = exit_info(fd2);
	zdtm_ready();
	zdtm_wait_sigterm();

	zdtm_check(fdinfo_pid(fl) == live && fdinfo_pid(fz) == zombie && fdinfo_pid(fself) == getpid() &&
		   fdinfo_pid(ft) == tid, "fdinfo Pid: live %d/%d zombie %d/%d self %d/%d thread %d/%d", fdinfo_pid(fl),
		   live, fdinfo_pid(fz), zombie, fdinfo_pid(fself), getpid(), fdinfo_pid(ft), tid);
	zdtm_check(fdinfo_pid(fd1) == -1 && fdinfo_pid(fd1b) == -1 && fdinfo_pid(fd2) == -1, "dead pidfds show "
		   "Pid %d %d %d", fdinfo_pid(fd1), fdinfo_pid(fd1b), fdinfo_pid(fd2));
	zdtm_check(fcntl(fl, F_GETFL) == (O_RDWR | O_NONBLOCK) && fcntl(ft, F_GETFL) == (O_RDWR | PIDFD_THREAD) &&
		   fcntl(fz, F_GETFL) == O_RDWR, "flags: live %#o thread %#o zombie %#o", fcntl(fl, F_GETFL),
		   fcntl(ft, F_GETFL), fcntl(fz, F_GETFL));
	zdtm_check(ino_of(fd1) == ino_of(fd1b) && ino_of(fd1) == ino_of(fd1c) && ino_of(fd1) != ino_of(fd2),
		   "pidfds of dead processes: inodes %lu %lu %lu %lu", (unsigned long)ino_of(fd1),
		   (unsigned long)ino_of(fd1b), (unsigned long)ino_of(fd1c), (unsigned long)ino_of(fd2));
	zdtm_check(exit_info(fd1) == st1 && exit_info(fd2) == st2, "dead exit status %#x/%#x and %#x/%#x",
		   exit_info(fd1), st1, exit_info(fd2), st2);
	zdtm_check(readable(fd1) && readable(fd2) && readable(fz), "a dead or zombie pidfd is not readable");
	errno = 0;
	zdtm_check(syscall(SYS_pidfd_send_signal, fd1, SIGTERM, NULL, 0) < 0 && errno == ESRCH,
		   "pidfd_send_signal to the dead: %m");
	zdtm_check(!readable(fl) && !readable(fself) && !readable(ft), "a live pidfd is readable");
	zdtm_check(syscall(SYS_pidfd_send_signal, fl, SIGTERM, NULL, 0) == 0, "pidfd_send_signal: %m");
	struct pollfd p = { .fd = fl, .events = POLLIN };
	zdtm_check(poll(&p, 1, 5000) == 1, "the live pidfd did not become readable when its child died");
	memset(&si, 0, sizeof(si));
	zdtm_check(waitid(P_PIDFD, fl, &si, WEXITED) == 0 && si.si_pid == live && si.si_code == CLD_KILLED &&
		   si.si_status == SIGTERM, "waitid(P_PIDFD) on the live one: %m (pid %d code %d status %d)", si.si_pid,
		   si.si_code, si.si_status);
	memset(&si, 0, sizeof(si));
	zdtm_check(waitid(P_PIDFD, fz, &si, WEXITED) == 0 && si.si_pid == zombie && si.si_code == CLD_EXITED &&
		   si.si_status == 5, "waitid(P_PIDFD) on the zombie: %m (pid %d code %d status %d)", si.si_pid,
		   si.si_code, si.si_status);
	zdtm_check(syscall(SYS_pidfd_send_signal, ft, 0, NULL, 0) == 0, "signal 0 to the thread's pidfd: %m");
	zdtm_exit();
}
