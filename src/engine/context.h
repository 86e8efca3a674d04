/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The contexts the dump and restore pipelines pass to every object module, and the ops table
 * each task-level object registers (task/core.c holds the list). An object module owns both its
 * dump and its restore:
 *   dump()            reads the object from the seized task (ptrace, /proc, injected syscalls);
 *   restore_inject()  runs from ferry by injection into the leader, once every task of the tree
 *                     exists with its memory and threads;
 *   restore_thread()  the same, once per thread;
 *   restore_late()    by injection, after every thread's state (credentials) is in place.
 */
#pragma once
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>
#include "common/arena.h"
#include "common/error.h"
#include "common/idindex.h"
#include "engine/engine.h"
#include "image/image.h"
#include "image/pagestore.h"
#include "image/source.h"
#include "inject/syscall.h"
#include "transport/progress.h"

/* Tree-level objects (engine/treeobj.h): each keeps its state in its slot of the context. */
#define TREE_OBJ_MAX 8

struct dthread {
	pid_t tid;
	int seized;
	struct user_regs_struct regs;	/* as stopped */
	uint64_t sigmask;		/* the thread's real mask */
	uint32_t securebits;		/* read with the rest of its prctl state (task/prctl.c) */
	Ferry__ThreadCore *core;
};

struct dtask {
	pid_t pid;
	int parent;			/* index in dump_ctx.tasks, -1 for the root */
	int zombie;
	int exit_code;			/* a zombie's wait status */
	int pidfd;
	struct dthread *threads;	/* threads[0] is the leader */
	size_t nthreads;
	uint64_t sc_addr;		/* a syscall instruction in its vdso */
	struct injector inj;		/* injection into the leader */
	int injecting;
	int stop_signal;		/* the group stop it was in (SIGSTOP, SIGTSTP…), 0 if running */
	int stop_waitable;		/* its parent has not collected that stop with waitid() yet */
	Ferry__TaskCore *core;
	Ferry__Mm *mm;
	Ferry__FdTable *fds;
	Ferry__Pagemap *pagemap;
	Ferry__PstreeEntry *pstree;
	char *status;			/* /proc/PID/status text */
	char *smaps;			/* mem/vma.c: /proc/PID/smaps, read for the whole tree at once */
	int smaps_err;
	void *page_ranges;		/* mem/pages.c: present pages per VMA, between scan and copy */
	void *parent_ranges;		/* mem/pages.c: present but unchanged since the previous image */
	uint8_t *written_only;		/* mem/pages.c: per VMA, every stored page was written since the protect */
	uint8_t *by_hash;		/* mem/pages.c: per VMA, pages hashed (1) and compared by hash (2) */
	uint64_t npages, nruns;
	int uffd;			/* mem/track.c: ferry's copy of the task's userfaultfd, or -1 */
	int pagemap_fd;
};

/* An fd seen in some task, for finding open file descriptions shared across tasks. */
struct fd_seen {
	pid_t pid;
	int fd;
	uint64_t dev, ino;
	uint32_t file_id;
};

struct dump_ctx {
	const struct dump_opts *opts;
	int dirfd;			/* the local image directory (logs; images, or their metadata when remote) */
	struct img_sink local_sink;
	struct img_sink tee_sink;	/* remote: to the page server, metadata also into dirfd */
	struct img_tee tee;
	struct img_sink *base_sink;	/* local, or the tee to a remote sink */
	struct img_sink *sink;		/* where image files go: base_sink, or a transform over it */
	struct img_ident ident;		/* this dump's identity, in every file's header */
	struct arena arena;
	struct dtask *tasks;		/* parents before children; tasks[0] is the root */
	size_t ntasks;
	struct fd_seen *seen;
	size_t nseen, capseen;
	uint32_t *seen_order;		/* indices of seen by (dev, ino), then kcmp's order (files/files.c) */
	size_t norder;
	Ferry__Files files;
	size_t cap_files;
	uint32_t next_file_id;
	uint32_t next_ghost_id;
	int pin_free;			/* read memory through /proc/PID/mem (see mem/pages.c) */
	int hash_track;			/* tracking by page hashes: no userfaultfd write-protect (mem/track.h) */
	struct progress progress;	/* pages copied, on a terminal after a second */
	pid_t old_holder;		/* mem/track.c: the previous image's tracking holder */
	pid_t new_holder;		/* mem/track.c: the holder this dump started (stopped if it fails) */
	uint64_t new_holder_start;
	int track_consumed;		/* mem/track.c: the previous holder's written bits were read */
	struct chain *prev;		/* the previous image (engine/chain.h), for pages in parent */
	void *shmem;			/* mem/shmem.c: shared memory objects met by the page scan */
	Ferry__DumpStats stats;
	uint64_t t_start, t_frozen, t_thawed;	/* t_thawed: the tree runs again or is killed */
	uint64_t freeze_deadline;	/* --timeout: t_frozen + the limit (engine/pstree.c); 0: none */
	int work_dirfd;			/* -W: dump.log and stats-dump.img; -1: dirfd */
	struct sk_dump *sk;		/* files/sktree.c: sockets checked once the whole tree is dumped */
	struct path_dump *paths;	/* files/reg.c, ghost.c: mounts seen, hidden links made (removed if the dump fails) */
	void *tree[TREE_OBJ_MAX];	/* engine/treeobj.h: each tree-level object's own state */
	struct ferry_err *err;
};

struct rthread {
	pid_t tid;
	Ferry__ThreadCore *core;
	int attached;
	struct injector inj;
	int resume;			/* how an interrupted sleep resumes (task/thread.c) */
};

struct rtask {
	pid_t pid;
	int parent;			/* index in restore_ctx.tasks, -1 for the root */
	int zombie;
	Ferry__TaskCore *core;
	Ferry__Mm *mm;
	Ferry__FdTable *fds;
	Ferry__Pagemap *pagemap;
	Ferry__PstreeEntry *pstree;
	struct page_store ps;
	struct rthread *threads;	/* threads[0] is the leader */
	size_t nthreads;
	int *kept;			/* mem/mm.c: per VMA, inherited from the parent (prot + 1) or 0 */
	uint64_t tramp;			/* trampoline page: `syscall; int3` then scratch */
	int alive;
	int mem_ready;			/* memory and mm restored: it may fork its children */
	int threads_made;
};

struct stash_ent {
	uint64_t key;
	int fd;
};

struct restore_ctx {
	const struct restore_opts *opts;
	int dirfd;
	struct img_src src;		/* every image file is read through it (decoded if encoded) */
	Ferry__Inventory *inv;
	Ferry__Pstree *pstree;
	Ferry__Files *files;
	struct id_index file_idx;	/* files->files by id (files_validate) */
	struct id_index memfd_idx;	/* memfd entries carrying a content, by inode (files/memfd.c) */
	struct rtask *tasks;		/* parents before children; tasks[0] is the root */
	size_t ntasks;
	int *master;			/* per files->files[i]: ferry's descriptor for it */
	struct stash_ent *stash;
	size_t nstash;
	struct stash_ent *kept;
	size_t nkept;
	struct chain *chain;		/* the parent images (engine/chain.h), if any */
	struct progress progress;	/* pages restored, on a terminal after a second */
	struct filler *filler;		/* writes pages into the tasks (mem/fill.h) */
	int pages_checked;		/* every run was checked before any task was made */
	uint64_t fill_busy0;		/* the filler's busy time once the pages were checked */
	uint64_t n_inj, inj_us;		/* injected calls (rst_inject) and the time they took */
	Ferry__RestoreStats stats;
	int tty_fd;			/* the caller's terminal, for --shell-job (-1 if none) */
	int late_opened;		/* files/files.c: files opened once the tasks exist are open */
	int unix_built;			/* files/unix-restore.c: every unix socket made (into the stash) */
	struct sk_restore *skr;		/* files/sktree.c: unix-pending.img, its files merged into files */
	pid_t restorer_pid;
	pid_t restorer_ppid;
	int sibling;			/* the root is the restorer's sibling (engine/restore-child.c) */
	int hold_fd;			/* sibling: its end of a socketpair with ferry */
	int work_dirfd;			/* -W: restore.log and stats-restore.img; -1: dirfd */
	struct path_restore *paths;	/* files/reg.c, ghost.c: boot check, hidden links to remove once restored */
	void *tree[TREE_OBJ_MAX];	/* engine/treeobj.h: each tree-level object's own state */
	struct ferry_err *err;
};

struct task_obj_ops {
	const char *name;
	int (*dump)(struct dump_ctx *ctx, struct dtask *t);
	int (*restore_inject)(struct restore_ctx *ctx, struct rtask *t);
	int (*restore_thread)(struct restore_ctx *ctx, struct rtask *t, struct rthread *th);
	int (*restore_late)(struct restore_ctx *ctx, struct rtask *t);
};

/* The registered task-level objects, in the order they are dumped and restored. */
extern const struct task_obj_ops *const task_objects[];

/* -ECANCELED (with the error set) once the caller asked the dump to stop (opts->cancel). */
int dump_cancelled(struct dump_ctx *ctx);

/* Injected call helpers that turn a failed syscall into an error naming the call. */
int dump_inject(struct dump_ctx *ctx, struct dtask *t, long *ret, const char *what, long nr, const unsigned long a[6]);
#define DINJ(ctx, t, ret, what, nr, ...) \
	dump_inject((ctx), (t), (ret), (what), (nr), (const unsigned long[6]){ __VA_ARGS__ })
int rst_inject(struct restore_ctx *ctx, struct injector *inj, long *ret, const char *what, long nr,
	       const unsigned long a[6]);
#define RINJ(ctx, inj, ret, what, nr, ...) \
	rst_inject((ctx), (inj), (ret), (what), (nr), (const unsigned long[6]){ __VA_ARGS__ })

/* Trampoline in the restored task: page 0 holds `syscall; int3`, the rest is scratch. */
#define TRAMP_SIZE (4 * 4096)
#define TRAMP_SCRATCH_OFF 4096
