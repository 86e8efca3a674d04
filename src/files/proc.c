/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Files and directories under /proc/PID of a task of the tree (/proc/self/status, a child's
 * /proc/PID/stat, /proc/PID/task/TID/...). They can only be opened once the task exists, so they
 * are reopened by path, with their flags and offset, after the whole tree is restored. One of a
 * process outside the tree is refused: nothing says the restored tree would find it.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define LOG_PREFIX "proc: "
#include "common/log.h"
#include "files/files.h"

/* The pid in "/proc/PID/...", or 0 when path is no such path. */
static pid_t path_pid(const char *path, const char **rest)
{
	if (strncmp(path, "/proc/", 6) != 0 || !isdigit((unsigned char)path[6]))
		return 0;
	char *end;
	long pid = strtol(path + 6, &end, 10);
	if (*end && *end != '/' && *end != ' ')
		return 0;
	if (rest)
		*rest = end;
	return (pid_t)pid;
}

static int on_procfs(const struct stat *st)
{
	struct stat ps;
	return stat("/proc/self", &ps) == 0 && ps.st_dev == st->st_dev;
}

static int proc_match(const struct fd_info *fi, const struct dump_opts *o)
{
	return path_pid(fi->link, NULL) > 0 && on_procfs(&fi->st);
}

static int proc_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	const char *rest;
	pid_t pid = path_pid(fi->link, &rest);
	if (!files_in_tree(ctx, pid, 1))
		return fe_msg(ctx->err, EOPNOTSUPP, "a file of process %d, which is not in the dumped tree: it cannot "
			      "be restored", pid);
	if (strncmp(rest, "/task/", 6) == 0) {
		pid_t tid = atoi(rest + 6);
		if (tid > 0 && !files_in_tree(ctx, tid, 1))
			return fe_msg(ctx->err, EOPNOTSUPP, "a file of thread %d, which is not in the dumped tree", tid);
	}
	if (strstr(fi->link, " (deleted)"))
		return fe_msg(ctx->err, EOPNOTSUPP, "a /proc file of a process that has exited is not supported");
	fe->path = arena_strdup(&ctx->arena, fi->link);
	fe->has_mode = 1;
	fe->mode = fi->st.st_mode;
	return fe->path ? 0 : fe_set(ctx->err, ENOMEM, "proc entry");
}

static int proc_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	pid_t pid = fe->path ? path_pid(fe->path, NULL) : 0;
	if (pid <= 0)
		return fe_msg(err, EBADMSG, "files.img: /proc file %u has no /proc/PID path", fe->id);
	int flags = files_open_flags(fe->flags) | O_CLOEXEC | (S_ISDIR(fe->mode) ? O_DIRECTORY : 0);
	int fd = open(fe->path, flags);
	if (fd < 0)
		return fe_set(err, errno, "open %s", fe->path);
	if (fe->has_pos && fe->pos && lseek(fd, (off_t)fe->pos, SEEK_SET) < 0) {
		int e = errno;
		close(fd);
		return fe_set(err, e, "seek %s to %llu", fe->path, (unsigned long long)fe->pos);
	}
	return fd;
}

const struct file_ops proc_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_PROC, .name = "/proc file", .phase = FILE_OPEN_LATE,
	.match = proc_match, .dump = proc_dump, .open = proc_open,
};
