/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Socket calls made as someone else. The kernel records who made a unix connection: SO_PEERCRED
 * gives the pid and the effective uid/gid (SO_PEERGROUPS the groups) of the process that called
 * socketpair(), connect() or listen(). ferry makes every socket itself, so those calls run in a
 * short-lived child that shares ferry's descriptor table (CLONE_FILES), is created with the
 * original pid (clone3 set_tid: restore runs before any task exists, so the tree's pids are
 * free) and takes the original credentials. SCM_CREDENTIALS only names a pid that exists: a
 * placeholder process holds such a pid while messages are sent in its name.
 * A socket whose file was removed (or replaced, or whose directory went away) is bound where no
 * path leads: in a mount namespace of its own, on a tmpfs laid over the file's directory; that
 * namespace is kept (by fd) for the calls that must still reach it by name.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#define LOG_PREFIX "unix: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "files/unix-internal.h"

#define MAX_HELD 64

/* Placeholders holding pids for SCM_CREDENTIALS; per restore (thread), released before any task exists. */
static __thread pid_t held[MAX_HELD];
static __thread size_t nheld;

struct shared {
	int rc;
	int out[2];
};

static int do_op(struct ux_op *op, struct shared *sh)
{
	int r = 0;
	switch (op->kind) {
	case UXOP_SOCKETPAIR:
		r = socketpair(AF_UNIX, op->type | SOCK_CLOEXEC, 0, sh->out);
		break;
	case UXOP_CONNECT:
		r = connect(op->fd, (struct sockaddr *)&op->addr, op->alen);
		break;
	case UXOP_LISTEN:
		r = listen(op->fd, op->backlog);
		break;
	case UXOP_BIND:
		r = bind(op->fd, (struct sockaddr *)&op->addr, op->alen);
		break;
	case UXOP_SENDMSG:
		r = sendmsg(op->fd, op->msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -1 : 0;
		break;
	}
	return r < 0 ? -errno : 0;
}

static int become(const Ferry__UnixCred *c)
{
	gid_t groups[256];
	size_t n = c->n_groups < 256 ? c->n_groups : 256;
	for (size_t i = 0; i < n; i++)
		groups[i] = c->groups[i];
	if (syscall(SYS_setgroups, n, groups) < 0 || syscall(SYS_setresgid, c->gid, c->gid, c->gid) < 0 ||
	    syscall(SYS_setresuid, c->uid, c->uid, c->uid) < 0)
		return -errno;
	return 0;
}

static __attribute__((noreturn)) void child(const Ferry__UnixCred *c, int ns, struct ux_op *op, struct shared *sh)
{
	int r = 0;
	if (ns >= 0 && setns(ns, CLONE_NEWNS) < 0)
		r = -errno;
	if (r == 0 && op->cwd && chdir(op->cwd) < 0)
		r = -errno;
	if (r == 0 && c)
		r = become(c);
	if (r == 0)
		r = do_op(op, sh);
	sh->rc = r;
	_exit(0);
}

static void release_pid(pid_t pid)
{
	for (size_t i = 0; i < nheld; i++)
		if (held[i] == pid) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			held[i] = held[--nheld];
			return;
		}
}

/* clone3 with CLONE_FILES, as pid when given; -EEXIST when it is taken. */
static long clone_files(pid_t pid)
{
	struct clone_args ca = { .flags = CLONE_FILES, .exit_signal = SIGCHLD };
	if (pid > 0) {
		ca.set_tid = (uintptr_t)&pid;
		ca.set_tid_size = 1;
	}
	fflush(NULL);
	long r = syscall(SYS_clone3, &ca, sizeof(ca));
	return r < 0 ? -errno : r;
}

int uxh_run(const Ferry__UnixCred *cred, int ns, struct ux_op *op)
{
	if (!cred && ns < 0) {
		struct shared sh = { 0 };
		int r = do_op(op, &sh);
		memcpy(op->out, sh.out, sizeof(op->out));
		return r;
	}
	struct shared *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return -errno;
	pid_t want = cred && cred->pid > 0 && cred->pid != getpid() ? cred->pid : 0;
	release_pid(want);
	sh->rc = -ECHILD;
	long pid = clone_files(want);
	if (pid == -EEXIST) {
		pr_warn("pid %d is taken: a socket call it made is made by another pid (SO_PEERCRED differs)\n", want);
		pid = clone_files(0);
	}
	if (pid == 0)
		child(cred, ns, op, sh);
	int st, r = (int)pid;
	if (pid > 0) {
		while (waitpid((pid_t)pid, &st, 0) < 0 && errno == EINTR)
			;
		r = sh->rc;
		memcpy(op->out, sh->out, sizeof(op->out));
	}
	munmap(sh, 4096);
	return r;
}

/* ---------------------------------------------------------------- hidden binds */

/* In the new namespace: a tmpfs over dir or its nearest existing parent, then dir inside it. */
static int overlay_dir(const char *dir)
{
	char up[PATH_MAX];
	struct stat st;
	snprintf(up, sizeof(up), "%s", dir);
	while (stat(up, &st) < 0 || !S_ISDIR(st.st_mode)) {
		char *slash = strrchr(up, '/');
		if (!slash || slash == up) {
			snprintf(up, sizeof(up), "/");
			break;
		}
		*slash = 0;
	}
	if (mount("ferry-hidden", up, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
		return -errno;
	return mkdir_p(dir, 0755);
}

struct hidden_shared {
	int rc;
	int nsfd;
};

/* The directory the socket file goes in: dirname of the name, from cwd when it is relative. */
static void file_dir(const struct sockaddr_un *sa, socklen_t len, const char *cwd, char *out, size_t size)
{
	size_t nlen = len - offsetof(struct sockaddr_un, sun_path);
	while (nlen && !sa->sun_path[nlen - 1])
		nlen--;
	if (sa->sun_path[0] == '/' || !cwd)
		snprintf(out, size, "%.*s", (int)nlen, sa->sun_path);
	else
		snprintf(out, size, "%s/%.*s", cwd, (int)nlen, sa->sun_path);
	char *slash = strrchr(out, '/');
	if (slash && slash != out)
		*slash = 0;
	else
		snprintf(out, size, "/");
}

int uxh_bind_hidden(int fd, const struct sockaddr_un *sa, socklen_t len, const char *cwd)
{
	char dir[PATH_MAX];
	file_dir(sa, len, cwd, dir, sizeof(dir));
	struct hidden_shared *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return -errno;
	sh->rc = -ECHILD;
	long pid = clone_files(0);
	if (pid == 0) {
		int r = unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ? -errno : 0;
		if (r == 0)
			r = overlay_dir(dir);
		if (r == 0 && cwd && sa->sun_path[0] != '/' && (mkdir_p(cwd, 0755) < 0 || chdir(cwd) < 0))
			r = -errno;
		if (r == 0 && bind(fd, (const struct sockaddr *)sa, len) < 0)
			r = -errno;
		/* whoever connects to it later (as the original uid) may: nobody else can reach it */
		if (r == 0 && sa->sun_path[0] && chmod(sa->sun_path, 0777) < 0)
			r = -errno;
		if (r == 0 && (sh->nsfd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC)) < 0)
			r = -errno;
		sh->rc = r;
		_exit(0);
	}
	int r = (int)pid, st;
	if (pid > 0) {
		while (waitpid((pid_t)pid, &st, 0) < 0 && errno == EINTR)
			;
		r = sh->rc < 0 ? sh->rc : sh->nsfd;
	}
	munmap(sh, 4096);
	return r;
}

int uxh_hold_pid(pid_t pid)
{
	if (pid <= 0 || pid == getpid() || kill(pid, 0) == 0 || errno == EPERM)
		return 0;	/* it exists */
	if (nheld == MAX_HELD)
		uxh_release_pids();
	long r = clone_files(pid);	/* sharing the table: it holds no extra reference to any socket */
	if (r == 0) {
		for (;;)
			pause();
	}
	if (r < 0)
		return (int)r;
	held[nheld++] = pid;
	return 0;
}

void uxh_release_pids(void)
{
	while (nheld)
		release_pid(held[nheld - 1]);
}
