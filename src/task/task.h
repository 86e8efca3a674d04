/* SPDX-License-Identifier: Apache-2.0 */
/* Task-level objects (threads, signals, credentials, limits and the rest) and their helpers. */
#pragma once
#include <sys/user.h>
#include "engine/context.h"

extern const struct task_obj_ops thread_obj, signals_obj, creds_obj, misc_obj;
extern const struct task_obj_ops posix_timers_obj, seccomp_obj, sched_obj, prctl_obj;
/* task/ns.c: namespaces and cgroups, recorded for containers (dump only). */
extern const struct task_obj_ops ns_obj;
/* task/ns.c: t's PID at every PID namespace level into its pstree entry (zombies too). */
int task_ns_pids(struct dump_ctx *ctx, struct dtask *t);

Ferry__UserRegsX86 *regs_to_image(struct arena *a, const struct user_regs_struct *r);
void regs_from_image(struct user_regs_struct *r, const Ferry__UserRegsX86 *m);
/* Rewrites an interrupted-syscall state so the call re-runs; clears orig_rax. */
void regs_prepare_for_resume(struct user_regs_struct *r);
/*
 * At dump, an injector into one thread th of t (sharing the task's scratch area); put the
 * thread's registers back with inj_finish().
 */
int thread_inj_open(struct dump_ctx *ctx, struct dtask *t, struct dthread *th, struct injector *inj);
/* One thread's prctl state and securebits, through the dump's injector into it (task/prctl.c). */
int prctl_dump_thread(struct dump_ctx *ctx, struct dtask *t, struct dthread *th, struct injector *inj);
/* Puts the thread's registers back; returns r if it is an error, else 0 or that of the put-back. */
int thread_inj_close(struct dump_ctx *ctx, struct injector *inj, int r);
/* Registers, FPU state and signal mask: the last thing set before a thread is released. */
int thread_restore_final(struct restore_ctx *ctx, struct rthread *th);

/* 1 if the image has signo pending for t, process-wide or for one of its threads (task/signals.c). */
int signal_pending_in(const struct rtask *t, int signo);
/* 1 if no thread of pid handles, ignores or has pending a SIGTRAP: injection may single-step. */
int task_sigtrap_unused(pid_t pid);

/* The audit login uid of t (parent p, NULL for the root), set right after t is created. */
int misc_restore_loginuid(struct restore_ctx *ctx, struct rtask *t, const struct rtask *p);
/* Does ferry itself hold capability cap (effective)? */
int ferry_has_cap(int cap);
/* The process's ProcAttrs (taskattr.proto), made on first use; NULL without memory. */
Ferry__ProcAttrs *task_proc_attrs(struct dump_ctx *ctx, struct dtask *t);

/* A thread's ThreadAttrs, made on first use; NULL without memory. */
Ferry__ThreadAttrs *task_thread_attrs(struct dump_ctx *ctx, struct dthread *th);
/* At restore, before t's threads are cloned: its new time namespace for children, if it had one. */
int misc_restore_timens(struct restore_ctx *ctx, struct rtask *t);

/*
 * 1 if thread tid of pid waits in vfork() (or clone(CLONE_VFORK)) for a child that shares its
 * memory: no ptrace stop reaches it until that child calls exec or exits.
 */
int task_in_vfork(pid_t pid, pid_t tid);

/* Do threads of this process share seccomp filter objects? (task/seccomp-share.c) */
int seccomp_shares(const Ferry__SeccompState *st);
/* Clones t's threads so that they share their filters as they did (when seccomp_shares()). */
int seccomp_make_threads(struct restore_ctx *ctx, struct rtask *t);

/*
 * Syscall user dispatch: recorded per thread at dump (the dump's injector switches it off for
 * each of its calls only); set again as a restored thread is released.
 */
int task_sud_dump(struct dump_ctx *ctx, struct dtask *t);
int task_sud_restore(struct restore_ctx *ctx, struct rthread *th);

/* Threads of pid other than its leader that have not exited (a zombie leader may have some). */
int task_live_threads(pid_t pid);

/* Builds the pstree entry from /proc/PID/stat; 0/-errno. */
int task_read_stat(pid_t pid, int *ppid, int *pgid, int *sid, char *state);
/* A zombie's wait status (field 52 of /proc/PID/stat). */
int task_exit_code(pid_t pid);
