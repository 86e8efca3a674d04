/* SPDX-License-Identifier: Apache-2.0 */
/* Thin, errno-returning wrappers over ptrace(2) and /proc/PID/task. */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#define LOG_PREFIX "ptrace: "
#include "common/log.h"
#include "common/cleanup.h"
#include "inject/ptrace.h"

#ifndef PTRACE_PEEKSIGINFO_SHARED
#define PTRACE_PEEKSIGINFO_SHARED 1
#endif
struct peeksiginfo_args_k {
	uint64_t off;
	uint32_t flags;
	int32_t nr;
};

int pt_wait_stop(pid_t tid, int *status)
{
	for (;;) {
		int st;
		pid_t r = waitpid(tid, &st, __WALL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st))
			return -ESRCH;
		*status = st;
		return 0;
	}
}

int pt_seize(pid_t tid, struct ferry_err *err)
{
	if (ptrace(PTRACE_SEIZE, tid, NULL, (void *)(long)PTRACE_O_SUSPEND_SECCOMP) < 0 &&
	    ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0)
		return fe_set(err, errno, "seize thread %d", tid);
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0)
		return fe_set(err, errno, "interrupt thread %d", tid);
	for (;;) {
		int st;
		int r = pt_wait_stop(tid, &st);
		if (r < 0)
			return fe_set(err, r, "wait for thread %d to stop", tid);
		if (WIFSTOPPED(st) && (st >> 16) == PTRACE_EVENT_STOP)
			return 0;
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
