/* SPDX-License-Identifier: Apache-2.0 */
/* Syscall injection: a `syscall` instruction in the target, single-stepped or run under PTRACE_SYSCALL. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>
#define LOG_PREFIX "inject: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "inject/ptrace.h"
#include "inject/syscall.h"

#define ERESTARTSYS 512
#define ERESTART_RESTARTBLOCK 516

int inj_open(struct injector *inj, pid_t tid, uint64_t sc_addr, struct ferry_err *err)
{
	char path[64];
	memset(inj, 0, sizeof(*inj));
	inj->tid = tid;
	inj->sc_addr = sc_addr;
	inj->memfd = -1;
	int r = pt_getregs(tid, &inj->base);
	if (r < 0)
		return fe_set(err, r, "read registers of thread %d", tid);
	snprintf(path, sizeof(path), "/proc/%d/mem", tid);
	inj->memfd = open(path, O_RDWR | O_CLOEXEC);
	if (inj->memfd < 0)
		return fe_set(err, errno, "open %s", path);
	return 0;
}

/*
 * Resumes the thread with request req and waits for its next stop that is not a ptrace event
 * (a clone's child is noted in event_child: the call has not returned yet). 0 and the wait
 * status in *st, or -errno.
 */
static int next_stop(struct injector *inj, int req, int *st)
{
	for (int guard = 0; guard < 1000; guard++) {
		if (ptrace(req, inj->tid, NULL, NULL) < 0)
			return -errno;
		int r = pt_wait_stop(inj->tid, st);
		if (r < 0)
			return r;
		int event = *st >> 16;
		if (event == PTRACE_EVENT_CLONE || event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK) {
			unsigned long msg = 0;
			ptrace(PTRACE_GETEVENTMSG, inj->tid, NULL, &msg);
			inj->event_child = (pid_t)msg;
		}
		if (!event)
			return 0;
	}
	return -ELOOP;
}

static void stash(struct injector *inj, int sig)
{
	if (inj->nstashed < (int)(sizeof(inj->stashed) / sizeof(inj->stashed[0])))
		inj->stashed[inj->nstashed++] = sig;
	pr_debug("thread %d: stashed signal %d during injection\n", inj->tid, sig);
}

/* The fast way, for a thread whose SIGTRAP nobody uses (inj->trap_ok): single-step the instruction. */
static int step_over_syscall(struct injector *inj, struct user_regs_struct *out)
{
	for (int guard = 0; guard < 1000; guard++) {
		int st, r = next_stop(inj, PTRACE_SINGLESTEP, &st);
		if (r < 0)
			return r;
		if (WSTOPSIG(st) != SIGTRAP) {
			stash(inj, WSTOPSIG(st));
			continue;
		}
		if ((r = pt_getregs(inj->tid, out)) < 0)
			return r;
		if (out->rip == inj->sc_addr + 2) {
			inj->in_syscall_stop = 0;
			return 0;
		}
		if (out->rip != inj->sc_addr)
			return -EFAULT;
	}
	return -ELOOP;
}

/* A syscall-stop, as opposed to a real SIGTRAP (man 2 ptrace: si_code SIGTRAP or SIGTRAP|0x80). */
static int is_syscall_stop(pid_t tid, int st)
{
	siginfo_t si;
	if (WSTOPSIG(st) == (SIGTRAP | 0x80))
		return 1;
	if (WSTOPSIG(st) != SIGTRAP || ptrace(PTRACE_GETSIGINFO, tid, NULL, &si) < 0)
		return 0;
	return si.si_code == SIGTRAP || si.si_code == (SIGTRAP | 0x80);
}

/*
 * The exact way: run the syscall at RIP under PTRACE_SYSCALL, a stop at its entry, one at its
 * exit (twice the cost of a step). No signal is raised in the task. A single-step raises a
 * SIGTRAP the kernel forces through: a blocked or ignored SIGTRAP's handler is reset to SIG_DFL
 * and unblocked (every signal is blocked while injecting), and a SIGTRAP already pending would be
 * taken for the step's.
 */
static int run_syscall(struct injector *inj, struct user_regs_struct *out)
{
	int entered = 0;
	for (int guard = 0; guard < 1000; guard++) {
		int st, r = next_stop(inj, PTRACE_SYSCALL, &st);
		if (r < 0)
			return r;
		if (!is_syscall_stop(inj->tid, st)) {
			stash(inj, WSTOPSIG(st));
			continue;
		}
		if (!entered) {
			entered = 1;
			continue;
		}
		inj->in_syscall_stop = 1;
		if ((r = pt_getregs(inj->tid, out)) < 0)
			return r;
		return out->rip == inj->sc_addr + 2 ? 0 : -EFAULT;
	}
	return -ELOOP;
}

int inj_syscall(struct injector *inj, long *ret, long nr, const unsigned long a[6], struct ferry_err *err)
{
	for (int attempt = 0; attempt < 16; attempt++) {
		struct user_regs_struct regs = inj->base, after;
		regs.rax = nr;
		regs.orig_rax = (unsigned long)-1;
		regs.rdi = a[0];
		regs.rsi = a[1];
		regs.rdx = a[2];
		regs.r10 = a[3];
		regs.r8 = a[4];
		regs.r9 = a[5];
		regs.rip = inj->sc_addr;
		int r = pt_setregs(inj->tid, &regs);
		if (r < 0)
			return fe_set(err, r, "thread %d: set registers for syscall %ld", inj->tid, nr);
		r = inj->trap_ok ? step_over_syscall(inj, &after) : run_syscall(inj, &after);
		if (r < 0)
			return fe_set(err, r, "thread %d: inject syscall %ld", inj->tid, nr);
		long rv = (long)after.rax;
		/* Interrupted by a signal that we stashed: run it again. */
		if (rv <= -ERESTARTSYS && rv >= -ERESTART_RESTARTBLOCK)
			continue;
		*ret = rv;
		return 0;
	}
	return fe_msg(err, EINTR, "thread %d: syscall %ld kept being interrupted", inj->tid, nr);
}

int inj_write(struct injector *inj, uint64_t addr, const void *buf, size_t len)
{
	return pwrite_full(inj->memfd, buf, len, (off_t)addr);
}

int inj_read(struct injector *inj, uint64_t addr, void *buf, size_t len)
{
	return pread_full(inj->memfd, buf, len, (off_t)addr);
}

uint64_t inj_scratch_put(struct injector *inj, size_t off, const void *buf, size_t len)
{
	if (!inj->scratch || off + len > inj->scratch_len)
		return 0;
	if (inj_write(inj, inj->scratch + off, buf, len) < 0)
		return 0;
	return inj->scratch + off;
}

/*
 * A thread resumed from a syscall-exit stop skips the kernel's syscall-restart logic (it runs on
 * the signal path only): one stopped inside a sleep would see -ERESTARTSYS. A seized thread is
 * parked at a PTRACE_EVENT_STOP instead, as it was when seized. (At restore the tasks are not
 * seized, and their final registers need no restart logic.)
 */
static int park_in_signal_path(struct injector *inj)
{
	if (ptrace(PTRACE_INTERRUPT, inj->tid, NULL, NULL) < 0)
		return errno == EIO ? 0 : -errno;
	int sig = 0;
	for (int guard = 0; guard < 100; guard++) {
		int st, r;
		if (ptrace(PTRACE_CONT, inj->tid, NULL, (void *)(long)sig) < 0)
			return -errno;
		if ((r = pt_wait_stop(inj->tid, &st)) < 0)
			return r;
		if ((st >> 16) == PTRACE_EVENT_STOP)
			return 0;
		sig = 0;
		if (!(st >> 16))
			stash(inj, WSTOPSIG(st));
	}
	return -ELOOP;
}

int inj_finish(struct injector *inj)
{
	if (!inj->tid)
		return 0;
	int r = pt_setregs(inj->tid, &inj->base);
	if (r == 0 && inj->in_syscall_stop)
		r = park_in_signal_path(inj);
	inj->in_syscall_stop = 0;
	inj_close(inj);
	return r;
}

void inj_close(struct injector *inj)
{
	if (inj->memfd >= 0)
		close(inj->memfd);
	inj->memfd = -1;
}

int find_syscall_insn(pid_t pid, uint64_t start, uint64_t end, uint64_t *addr)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = end - start;
	_cleanup_free_ uint8_t *buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	int r = pread_full(fd, buf, len, (off_t)start);
	if (r < 0)
		return r;
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] == 0x0f && buf[i + 1] == 0x05) {
			*addr = start + i;
			return 0;
		}
	}
	return -ENOENT;
}

/*
 * A `syscall` instruction to inject with: in [vdso] if the task has one, else in any executable
 * mapping (a program may unmap its vdso, or run on a kernel booted with vdso=0). Executing
 * `0f 05` works wherever the two bytes sit, on an instruction boundary or not.
 */
int find_syscall_in_maps(pid_t pid, const char *maps, uint64_t *addr)
{
	for (int pass = 0; pass < 2; pass++)
		for (const char *l = maps; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
			unsigned long long s, e;
			char perms[5];
			const char *nl = strchr(l, '\n');
			const char *v = strstr(l, "[vdso]");
			int is_vdso = v && (!nl || v < nl);
			if (sscanf(l, "%llx-%llx %4s", &s, &e, perms) != 3 || perms[2] != 'x' || is_vdso != !pass)
				continue;
			if (strstr(l, "[vsyscall]") && (!nl || strstr(l, "[vsyscall]") < nl))
				continue;	/* execute-only, emulated: not readable or steppable */
			if (find_syscall_insn(pid, s, e, addr) == 0)
				return 0;
		}
	return -ENOENT;
}
