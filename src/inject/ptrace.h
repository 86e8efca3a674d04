/* SPDX-License-Identifier: Apache-2.0 */
/* Seizing, stopping, inspecting and releasing threads with ptrace. All calls return 0/-errno. */
#pragma once
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>
#include "common/error.h"

/* The kernel's struct for PTRACE_GET_RSEQ_CONFIGURATION (0x420f, Linux 5.13). */
struct ptrace_rseq_conf {
	uint64_t rseq_abi_pointer;
	uint32_t rseq_abi_size;
	uint32_t signature;
	uint32_t flags;
	uint32_t pad;
};

/* The kernel's struct for PTRACE_{GET,SET}_SYSCALL_USER_DISPATCH_CONFIG (0x4211/0x4210, Linux 6.11). */
struct ptrace_sud_conf {
	uint64_t mode;				/* 0: off */
	uint64_t selector;
	uint64_t offset;
	uint64_t len;
};

/*
 * Seizes tid and brings it to a PTRACE_EVENT_STOP (PTRACE_SEIZE + PTRACE_INTERRUPT): a stop the
 * thread leaves cleanly if the tracer dies. *stopsig (may be NULL) gets the signal of the group
 * stop the thread was in (SIGSTOP, SIGTSTP…), 0 if it was running. A thread that does not stop
 * within 10 s, or by deadline (a now_us() time; 0: none), is -ETIMEDOUT: the kernel lets it go
 * when ferry exits.
 */
int pt_seize(pid_t tid, int *stopsig, uint64_t deadline, struct ferry_err *err);
/*
 * Waits until tid reports a stop; returns the raw wait status in *status. -ESRCH if it died, or
 * if its process is gone. Reports of other tracees met meanwhile are kept for their own waits.
 * It waits on every child and tracee of the calling thread (__WNOTHREAD): a thread that runs an
 * operation should have no other child whose status it means to collect itself.
 */
int pt_wait_stop(pid_t tid, int *status);
/* The same without waiting: -EAGAIN if tid has not stopped. */
int pt_try_stop(pid_t tid, int *status);
/* Forgets kept reports (at the start of an operation: TIDs are reused). */
void pt_reports_clear(void);
/* 1 if tid no longer exists or is a zombie. */
int pt_thread_gone(pid_t tid);
int pt_detach(pid_t tid, int sig);
/* Puts registers and signal mask back and detaches (interrupting it first if it runs); 0 if gone. */
int pt_release(pid_t tid, const struct user_regs_struct *regs, uint64_t sigmask);
int pt_getregs(pid_t tid, struct user_regs_struct *regs);
int pt_setregs(pid_t tid, const struct user_regs_struct *regs);
/* XSAVE area; *len in: buffer size, out: bytes the kernel filled. */
int pt_get_xsave(pid_t tid, void *buf, size_t *len);
int pt_set_xsave(pid_t tid, const void *buf, size_t len);
int pt_get_sigmask(pid_t tid, uint64_t *mask);
int pt_set_sigmask(pid_t tid, uint64_t mask);
int pt_get_rseq(pid_t tid, struct ptrace_rseq_conf *conf);
/* Syscall user dispatch; -EINVAL or -EIO from a kernel without these requests. */
int pt_get_sud(pid_t tid, struct ptrace_sud_conf *conf);
int pt_set_sud(pid_t tid, const struct ptrace_sud_conf *conf);

/* Queued signals (shared = process-wide queue) as a malloc'd array of 128-byte siginfo_t. */
int pt_peek_siginfo(pid_t tid, int shared, void **infos, size_t *n);

/* The threads of pid, from /proc/PID/task (malloc'd). */
int list_threads(pid_t pid, pid_t **tids, size_t *n);
