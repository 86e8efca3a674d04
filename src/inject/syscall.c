/* SPDX-License-Identifier: Apache-2.0 */
/* Syscall injection: a `syscall` instruction in the target, single-stepped or run under PTRACE_SYSCALL. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
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
	if (r == 0)
		r = pt_get_sigmask(tid, &inj->sigmask);
	if (r < 0)
		return fe_set(err, r, "read registers of thread %d", tid);
	snprintf(path, sizeof(path), "/proc/%d/mem", tid);
	inj->memfd = open(path, O_RDWR | O_CLOEXEC);
	if (inj->memfd < 0)
		return fe_set(err, errno, "open %s", path);
	return 0;
}

int inj_open_seized(struct injector *inj, pid_t tid, uint64_t sc_addr, struct ferry_err *err)
{
	int r = inj_open(inj, tid, sc_addr, err);
	inj->seized = 1;
	if (r == 0 && pt_get_sud(tid, &inj->sud) < 0)
		inj->sud.mode = 0;	/* a kernel without it */
	return r;
}

int inj_borrow_scratch(struct injector *inj, uint64_t addr, size_t len, struct ferry_err *err)
{
	if (len > INJ_BORROW_MAX)
		len = INJ_BORROW_MAX;
	int r = pread_full(inj->memfd, inj->orig, len, (off_t)addr);
	if (r < 0)
		return fe_set(err, r, "thread %d: read its memory at %#llx", inj->tid, (unsigned long long)addr);
	memcpy(inj->shadow, inj->orig, len);
	inj->scratch = addr;
	inj->scratch_len = len;
	inj->borrowed = 1;
	return 0;
}

void inj_share_scratch(struct injector *dst, const struct injector *src)
{
	dst->scratch = src->scratch;
	dst->scratch_len = src->scratch_len;
	dst->borrowed = src->borrowed;
	dst->trap_ok = src->trap_ok;
	memcpy(dst->orig, src->orig, sizeof(dst->orig));
	memcpy(dst->shadow, src->shadow, sizeof(dst->shadow));
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

/* Whether a call with these arguments may read or write the scratch area. */
static int uses_scratch(const struct injector *inj, const unsigned long a[6])
{
	for (int i = 0; inj->borrowed && i < 6; i++)
		if (a[i] >= inj->scratch && a[i] < inj->scratch + inj->scratch_len)
			return 1;
	return 0;
}

/*
 * Moves the thread from the stop the call left it in (a single step's SIGTRAP signal-delivery
 * stop, or a syscall-exit stop) into a PTRACE_EVENT_STOP on the signal path, running none of its
 * code. Both stops are unsafe to be left in: a tracer that dies there leaves the stop's SIGTRAP
 * to the task (the kernel sends it on the way out of a syscall-stop, delivers it out of a
 * signal-delivery stop). From an event stop the thread resumes as if never stopped, and on its
 * way out the kernel's syscall-restart logic sees its own registers: one stopped inside a sleep
 * sleeps on, where resuming straight from a syscall-exit stop would return -ERESTARTSYS to it.
 * A thread not seized (PTRACE_TRACEME at restore) has no event stop: 0, left where it is.
 */
static int park(struct injector *inj)
{
	if (ptrace(PTRACE_INTERRUPT, inj->tid, NULL, NULL) < 0)
		return errno == EIO ? 0 : -errno;
	for (int guard = 0; guard < 100; guard++) {
		int st, r;
		if (ptrace(PTRACE_CONT, inj->tid, NULL, NULL) < 0)
			return -errno;
		if ((r = pt_wait_stop(inj->tid, &st)) < 0)
			return r;
		if ((st >> 16) == PTRACE_EVENT_STOP) {
			inj->in_syscall_stop = 0;
			return 0;
		}
		if (!(st >> 16))
			stash(inj, WSTOPSIG(st));	/* not expected: the trap comes before any signal */
	}
	return -ELOOP;
}

/*
 * Seized mode: signals blocked and syscall user dispatch off for the call only; the borrowed
 * bytes hold the caller's view (only for a call that points into them: the fewer calls in the
 * window, the better).
 */
static int enter(struct injector *inj, const struct user_regs_struct *regs, int scratch)
{
	static const struct ptrace_sud_conf off;
	int r;
	if (inj->seized && (r = pt_set_sigmask(inj->tid, ~0ULL)) < 0)
		return r;
	if (inj->seized && inj->sud.mode && (r = pt_set_sud(inj->tid, &off)) < 0)
		return r;
	if (scratch && (r = pwrite_full(inj->memfd, inj->shadow, inj->scratch_len, (off_t)inj->scratch)) < 0)
		return r;
	return pt_setregs(inj->tid, regs);
}

/* Seized mode: the call's output into the shadow, then memory, registers, mask, dispatch as they were; parked. */
static int leave(struct injector *inj, int ran, int scratch)
{
	if (!inj->seized)
		return 0;
	int r = 0, r2;
	if (scratch) {
		if (ran)
			r = pread_full(inj->memfd, inj->shadow, inj->scratch_len, (off_t)inj->scratch);
		r2 = pwrite_full(inj->memfd, inj->orig, inj->scratch_len, (off_t)inj->scratch);
		r = r < 0 ? r : r2;
	}
	r2 = pt_setregs(inj->tid, &inj->base);
	r = r < 0 ? r : r2;
	r2 = pt_set_sigmask(inj->tid, inj->sigmask);
	r = r < 0 ? r : r2;
	r2 = inj->sud.mode ? pt_set_sud(inj->tid, &inj->sud) : 0;
	r = r < 0 ? r : r2;
	r2 = park(inj);
	return r < 0 ? r : r2;
}

/* The thread's base registers set up to run syscall nr with arguments a at the syscall instruction. */
static void call_regs(const struct injector *inj, struct user_regs_struct *regs, long nr, const unsigned long a[6])
{
	*regs = inj->base;
	regs->rax = nr;
	regs->orig_rax = (unsigned long)-1;
	regs->rdi = a[0];
	regs->rsi = a[1];
	regs->rdx = a[2];
	regs->r10 = a[3];
	regs->r8 = a[4];
	regs->r9 = a[5];
	regs->rip = inj->sc_addr;
}

int inj_syscall(struct injector *inj, long *ret, long nr, const unsigned long a[6], struct ferry_err *err)
{
	for (int attempt = 0; attempt < 16; attempt++) {
		struct user_regs_struct regs, after;
		call_regs(inj, &regs, nr, a);
		int scratch = uses_scratch(inj, a);
		int r = enter(inj, &regs, scratch);
		if (r == 0)
			r = inj->trap_ok ? step_over_syscall(inj, &after) : run_syscall(inj, &after);
		int r2 = leave(inj, r == 0, scratch);
		if (r < 0)
			return fe_set(err, r, "thread %d: inject syscall %ld", inj->tid, nr);
		if (r2 < 0)
			return fe_set(err, r2, "thread %d: put its state back after syscall %ld", inj->tid, nr);
		long rv = (long)after.rax;
		/* Interrupted by a signal that we stashed: run it again. */
		if (rv <= -ERESTARTSYS && rv >= -ERESTART_RESTARTBLOCK)
			continue;
		*ret = rv;
		return 0;
	}
	return fe_msg(err, EINTR, "thread %d: syscall %ld kept being interrupted", inj->tid, nr);
}

/* 1 once the thread sleeps (in the call it was started in), from /proc/TID/stat. */
static int thread_sleeps(pid_t tid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", tid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	const char *p = strrchr(buf, ')');
	return p && p[1] && p[2] == 'S';
}

/* Lets the started call run until the thread sleeps in it (1) or stops (0, *st), within 10 s. */
static int until_asleep(struct injector *inj, int *st)
{
	for (int i = 0; i < 20000; i++) {
		int r = pt_try_stop(inj->tid, st);
		if (r != -EAGAIN)
			return r < 0 ? r : 0;
		if (thread_sleeps(inj->tid))
			return 1;
		usleep(500);
	}
	return -ETIMEDOUT;
}

/* Resumes with PTRACE_SYSCALL until a syscall-stop (1) or, with want_sig, that signal's stop (0). */
static int next_syscall_stop(struct injector *inj, int want_sig)
{
	for (int guard = 0; guard < 1000; guard++) {
		int st, r = next_stop(inj, PTRACE_SYSCALL, &st);
		if (r < 0)
			return r;
		if (is_syscall_stop(inj->tid, st) && !want_sig)
			return 1;
		if (want_sig && WSTOPSIG(st) == want_sig)
			return 0;
		if (!is_syscall_stop(inj->tid, st))
			stash(inj, WSTOPSIG(st));
	}
	return -ELOOP;
}

static int interrupt_call(struct injector *inj, struct user_regs_struct *after)
{
	int st, r = next_syscall_stop(inj, 0);	/* the call's entry */
	if (r < 0)
		return r;
	if (ptrace(PTRACE_SYSCALL, inj->tid, NULL, NULL) < 0)
		return -errno;
	int asleep = until_asleep(inj, &st);
	if (asleep < 0)
		return asleep;
	if (asleep && syscall(SYS_tkill, inj->tid, SIGSTOP) < 0)
		return -errno;
	if (asleep && (r = pt_wait_stop(inj->tid, &st)) < 0)
		return r;
	if (!is_syscall_stop(inj->tid, st))	/* the exit stop comes before any signal's */
		return -EPROTO;
	if ((r = pt_getregs(inj->tid, after)) < 0)
		return r;
	inj->in_syscall_stop = 1;
	if (!asleep)
		return 0;
	r = next_syscall_stop(inj, SIGSTOP);	/* its delivery stop: discarded by the next resume */
	if (r == 0)
		inj->in_syscall_stop = 0;
	return r < 0 ? r : 0;
}

int inj_syscall_interrupted(struct injector *inj, long *ret, long nr, const unsigned long a[6], struct ferry_err *err)
{
	struct user_regs_struct regs, after;
	if (inj->seized)
		return fe_msg(err, EINVAL, "thread %d: interrupted calls are for restored threads", inj->tid);
	call_regs(inj, &regs, nr, a);
	int r = pt_setregs(inj->tid, &regs);
	if (r == 0)
		r = interrupt_call(inj, &after);
	if (r < 0)
		return fe_set(err, r, "thread %d: start and interrupt syscall %ld", inj->tid, nr);
	*ret = (long)after.rax;
	return 0;
}

static int in_shadow(const struct injector *inj, uint64_t addr, size_t len)
{
	return inj->borrowed && addr >= inj->scratch && addr + len <= inj->scratch + inj->scratch_len;
}

int inj_write(struct injector *inj, uint64_t addr, const void *buf, size_t len)
{
	if (in_shadow(inj, addr, len)) {
		memcpy(inj->shadow + (addr - inj->scratch), buf, len);
		return 0;
	}
	return pwrite_full(inj->memfd, buf, len, (off_t)addr);
}

int inj_read(struct injector *inj, uint64_t addr, void *buf, size_t len)
{
	if (in_shadow(inj, addr, len)) {
		memcpy(buf, inj->shadow + (addr - inj->scratch), len);
		return 0;
	}
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

int inj_finish(struct injector *inj)
{
	if (!inj->tid)
		return 0;
	int r = pt_setregs(inj->tid, &inj->base);
	if (r == 0 && inj->in_syscall_stop)
		r = park(inj);	/* not seized: at a syscall-exit stop still */
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
 * mapping (a program may unmap its vdso, or run on a kernel booted with vdso=0), read-only ones
 * before writable ones (JIT code the task may rewrite). Executing `0f 05` works wherever the two
 * bytes sit, on an instruction boundary or not.
 */
int find_syscall_in_maps(pid_t pid, const char *maps, uint64_t *addr)
{
	for (int pass = 0; pass < 3; pass++)
		for (const char *l = maps; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
			unsigned long long s, e;
			char perms[5];
			const char *nl = strchr(l, '\n');
			const char *v = strstr(l, "[vdso]");
			int is_vdso = v && (!nl || v < nl);
			if (sscanf(l, "%llx-%llx %4s", &s, &e, perms) != 3 || perms[2] != 'x' || is_vdso != !pass ||
			    (pass && (perms[1] == 'w') != (pass == 2)))
				continue;
			if (strstr(l, "[vsyscall]") && (!nl || strstr(l, "[vsyscall]") < nl))
				continue;	/* execute-only, emulated: not readable or steppable */
			if (find_syscall_insn(pid, s, e, addr) == 0)
				return 0;
		}
	return -ENOENT;
}
