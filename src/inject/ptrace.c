/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Thin, errno-returning wrappers over ptrace(2) and /proc/PID/task, and the one wait loop every
 * stop goes through. A tracer waits on all of its tracees at once (waitpid(-1, __WALL |
 * __WNOTHREAD): only this thread's tracees and children): a report for another tracee is kept
 * for when that one is asked for, and the exit of any tracee ends a wait for a process that is
 * gone too. Waiting on one TID alone hangs for good when its process is killed meanwhile (the
 * kernel reports a traced leader only once its other threads are reaped).
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#define LOG_PREFIX "ptrace: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "inject/ptrace.h"

#ifndef PTRACE_PEEKSIGINFO_SHARED
#define PTRACE_PEEKSIGINFO_SHARED 1
#endif
struct peeksiginfo_args_k {
	uint64_t off;
	uint32_t flags;
	int32_t nr;
};

/* Reports for tracees nobody was waiting for yet; per tracer thread, as ptrace itself is. */
struct report {
	pid_t pid;
	int status;
};
static __thread struct report *reports;
static __thread size_t nreports, capreports;

void pt_reports_clear(void)
{
	free(reports);
	reports = NULL;
	nreports = capreports = 0;
}

static void forget(pid_t tid)
{
	for (size_t i = 0; i < nreports;)
		if (reports[i].pid == tid)
			reports[i] = reports[--nreports];
		else
			i++;
}

static int take_report(pid_t tid, int *status)
{
	for (size_t i = 0; i < nreports; i++)
		if (reports[i].pid == tid) {
			*status = reports[i].status;
			memmove(&reports[i], &reports[i + 1], (nreports - i - 1) * sizeof(*reports));
			nreports--;
			return 1;
		}
	return 0;
}

static void keep_report(pid_t pid, int status)
{
	if (nreports == capreports) {
		size_t cap = capreports ? capreports * 2 : 16;
		struct report *n = realloc(reports, cap * sizeof(*n));
		if (!n)
			return;	/* an exit we cannot keep: its waiter finds the process gone anyway */
		reports = n;
		capreports = cap;
	}
	reports[nreports++] = (struct report){ pid, status };
}

int pt_thread_gone(pid_t tid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = 0;
	const char *p = strrchr(buf, ')');
	return p && p[1] && (p[2] == 'Z' || p[2] == 'X');
}

/* One report of tid: waits on every tracee, keeps the others' reports. -EAGAIN with nohang. */
static int wait_report(pid_t tid, int *status, int nohang)
{
	for (;;) {
		int st;
		if (take_report(tid, &st)) {
			*status = st;
			return 0;
		}
		pid_t r = waitpid(-1, &st, __WALL | __WNOTHREAD | (nohang ? WNOHANG : 0));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno == ECHILD ? -ESRCH : -errno;
		if (r == 0)
			return -EAGAIN;
		if (r == tid) {
			*status = st;
			return 0;
		}
		keep_report(r, st);
		/* Another tracee exited: if tid's process went with it, no stop is coming. */
		if ((WIFEXITED(st) || WIFSIGNALED(st)) && pt_thread_gone(tid))
			return -ESRCH;
	}
}

int pt_wait_stop(pid_t tid, int *status)
{
	int st, r = wait_report(tid, &st, 0);
	if (r < 0)
		return r;
	if (WIFEXITED(st) || WIFSIGNALED(st))
		return -ESRCH;
	*status = st;
	return 0;
}

int pt_try_stop(pid_t tid, int *status)
{
	int st, r = wait_report(tid, &st, 1);
	if (r < 0)
		return r;
	if (WIFEXITED(st) || WIFSIGNALED(st))
		return -ESRCH;
	*status = st;
	return 0;
}

/* What a thread that does not stop is waiting for (its kernel wait channel), for messages. */
static void wchan(pid_t tid, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/wchan", tid);
	buf[0] = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
}

/*
 * The first stop after PTRACE_INTERRUPT. Usually immediate; a thread in an uninterruptible wait
 * stops when the wait ends (a vfork parent: when its child calls exec or exits), given 10 s, or
 * until deadline (a now_us() time, 0 for none) if that comes first.
 */
static int wait_first_stop(pid_t tid, int *status, uint64_t deadline, struct ferry_err *err)
{
	uint64_t limit = now_us() + 10 * 1000000ULL, nap = 20;
	if (deadline && deadline < limit)
		limit = deadline;
	for (;;) {
		int r = wait_report(tid, status, 1);
		if (r != -EAGAIN)
			return r < 0 ? fe_set(err, r, "wait for thread %d to stop", tid) : 0;
		char wc[64];
		wchan(tid, wc, sizeof(wc));
		if (now_us() > limit)
			return fe_msg(err, ETIMEDOUT, "thread %d does not stop (it waits in %s)", tid, wc[0] ? wc : "the kernel");
		struct timespec ts = { 0, (long)nap * 1000 };
		nanosleep(&ts, NULL);
		if (nap < 2000)
			nap *= 2;
	}
}

int pt_seize(pid_t tid, int *stopsig, uint64_t deadline, struct ferry_err *err)
{
	forget(tid);	/* a report kept for an earlier thread with this number */
	if (ptrace(PTRACE_SEIZE, tid, NULL, (void *)(long)PTRACE_O_SUSPEND_SECCOMP) < 0 &&
	    ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0)
		return fe_set(err, errno, "seize thread %d", tid);
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0)
		return fe_set(err, errno, "interrupt thread %d", tid);
	for (;;) {
		int st;
		int r = wait_first_stop(tid, &st, deadline, err);
		if (r < 0)
			return r;
		/* Seized, a group-stopped thread reports its stop signal; an interrupted one SIGTRAP. */
		if (WIFSTOPPED(st) && (st >> 16) == PTRACE_EVENT_STOP) {
			if (stopsig)
				*stopsig = WSTOPSIG(st) == SIGTRAP ? 0 : WSTOPSIG(st);
			return 0;
		}
		/* A signal-delivery stop raced the interrupt: let the signal through and wait again. */
		if (WIFSTOPPED(st)) {
			int sig = WSTOPSIG(st);
			pr_debug("thread %d: signal %d arrived while seizing; re-delivering\n", tid, sig);
			if (ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig) < 0)
				return fe_set(err, errno, "resume thread %d", tid);
			ptrace(PTRACE_INTERRUPT, tid, NULL, NULL);
		}
	}
}

int pt_detach(pid_t tid, int sig)
{
	return ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)sig) < 0 ? -errno : 0;
}

/*
 * Puts a seized thread back as it was and detaches it. PTRACE_DETACH (like SETREGS) needs a
 * stopped tracee: one caught running (an error left it so) is interrupted first. A thread that
 * is gone needs nothing.
 */
int pt_release(pid_t tid, const struct user_regs_struct *regs, uint64_t sigmask)
{
	int r = 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		if ((r = pt_setregs(tid, regs)) == 0 && (r = pt_set_sigmask(tid, sigmask)) == 0 &&
		    (r = pt_detach(tid, 0)) == 0)
			return 0;
		if (pt_thread_gone(tid))
			return 0;
		int st;
		if (r != -ESRCH || ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0 || wait_first_stop(tid, &st, 0, NULL) < 0)
			break;
	}
	return pt_thread_gone(tid) ? 0 : r;
}

int pt_getregs(pid_t tid, struct user_regs_struct *regs)
{
	return ptrace(PTRACE_GETREGS, tid, NULL, regs) < 0 ? -errno : 0;
}

int pt_setregs(pid_t tid, const struct user_regs_struct *regs)
{
	return ptrace(PTRACE_SETREGS, tid, NULL, regs) < 0 ? -errno : 0;
}

int pt_get_xsave(pid_t tid, void *buf, size_t *len)
{
	struct iovec iov = { buf, *len };
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &iov) < 0)
		return -errno;
	*len = iov.iov_len;
	return 0;
}

int pt_set_xsave(pid_t tid, const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };
	return ptrace(PTRACE_SETREGSET, tid, (void *)NT_X86_XSTATE, &iov) < 0 ? -errno : 0;
}

int pt_get_sigmask(pid_t tid, uint64_t *mask)
{
	return ptrace(PTRACE_GETSIGMASK, tid, (void *)sizeof(*mask), mask) < 0 ? -errno : 0;
}

int pt_set_sigmask(pid_t tid, uint64_t mask)
{
	return ptrace(PTRACE_SETSIGMASK, tid, (void *)sizeof(mask), &mask) < 0 ? -errno : 0;
}

int pt_get_rseq(pid_t tid, struct ptrace_rseq_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	return ptrace(0x420f /* PTRACE_GET_RSEQ_CONFIGURATION */, tid, (void *)sizeof(*conf), conf) < 0 ? -errno : 0;
}

int pt_get_sud(pid_t tid, struct ptrace_sud_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	return ptrace(0x4211 /* PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG */, tid, (void *)sizeof(*conf), conf) < 0 ? -errno : 0;
}

int pt_set_sud(pid_t tid, const struct ptrace_sud_conf *conf)
{
	return ptrace(0x4210 /* PTRACE_SET_SYSCALL_USER_DISPATCH_CONFIG */, tid, (void *)sizeof(*conf), (void *)conf) < 0
		       ? -errno : 0;
}

int pt_peek_siginfo(pid_t tid, int shared, void **infos, size_t *n)
{
	size_t cap = 0, cnt = 0;
	uint8_t *buf = NULL;
	for (;;) {
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			uint8_t *nb = realloc(buf, cap * 128);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		struct peeksiginfo_args_k a = { .off = cnt, .flags = shared ? PTRACE_PEEKSIGINFO_SHARED : 0,
						.nr = (int32_t)(cap - cnt) };
		long r = ptrace(PTRACE_PEEKSIGINFO, tid, &a, buf + cnt * 128);
		if (r < 0) {
			free(buf);
			return -errno;
		}
		if (r == 0)
			break;
		cnt += r;
	}
	*infos = buf;
	*n = cnt;
	return 0;
}

static int cmp_pid(const void *a, const void *b)
{
	return *(const pid_t *)a - *(const pid_t *)b;
}

int list_threads(pid_t pid, pid_t **tids, size_t *n)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	_cleanup_closedir_ DIR *d = opendir(path);
	if (!d)
		return -errno;
	size_t cap = 8, cnt = 0;
	pid_t *arr = malloc(cap * sizeof(*arr));
	if (!arr)
		return -ENOMEM;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		if (cnt == cap) {
			pid_t *na = realloc(arr, (cap *= 2) * sizeof(*arr));
			if (!na) {
				free(arr);
				return -ENOMEM;
			}
			arr = na;
		}
		arr[cnt++] = atoi(de->d_name);
	}
	qsort(arr, cnt, sizeof(*arr), cmp_pid);
	*tids = arr;
	*n = cnt;
	return 0;
}
