/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pidfds. One of a task or thread of the tree (live or a zombie) is reopened with pidfd_open()
 * once every task exists, with its flags (PIDFD_NONBLOCK, PIDFD_THREAD). One of a process that
 * exited and was reaped ("Pid: -1") gets a stand-in: ferry forks a child, opens every pidfd of
 * that dead process on it, makes it exit as the original did (PIDFD_GET_INFO gives the status)
 * and reaps it. A pidfd of a process outside the tree is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#define LOG_PREFIX "pidfd: "
#include "common/log.h"
#include "common/cleanup.h"
#include "files/files.h"

#define PIDFD_THREAD_FLAG O_EXCL	/* PIDFD_THREAD */
#define PIDFD_OPEN_FLAGS (O_NONBLOCK | PIDFD_THREAD_FLAG)
#define KEY_DEAD(id) ((0x50ULL << 56) | (uint64_t)(id))

/* PIDFD_GET_INFO (Linux 6.13; the exit status since 6.15), defined here for older headers. */
struct pidfd_info_k {
	uint64_t mask, cgroupid;
	uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
	int32_t exit_code;
	uint32_t coredump_mask, pad;
};
#define PIDFD_GET_INFO_K _IOWR(0xFF, 11, struct pidfd_info_k)
#define PIDFD_INFO_EXIT_K (1ULL << 3)

static int pidfd_match(const struct fd_info *fi, const struct dump_opts *o)
{
	return strcmp(fi->link, "anon_inode:[pidfd]") == 0;
}

/* The exit status of a dead process, from its pidfd; -1 when the kernel does not tell. */
static int dead_status(int fd)
{
	struct pidfd_info_k info = { .mask = PIDFD_INFO_EXIT_K };
	if (ioctl(fd, PIDFD_GET_INFO_K, &info) < 0 || !(info.mask & PIDFD_INFO_EXIT_K))
		return -1;
	return info.exit_code;
}

static int pidfd_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	const char *v = fdinfo_field(fi, "Pid"), *ns = fdinfo_field(fi, "NSpid");
	if (!v)
		return fe_msg(ctx->err, EIO, "no Pid in the pidfd's fdinfo");
	int pid = atoi(v), thread = !!(fi->flags & PIDFD_THREAD_FLAG);
	if (pid == 0 || (ns && strchr(ns, '\t')))
		return fe_msg(ctx->err, EOPNOTSUPP, "a pidfd of a process in another pid namespace is not supported");
	if (pid > 0 && !files_in_tree(ctx, pid, thread))
		return fe_msg(ctx->err, EOPNOTSUPP, "a pidfd of %s %d, which is not in the dumped tree: it cannot be "
			      "restored", thread ? "thread" : "process", pid);
	Ferry__PidfdEntry *p = ARENA_NEW(&ctx->arena, Ferry__PidfdEntry);
	if (!p)
		return fe_set(ctx->err, ENOMEM, "pidfd entry");
	ferry__pidfd_entry__init(p);
	p->pid = pid;
	p->has_ino = 1;
	p->ino = fi->st.st_ino;
	if (pid < 0) {
		int st = dead_status(fi->stolen);
		p->has_exit_status = st >= 0;
		p->exit_status = st;
	}
	fe->pidfd = p;
	pr_debug("pid %d fd %d: pidfd of %d%s\n", t->pid, fi->fd, pid, pid < 0 ? " (dead)" : "");
	return 0;
}

/* The stand-in: waits for a byte on rd, then exits with status (a code, or killed by a signal). */
static __attribute__((noreturn)) void stand_in(int rd, int status)
{
	char c;
	struct rlimit nocore = { 0, 0 };
	setrlimit(RLIMIT_CORE, &nocore);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	while (read(rd, &c, 1) < 0 && errno == EINTR)
		;
	if (status >= 0 && WIFSIGNALED(status)) {
		signal(WTERMSIG(status), SIG_DFL);
		sigset_t all;
		sigfillset(&all);
		sigprocmask(SIG_UNBLOCK, &all, NULL);
		raise(WTERMSIG(status));
	}
	_exit(status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : 0);
}

/* Opens every pidfd of dead process ino (one per file entry) on a stand-in; stashed by file id. */
static int open_dead(struct restore_ctx *ctx, const Ferry__PidfdEntry *p, struct ferry_err *err)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return fe_set(err, errno, "pipe");
	pid_t kid = fork();
	if (kid == 0) {
		close(pfd[1]);
		stand_in(pfd[0], p->has_exit_status ? p->exit_status : -1);
	}
	close(pfd[0]);
	if (kid < 0) {
		close(pfd[1]);
		return fe_set(err, errno, "fork a stand-in for a dead process");
	}
	int r = 0;
	for (size_t i = 0; r == 0 && i < ctx->files->n_files; i++) {
		const Ferry__FileEntry *o = ctx->files->files[i];
		if (o->kind != FERRY__FILE_KIND__FILE_PIDFD || !o->pidfd || o->pidfd->pid >= 0 || o->pidfd->ino != p->ino)
			continue;
		int fd = syscall(SYS_pidfd_open, kid, (o->flags & PIDFD_OPEN_FLAGS) | 0);
		if (fd < 0 || files_stash_put(ctx, KEY_DEAD(o->id), fd) < 0)
			r = fe_set(err, fd < 0 ? errno : ENOMEM, "pidfd_open(%d) of a stand-in", kid);
	}
	close(pfd[1]);	/* it exits now */
	while (waitpid(kid, NULL, 0) < 0 && errno == EINTR)
		;
	return r;
}

static int pidfd_open_entry(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	const Ferry__PidfdEntry *p = fe->pidfd;
	if (!p)
		return fe_msg(err, EBADMSG, "files.img: pidfd %u without its pidfd part", fe->id);
	if (fe->flags & ~(O_ACCMODE | PIDFD_OPEN_FLAGS | 0100000 /* O_LARGEFILE */))
		return fe_msg(err, EBADMSG, "files.img: pidfd %u has flags %#o", fe->id, fe->flags);
	if (p->pid < 0) {
		int fd = files_stash_take(ctx, KEY_DEAD(fe->id)), r;
		if (fd < 0 && (r = open_dead(ctx, p, err)) < 0)
			return r;
		fd = fd < 0 ? files_stash_take(ctx, KEY_DEAD(fe->id)) : fd;
		return fd < 0 ? fe_msg(err, EBADF, "pidfd %u: no stand-in", fe->id) : fd;
	}
	if (!files_task(ctx, p->pid) && !(fe->flags & PIDFD_THREAD_FLAG))
		return fe_msg(err, EBADMSG, "files.img: pidfd of %d, which is not in the image", p->pid);
	int fd = syscall(SYS_pidfd_open, p->pid, fe->flags & PIDFD_OPEN_FLAGS);
	return fd < 0 ? fe_set(err, errno, "pidfd_open(%d)", p->pid) : fd;
}

const struct file_ops pidfd_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_PIDFD, .name = "pidfd", .phase = FILE_OPEN_LATE,
	.match = pidfd_match, .dump = pidfd_dump, .open = pidfd_open_entry,
};
