/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Syscall injection into a stopped thread: point RIP at a `syscall` instruction in the target,
 * load the arguments, run it, read RAX. It runs under PTRACE_SYSCALL, which raises no signal in
 * the task, or, where the caller says SIGTRAP is unused (trap_ok), faster by single-stepping.
 * No code blob is injected. The thread's own registers are kept in `base` and put back by
 * inj_finish(). Remote memory goes through /proc/TID/mem.
 *
 * Seized mode (dump: the thread was seized and must run on untouched whatever happens to ferry):
 * each call takes the thread out of a PTRACE_EVENT_STOP and puts it back into one, with its own
 * registers, signal mask, syscall user dispatch and every byte of its memory as they were, in
 * either way of running the call. Signals are blocked (and dispatch off) only for the call, and
 * the scratch area is *borrowed*: bytes of the task's own private writable memory, saved, used
 * for the call and written back right after it; what the caller reads and writes of the scratch
 * area is a shadow copy in ferry. So if the tracer dies between two calls the kernel detaches a
 * thread that resumes as if never seized. Only the call itself (a single step, or the two
 * syscall-stops: tens of microseconds) is not safe against the death of the tracer.
 */
#pragma once
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>
#include "common/error.h"
#include "inject/ptrace.h"

#define INJ_BORROW_MAX 512	/* bytes of scratch a seized-mode call may use */

struct injector {
	pid_t tid;
	uint64_t sc_addr;			/* a `0f 05` pair in the target */
	struct user_regs_struct base;		/* registers to put back */
	uint64_t sigmask;			/* the thread's mask when opened */
	int memfd;				/* /proc/TID/mem */
	uint64_t scratch;			/* remote scratch area, 0 if none */
	size_t scratch_len;
	pid_t event_child;			/* tid reported by a PTRACE_EVENT_CLONE during the last call */
	int stashed[16];			/* signals that arrived while injecting */
	int nstashed;
	int in_syscall_stop;			/* left at a syscall-exit stop by the last call */
	int trap_ok;				/* SIGTRAP unused by the task: single-step (fast) */
	int seized;				/* seized mode (above) */
	int borrowed;				/* the scratch area is the task's own memory */
	struct ptrace_sud_conf sud;		/* seized: the thread's syscall user dispatch */
	uint8_t orig[INJ_BORROW_MAX];		/* borrowed: its real content */
	uint8_t shadow[INJ_BORROW_MAX];		/* borrowed: the scratch area as the caller sees it */
};

/* Prepares injection into the stopped thread tid using the syscall instruction at sc_addr. */
int inj_open(struct injector *inj, pid_t tid, uint64_t sc_addr, struct ferry_err *err);
/* The same for a thread seized with pt_seize() (seized mode), stopped in a PTRACE_EVENT_STOP. */
int inj_open_seized(struct injector *inj, pid_t tid, uint64_t sc_addr, struct ferry_err *err);
/* Seized mode: uses len bytes at addr (private, writable, in the task) as the scratch area. */
int inj_borrow_scratch(struct injector *inj, uint64_t addr, size_t len, struct ferry_err *err);
/* Another thread of the same task uses src's scratch area and way of running calls (trap_ok). */
void inj_share_scratch(struct injector *dst, const struct injector *src);
/* Runs syscall nr with up to six arguments; *ret gets the raw return (-errno on failure). */
int inj_syscall(struct injector *inj, long *ret, long nr, const unsigned long args[6], struct ferry_err *err);
#define INJ(inj, ret, err, nr, ...) inj_syscall((inj), (ret), (nr), (const unsigned long[6]){ __VA_ARGS__ }, (err))
/*
 * Not seized (a restored thread): starts the blocking call nr (a sleep) and, once the thread
 * sleeps in it, interrupts it with a SIGSTOP that is then discarded, so that the kernel keeps the
 * call's restart block in the thread (the deadline of a relative nanosleep). *ret: the raw return,
 * -ERESTART_RESTARTBLOCK (-516) if interrupted, else what the call returned having run to its end.
 * The thread is left in a signal-delivery stop, its registers to be set by the caller.
 */
int inj_syscall_interrupted(struct injector *inj, long *ret, long nr, const unsigned long args[6],
			    struct ferry_err *err);
int inj_write(struct injector *inj, uint64_t addr, const void *buf, size_t len);
int inj_read(struct injector *inj, uint64_t addr, void *buf, size_t len);
/* Copies buf into the scratch area at offset off and returns its remote address (0 if it won't fit). */
uint64_t inj_scratch_put(struct injector *inj, size_t off, const void *buf, size_t len);
/* Puts the saved registers back; closes the mem fd. Safe to call twice. */
int inj_finish(struct injector *inj);
void inj_close(struct injector *inj);

/* Finds a `syscall` instruction inside [start, end) of pid's memory (e.g. its [vdso]). */
int find_syscall_insn(pid_t pid, uint64_t start, uint64_t end, uint64_t *addr);
/* One in [vdso], or else in any other executable mapping of maps (pid's /proc maps text). */
int find_syscall_in_maps(pid_t pid, const char *maps, uint64_t *addr);
