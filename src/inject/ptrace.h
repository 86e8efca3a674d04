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

/* Seizes tid and brings it to a ptrace stop (PTRACE_SEIZE + PTRACE_INTERRUPT). */
int pt_seize(pid_t tid, struct ferry_err *err);
/* Waits until tid reports a stop; returns the raw wait status in *status. -ESRCH if it died. */
int pt_wait_stop(pid_t tid, int *status);
int pt_detach(pid_t tid, int sig);
int pt_getregs(pid_t tid, struct user_regs_struct *regs);
int pt_setregs(pid_t tid, const struct user_regs_struct *regs);
/* XSAVE area; *len in: buffer size, out: bytes the kernel filled. */
int pt_get_xsave(pid_t tid, void *buf, size_t *len);
int pt_set_xsave(pid_t tid, const void *buf, size_t len);
int pt_get_sigmask(pid_t tid, uint64_t *mask);
int pt_set_sigmask(pid_t tid, uint64_t mask);
int pt_get_rseq(pid_t tid, struct ptrace_rseq_conf *conf);

/* Queued signals (shared = process-wide queue) as a malloc'd array of 128-byte siginfo_t. */
int pt_peek_siginfo(pid_t tid, int shared, void **infos, size_t *n);

/* The threads of pid, from /proc/PID/task (malloc'd). */
int list_threads(pid_t pid, pid_t **tids, size_t *n);
