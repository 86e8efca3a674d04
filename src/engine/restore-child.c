/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The first instructions of a restored tree: the root task is created by clone3(set_tid) as a
 * copy of ferry. It only makes itself a blank, quiet task — every signal blocked, every action
 * default, no descriptors, its own session or group if it had one — then asks to be traced and
 * stops (a sibling of ferry waits to be seized instead). Everything else is done to it by
 * injection (engine/restore.c).
 */
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "engine/restore-child.h"

void restore_child_main(struct restore_ctx *ctx, struct rtask *t)
{
	static const uint64_t dfl[4] = { 0 };
	uint64_t all = ~0ULL;

	/* Raw calls only: this is a copy of ferry mid-clone3, and glibc's state is not ours to trust. */
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, 8);
	for (int sig = 1; sig < 65; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, dfl, NULL, 8);
	if (!ctx->sibling)
		syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);	/* until traced: die with ferry */
	if (syscall(SYS_getppid) != (ctx->sibling ? ctx->restorer_ppid : ctx->restorer_pid))
		syscall(SYS_exit_group, 4);
	if (t->pstree->sid == t->pid)
		syscall(SYS_setsid);
	else if (t->pstree->pgid == t->pid)
		syscall(SYS_setpgid, 0, 0);
	if (ctx->sibling) {
		/* Say we are set up, then wait in read() until ferry seizes us; EOF: ferry is gone. */
		char c = 'r';
		if (ctx->hold_fd > 0)
			syscall(SYS_close_range, 0, ctx->hold_fd - 1, 0);
		syscall(SYS_close_range, ctx->hold_fd + 1, ~0U, 0);
		syscall(SYS_write, ctx->hold_fd, &c, 1);
		syscall(SYS_read, ctx->hold_fd, &c, 1);
		syscall(SYS_exit_group, 7);
	}
	syscall(SYS_close_range, 0, ~0U, 0);
	if (syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0) < 0)
		syscall(SYS_exit_group, 5);
	syscall(SYS_kill, t->pid, SIGSTOP);
	syscall(SYS_exit_group, 6);	/* never reached: ferry takes the task over while it is stopped */
	__builtin_unreachable();
}
