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
 * exists — or, for files that name tasks (pidfds, /proc/PID files, namespaces), once every task
 * exists (FILE_OPEN_LATE); the tasks then fetch it with pidfd_getfd by injection at the right fd
 * number. A file only the task itself can open (/dev/tty: its controlling terminal) is opened
 * inside it (ops->open_task) and ferry takes a copy. What must be done inside the task once its
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
	int held;		/* fd < 0: stolen is a descriptor in flight ferry keeps (files_dump_held) */
};

/* When ops->open runs at restore. */
enum {
	FILE_OPEN_EARLY = 0,	/* before any task exists (the default) */
	FILE_OPEN_AFTER = 1,	/* the same, after every early file (it refers to them: inotify on a deleted file) */
	FILE_OPEN_LATE = 2,	/* once every task and thread exists (it names them) */
};

struct file_ops {
	Ferry__FileKind kind;
	const char *name;
	int phase;		/* FILE_OPEN_* */
	int callers;		/* the description is ferry's caller's (its terminal): its flags are left alone */
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
	/*
	 * Optional, instead of open: opens the file inside t by injection (the first task that holds
	 * it); *remote is its descriptor there. ferry then keeps a copy for the other holders.
	 */
	int (*open_task)(struct restore_ctx *ctx, struct rtask *t, const Ferry__FileEntry *fe, long *remote);
};

extern const struct file_ops reg_file_ops, dir_file_ops, chr_file_ops, tty_file_ops;
/* Optional modules: each file defines its ops; files.c lists them. */
extern const struct file_ops pipe_file_ops, unix_file_ops, inet_file_ops, eventfd_file_ops,
	signalfd_file_ops, timerfd_file_ops, epoll_file_ops, inotify_file_ops, memfd_file_ops, opath_file_ops;
extern const struct file_ops pty_file_ops, pidfd_file_ops, fanotify_file_ops, nsfd_file_ops, proc_file_ops,
	ctty_file_ops, netlink_file_ops, packet_file_ops;
extern const struct task_obj_ops files_obj, locks_obj, fown_obj;

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

/* The file id of the packet socket (inode ino) whose rings a task maps; -ENOENT if not dumped. */
int packet_file_for_mapping(struct dump_ctx *ctx, uint64_t ino, uint32_t *id);
/* Dumps an object that no fd names (a memfd only mapped): matched, dumped and added like an fd's. */
int files_dump_object(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, uint32_t *id);
/* By injection: gives the task a descriptor for ferry's fd (pidfd_getfd); *remote is its number. */
int files_fetch(struct restore_ctx *ctx, struct injector *inj, int fd, long *remote);
/* The first task (in tree order) holding file id, and its first fd for it; NULL when none. */
struct rtask *files_first_holder(struct restore_ctx *ctx, uint32_t id, int *fd);
/* The descriptor entry of fd in t's table, or NULL. */
const Ferry__FdEntry *files_fd_entry(const struct rtask *t, int fd);
/* The restore task with this pid, or NULL. */
struct rtask *files_task(struct restore_ctx *ctx, pid_t pid);
/*
 * Dump side: calls fn for every descriptor of every live task of the tree (with its stat) until
 * fn returns non-zero, which is returned.
 */
typedef int (*files_walk_fn)(pid_t pid, int fd, const char *proc_path, const struct stat *st, void *arg);
int files_tree_walk(struct dump_ctx *ctx, files_walk_fn fn, void *arg);
/* Dump side: whether pid is a task (or, with threads, a thread) of the dumped tree. */
int files_in_tree(const struct dump_ctx *ctx, pid_t pid, int threads);

/* The clone flags (CLONE_FILES, CLONE_FS) that fork t from its restored parent sharing what it shared. */
unsigned long files_clone_flags(const struct rtask *t);
/* Right after t exists (and has its session): what must precede its children (the controlling terminal). */
int files_task_created(struct restore_ctx *ctx, struct rtask *t);

/* files/fown.c: the owner, signal and O_ASYNC of a new open file description (dump). */
int fown_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe);
/* files/tty.c: the task's controlling terminal (dump), and its restore (see files_task_created). */
int tty_dump_ctty(struct dump_ctx *ctx, struct dtask *t);
/* tty_nr (the controlling terminal's device, 0 if none) and tpgid of /proc/PID/stat. */
int tty_read_ctty(pid_t pid, dev_t *tty, int *tpgid);
int tty_restore_ctty(struct restore_ctx *ctx, struct rtask *t);
int tty_restore_ctty_late(struct restore_ctx *ctx, struct rtask *t);
/* files/fhandle.c: the path of an inode named by a file handle in fdinfo (inotify, fanotify). */
struct fhandle_ref {
	const char *handle;	/* "fhandle-bytes:… fhandle-type:… f_handle:…" in fdinfo */
	dev_t dev;
	uint64_t ino;
};
/* 0 with *path (arena), 1 when the inode is deleted (no path), -errno with err filled. */
int fhandle_path(struct dump_ctx *ctx, const struct fhandle_ref *ref, char **path);
/* Whether the tree holds the (deleted) inode ino of device dev: a descriptor, a mapping, a cwd or root. */
int fhandle_tree_keeps(struct dump_ctx *ctx, uint64_t ino, dev_t dev);
/* At restore: a path to the restored deleted inode (or memfd) ino, through ferry's descriptor; NULL if none. */
const char *fhandle_deleted_path(struct restore_ctx *ctx, uint64_t ino, dev_t dev, char *buf, size_t len);
/* A mount point of the mount with this id (mountinfo), or of a mount of device dev; malloc'd. */
int mount_path_by_id(int mnt_id, char **path);
int mount_path_by_dev(dev_t dev, char **path);

/*
 * A descriptor ferry holds that no task's table names (received in flight with SCM_RIGHTS): its
 * file id — the one of the same open file description in some task (kcmp), or a new object. The
 * descriptor is kept (compared against later ones) until files_release_held().
 */
int files_dump_held(struct dump_ctx *ctx, struct dtask *t, int fd, uint32_t *id);
void files_release_held(struct dump_ctx *ctx);
/* Restore: ferry's descriptor for file id, opening it now if its turn has not come yet. */
int files_open_id(struct restore_ctx *ctx, uint32_t id);
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
/* A memfd_secret() object only mapped (no fd): dumped once per inode, content read through v. */
int memfd_dump_secret_mapping(struct dump_ctx *ctx, struct dtask *t, const Ferry__Vma *v, uint32_t *id);
/* Once every task has mapped its memfds: the seals that would have forbidden those mappings. */
int memfd_seal_deferred(struct restore_ctx *ctx);
/* A new descriptor in ferry for the object file_id names, to be mapped (writable if asked). */
int files_object_for_mapping(struct restore_ctx *ctx, uint32_t file_id, int writable, struct ferry_err *err);
