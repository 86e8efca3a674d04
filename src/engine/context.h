/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The contexts the dump and restore pipelines pass to every object module, and the ops table
 * each task-level object registers (task/core.c holds the list). An object module owns both its
 * dump and its restore:
 *   dump()            reads the object from the seized task (ptrace, /proc, injected syscalls);
 *   restore_self()    runs inside the new task before it stops, with its own syscalls;
 *   restore_inject()  runs from ferry by injection, once memory is in place;
 *   restore_thread()  the same, once per thread;
 *   restore_late()    by injection, after every thread's state (credentials) is in place.
 */
#pragma once
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>
#include "common/arena.h"
#include "common/error.h"
#include "engine/engine.h"
#include "image/image.h"
#include "image/pagestore.h"
#include "inject/syscall.h"

struct dthread {
	pid_t tid;
	int seized;
	struct user_regs_struct regs;	/* as stopped */
	uint64_t sigmask;		/* the thread's real mask */
	Ferry__ThreadCore *core;
};

struct dtask {
	pid_t pid;
	struct dthread *threads;	/* threads[0] is the leader */
	size_t nthreads;
	uint64_t sc_addr;		/* a syscall instruction in its vdso */
	struct injector inj;		/* injection into the leader */
	int injecting;
	Ferry__TaskCore *core;
	Ferry__Mm *mm;
	Ferry__FdTable *fds;
	Ferry__Pagemap *pagemap;
	Ferry__PstreeEntry *pstree;
	char *status;			/* /proc/PID/status text */
};

struct dump_ctx {
	const struct dump_opts *opts;
	int dirfd;
	struct arena arena;
	struct dtask task;
	Ferry__Files files;
	uint32_t next_file_id;
	uint32_t next_ghost_id;
	Ferry__DumpStats stats;
	uint64_t t_start, t_frozen;
	struct ferry_err *err;
};

struct rthread {
	pid_t tid;
	Ferry__ThreadCore *core;
	int attached;
	struct injector inj;
};

struct rtask {
	pid_t pid;
	Ferry__TaskCore *core;
	Ferry__Mm *mm;
	Ferry__FdTable *fds;
	Ferry__Pagemap *pagemap;
	Ferry__PstreeEntry *pstree;
	struct page_store ps;
	struct rthread *threads;	/* threads[0] is the leader */
	size_t nthreads;
	int remote_pages_fd;		/* the page store, open in the new task */
	uint64_t tramp;			/* trampoline page: `syscall; int3` then scratch */
	int alive;
};

struct restore_ctx {
	const struct restore_opts *opts;
	int dirfd;
	Ferry__Inventory *inv;
	Ferry__Pstree *pstree;
	Ferry__Files *files;
	struct rtask task;
	Ferry__RestoreStats stats;
	int tty_fd;			/* the caller's terminal, for --shell-job (-1 if none) */
	pid_t restorer_pid;
	struct inherit_fd *inherit_moved;	/* --inherit-fd descriptors as renumbered in the new task */
	struct ferry_err *err;
};

struct task_obj_ops {
	const char *name;
	int (*dump)(struct dump_ctx *ctx, struct dtask *t);
	int (*restore_self)(struct restore_ctx *ctx, struct rtask *t, struct ferry_err *err);
	int (*restore_inject)(struct restore_ctx *ctx, struct rtask *t);
	int (*restore_thread)(struct restore_ctx *ctx, struct rtask *t, struct rthread *th);
	int (*restore_late)(struct restore_ctx *ctx, struct rtask *t);
};

/* The registered task-level objects, in the order they are dumped and restored. */
extern const struct task_obj_ops *const task_objects[];

/* Injected call helpers that turn a failed syscall into an error naming the call. */
int dump_inject(struct dump_ctx *ctx, long *ret, const char *what, long nr, const unsigned long a[6]);
#define DINJ(ctx, ret, what, nr, ...) dump_inject((ctx), (ret), (what), (nr), (const unsigned long[6]){ __VA_ARGS__ })
int rst_inject(struct restore_ctx *ctx, struct injector *inj, long *ret, const char *what, long nr,
	       const unsigned long a[6]);
#define RINJ(ctx, inj, ret, what, nr, ...) \
	rst_inject((ctx), (inj), (ret), (what), (nr), (const unsigned long[6]){ __VA_ARGS__ })

/* Scratch layout in the dumped task (one page set, mapped for the duration of the dump). */
#define DUMP_SCRATCH_SIZE (4 * 4096)
/* Trampoline in the restored task: page 0 holds `syscall; int3`, the rest is scratch. */
#define TRAMP_SIZE (4 * 4096)
#define TRAMP_SCRATCH_OFF 4096
