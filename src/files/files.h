/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Files and the descriptor table. Each kind of file is a module with an ops table (reg.c: regular
 * files, directories and files deleted while open; chr.c: character devices and the caller's
 * terminal; pipe.c, unix.c, …). files.c walks /proc/PID/fd, asks each module whether the fd is
 * its kind, and keeps descriptors that share one open file description — in one task or across
 * tasks — under one file id.
 *
 * Dump: each fd is also stolen into ferry with pidfd_getfd(), so a module can inspect the object
 * with ordinary syscalls (MSG_PEEK, tee(), getsockopt…) without injecting anything.
 * Restore: every open file description is created once, in ferry (ops->open), before any task
 * exists; the tasks then receive it (inherited by the root task, fetched with pidfd_getfd by
 * injection in forked ones) at the right fd number. What must be done inside the task once its
 * table is complete (epoll registrations, POSIX locks) is ops->install, by injection.
 */
#pragma once
#include <sys/stat.h>
#include "engine/context.h"

struct fd_info {
	int fd;
	const char *link;	/* readlink of /proc/PID/fd/N */
	struct stat st;		/* stat of the open file */
	uint64_t pos;
	uint32_t flags;		/* fdinfo flags, O_CLOEXEC removed */
	int cloexec;
	const char *fdinfo;	/* the whole /proc/PID/fdinfo/N text */
	int stolen;		/* ferry's duplicate of the task's fd (same open file description) */
};

struct file_ops {
	Ferry__FileKind kind;
	const char *name;
	int (*match)(const struct fd_info *fi, const struct dump_opts *o);
	/*
	 * Fills fe (kind-specific part, content that must travel). fe->flags and fe->pos are preset
	 * from fdinfo. Must not change the object as the task sees it (peek, do not read).
	 */
	int (*dump)(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe);
	/* In ferry, before any task exists: recreates the open file description; returns an fd. */
	int (*open)(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err);
	/* Optional, by injection into t (its leader) once t's whole table is in place. */
	int (*install)(struct restore_ctx *ctx, struct rtask *t, const Ferry__FdEntry *e, const Ferry__FileEntry *fe);
};

extern const struct file_ops reg_file_ops, dir_file_ops, chr_file_ops, tty_file_ops;
/* Optional modules: each file defines its ops; files.c lists them. */
extern const struct file_ops pipe_file_ops, unix_file_ops, inet_file_ops, eventfd_file_ops,
	signalfd_file_ops, timerfd_file_ops, epoll_file_ops, inotify_file_ops, memfd_file_ops, opath_file_ops;
extern const struct file_ops pty_file_ops;
extern const struct task_obj_ops files_obj, locks_obj;

#define FILES_MAX (1u << 22)	/* open file descriptions in one image */
#define FDS_MAX (1u << 20)	/* descriptors of one task, and the highest number (fs.nr_open) */
/* Validates the file table of an image and indexes it by id into ix (n log n; idx_free() it). */
int files_validate(const Ferry__Files *files, struct id_index *ix, struct ferry_err *err);
/* Validates a task's descriptor table: numbers in range and unique, every file in ix. */
int files_validate_fds(const struct id_index *ix, const Ferry__FdTable *fds, int pid, struct ferry_err *err);
/* Highest descriptor number the task had (-1 when none). */
int files_max_fd(const Ferry__FdTable *fds);
/* Strips flags that must not be replayed by open(2). */
int files_open_flags(uint32_t flags);
/* The value of "key:" in an fdinfo text, or NULL. */
const char *fdinfo_field(const struct fd_info *fi, const char *key);

/*
 * Objects created in pairs (the two ends of a pipe, a socketpair): the module that creates both
 * keeps the other end here under a key (e.g. the pipe inode) for the entry that comes later.
 * files_stash_take() returns -1 when nothing is stored. The stash owns the fds until taken.
 */
int files_stash_put(struct restore_ctx *ctx, uint64_t key, int fd);
int files_stash_take(struct restore_ctx *ctx, uint64_t key);
/* ferry's descriptor for file id (created by files_open_all), or -1. */
int files_master_fd(struct restore_ctx *ctx, uint32_t id);
/* The file entry with this id, or NULL (linear: the dump's table). */
const Ferry__FileEntry *files_find(const Ferry__Files *files, uint32_t id);
/* The same in a restore's image, through its index (ctx->file_idx). */
const Ferry__FileEntry *files_find_id(struct restore_ctx *ctx, uint32_t id);

/* Dumps an object that no fd names (a memfd only mapped): matched, dumped and added like an fd's. */
int files_dump_object(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, uint32_t *id);
/* By injection: gives the task a descriptor for ferry's fd (pidfd_getfd); *remote is its number. */
int files_fetch(struct restore_ctx *ctx, struct injector *inj, int fd, long *remote);

/* Restore stages (engine/restore.c): create every file in ferry; give a forked task its table. */
int files_open_all(struct restore_ctx *ctx);
int files_install_injected(struct restore_ctx *ctx, struct rtask *t);
int files_install_hooks(struct restore_ctx *ctx, struct rtask *t);
void files_close_all(struct restore_ctx *ctx);

/*
 * Objects that must outlive files_open_all (a memfd that memory restore maps again), kept by key
 * until files_close_all. files_kept() returns ferry's fd or -1; the registry owns it.
 */
int files_keep(struct restore_ctx *ctx, uint64_t key, int fd);
int files_kept(struct restore_ctx *ctx, uint64_t key);
/* The memfd module's key for a memfd inode, and its lookup/creation for a VMA at dump. */
#define MEMFD_KEY(ino) ((0x4dULL << 56) | ((ino) & ((1ULL << 56) - 1)))
/* The file object behind a mapping (a memfd or a deleted file), dumped once per inode. */
int files_dump_mapping(struct dump_ctx *ctx, struct dtask *t, int fd, const char *link, uint32_t *file_id);
const Ferry__FileEntry *memfd_find_by_ino(const Ferry__Files *files, uint64_t ino, int with_content);
int memfd_primary(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err);
/* A new descriptor in ferry for the object file_id names, to be mapped (writable if asked). */
int files_object_for_mapping(struct restore_ctx *ctx, uint32_t file_id, int writable, struct ferry_err *err);
