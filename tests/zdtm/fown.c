// SPDX-License-Identifier: Apache-2.0
// Signal-driven I/O (O_ASYNC, F_SETOWN_EX, F_SETSIG) on several kinds of descriptor:
//   a pipe's read end: owner the process, signal SIGRTMIN+1;
//   one end of a socketpair: owner a thread (F_OWNER_TID), signal SIGRTMIN+2;
//   another pipe's read end: owner a child process, default SIGIO;
//   an inotify instance: owner the process group (F_OWNER_PGRP), SIGRTMIN+3;
//   a pty master: owner the process, SIGRTMIN+4;
//   a pty slave that is the process's controlling terminal (setting O_ASYNC on a terminal makes its
//   foreground group the owner): then owner the process, SIGRTMIN+6;
//   an eventfd: an owner and a signal (eventfd sends no signals and keeps no O_ASYNC).
// After restore every owner, type, signal and O_ASYNC reads back as set, and I/O on each sends its
// signal to its owner, with si_fd naming the same descriptor when a signal was set with F_SETSIG
// (and the thread's to that thread); no signal arrives before.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define NSIG_SLOTS 8
static volatile int got_fd[NSIG_SLOTS] = { -1, -1, -1, -1, -1, -1, -1, -1 };
static volatile pid_t got_tid[NSIG_SLOTS];
static volatile int got_count[NSIG_SLOTS];
static pid_t thread_tid;
static int pipe_a[2], sock[2], pipe_c[2], ino, ptm, efd, report[2], cm, cs;

static int slot(int sig)
{
	return sig == SIGIO ? 0 : sig - SIGRTMIN;
}

static void on_io(int sig, siginfo_t *si, void *uc)
{
	int s = slot(sig);
	if (s < 0 || s >= NSIG_SLOTS)
		return;
	got_fd[s] = si->si_fd;
	got_tid[s] = zdtm_gettid();
	got_count[s]++;
}

static void *thread_fn(void *arg)
{
	thread_tid = zdtm_gettid();
	for (;;)
		pause();
	return arg;
}

static int own(int fd, int type, pid_t pid, int sig)
{
	struct f_owner_ex o = { .type = type, .pid = pid };
	return fcntl(fd, F_SETOWN_EX, &o) < 0 || fcntl(fd, F_SETSIG, sig) < 0 ||
	       fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC) < 0 ? -1 : 0;
}

static void check_own(const char *what, int fd, int type, pid_t pid, int sig, int async)
{
	struct f_owner_ex o = { 0 };
	zdtm_check(fcntl(fd, F_GETOWN_EX, &o) == 0 && (int)o.type == type && o.pid == pid, "%s: owner type %d pid %d, "
		   "want %d %d", what, o.type, o.pid, type, pid);
	zdtm_check(fcntl(fd, F_GETSIG) == sig, "%s: signal %d, want %d", what, fcntl(fd, F_GETSIG), sig);
	zdtm_check(!!(fcntl(fd, F_GETFL) & O_ASYNC) == async, "%s: O_ASYNC is %s", what, async ? "lost" : "set");
}

/* Waits up to 3 s for a signal in slot s; checks its si_fd and (tid > 0) the thread it came to. */
static void expect_signal(const char *what, int s, int fd, pid_t tid)
{
	for (int i = 0; i < 300 && got_count[s] == 0; i++)
		usleep(10000);
	zdtm_check(got_count[s] > 0, "%s: no signal after I/O", what);
	zdtm_check(got_fd[s] == fd, "%s: si_fd %d, want %d", what, got_fd[s], fd);
	zdtm_check(tid <= 0 || got_tid[s] == tid, "%s: the signal went to thread %d, want %d", what, got_tid[s], tid);
}

/* The child: owns pipe_c's read end; reports 'y' on report once SIGIO came (plain SIGIO has no si_fd). */
static __attribute__((noreturn)) void child(void)
{
	signal(SIGTERM, SIG_DFL);
	for (int i = 0; i < 30000 && got_count[0] == 0; i++)
		usleep(1000);
	char c = got_count[0] == 1 ? 'y' : 'n';
	if (write(report[1], &c, 1) != 1)
		_exit(2);
	for (;;)
		pause();
}

static int setup(pid_t *kid)
{
	pthread_t th;
	struct sigaction sa = { .sa_sigaction = on_io, .sa_flags = SA_SIGINFO | SA_RESTART };
	sigemptyset(&sa.sa_mask);
	for (int s = 0; s < NSIG_SLOTS; s++)
		sigaction(s ? SIGRTMIN + s : SIGIO, &sa, NULL);
	if (pipe(pipe_a) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sock) < 0 || pipe(pipe_c) < 0 || pipe(report) < 0)
		return -1;
	char sub[256];
	snprintf(sub, sizeof(sub), "%s/fown-dir", zdtm_dir());
	mkdir(sub, 0700);
	if ((ino = inotify_init1(IN_NONBLOCK)) < 0 || inotify_add_watch(ino, sub, IN_CREATE) < 0 ||
	    (ptm = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK)) < 0 || unlockpt(ptm) < 0 || (efd = eventfd(0, 0)) < 0)
		return -1;
	if (pthread_create(&th, NULL, thread_fn, NULL) != 0)
		return -1;
	while (!__atomic_load_n(&thread_tid, __ATOMIC_SEQ_CST))
		usleep(1000);
	fflush(NULL);
	if ((*kid = fork()) == 0)
		child();
	if (own(pipe_a[0], F_OWNER_PID, getpid(), SIGRTMIN + 1) < 0 || own(sock[0], F_OWNER_TID, thread_tid, SIGRTMIN + 2) < 0 ||
	    own(pipe_c[0], F_OWNER_PID, *kid, 0) < 0 || own(ino, F_OWNER_PGRP, getpgrp(), SIGRTMIN + 3) < 0 ||
	    own(ptm, F_OWNER_PID, getpid(), SIGRTMIN + 4) < 0 || own(efd, F_OWNER_PID, getpid(), SIGRTMIN + 5) < 0)
		return -1;
	/* a terminal of its own: O_ASYNC first (the foreground group becomes the owner), then the owner */
	if ((cm = posix_openpt(O_RDWR | O_NOCTTY)) < 0 || unlockpt(cm) < 0 || (cs = open(ptsname(cm), O_RDWR)) < 0 ||
	    tcgetsid(cs) != getpid() || fcntl(cs, F_SETFL, fcntl(cs, F_GETFL) | O_ASYNC) < 0 ||
	    own(cs, F_OWNER_PID, getpid(), SIGRTMIN + 6) < 0)
		return -1;
	return 0;
}

int main(void)
{
	pid_t kid;
	char path[256], c;
	zdtm_init("fown");
	if (setup(&kid) < 0)
		zdtm_skip("setup: %m");
	zdtm_ready();
	zdtm_wait_sigterm();

	check_own("pipe", pipe_a[0], F_OWNER_PID, getpid(), SIGRTMIN + 1, 1);
	check_own("socket", sock[0], F_OWNER_TID, thread_tid, SIGRTMIN + 2, 1);
	check_own("child's pipe", pipe_c[0], F_OWNER_PID, kid, 0, 1);
	check_own("inotify", ino, F_OWNER_PGRP, getpgrp(), SIGRTMIN + 3, 1);
	check_own("pty master", ptm, F_OWNER_PID, getpid(), SIGRTMIN + 4, 1);
	check_own("eventfd", efd, F_OWNER_PID, getpid(), SIGRTMIN + 5, 0);
	check_own("terminal", cs, F_OWNER_PID, getpid(), SIGRTMIN + 6, 1);
	for (int s = 0; s < NSIG_SLOTS; s++)
		zdtm_check(got_count[s] == 0, "signal slot %d arrived %d times before any I/O", s, got_count[s]);

	zdtm_check(write(pipe_a[1], "x", 1) == 1, "write: %m");
	expect_signal("pipe", 1, pipe_a[0], 0);
	zdtm_check(write(sock[1], "x", 1) == 1, "write: %m");
	expect_signal("socket", 2, sock[0], thread_tid);
	zdtm_check(write(pipe_c[1], "x", 1) == 1 && read(report[0], &c, 1) == 1 && c == 'y',
		   "the child did not get SIGIO naming its pipe");
	snprintf(path, sizeof(path), "%s/fown-dir/created", zdtm_dir());
	int f = open(path, O_CREAT | O_WRONLY, 0600);
	zdtm_check(f >= 0, "create: %m");
	expect_signal("inotify", 3, ino, 0);
	int s = open(ptsname(ptm), O_RDWR | O_NOCTTY);
	zdtm_check(s >= 0 && write(s, "x", 1) == 1, "write to the pty slave: %m");
	expect_signal("pty master", 4, ptm, 0);
	zdtm_check(got_count[5] == 0, "the eventfd sent a signal");
	zdtm_check(write(cm, "x\n", 2) == 2, "write to the terminal's master: %m");
	expect_signal("terminal", 6, cs, 0);
	unlink(path);
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	zdtm_exit();
}
