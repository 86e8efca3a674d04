/* SPDX-License-Identifier: Apache-2.0 */
/* The registry of task-level objects and the /proc/PID/stat reader. */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "common/cleanup.h"
#include "common/util.h"
#include "engine/context.h"
#include "files/files.h"
#include "files/path.h"
#include "inject/ptrace.h"
#include "files/sktree.h"
#include "mem/mem.h"
#include "task/task.h"

/*
 * Order matters on restore: objects are restored in this order, files first (others may name
 * descriptors), credentials last (after them the task may lack the rights for the rest).
 */
const struct task_obj_ops *const task_objects[] = {
	&files_obj,
	&sockets_obj,		/* checks a socket's peers once every task's files are dumped */
	&fs_obj,	/* cwd and root (files/fs.c): after the files, whose entries they share */
	&locks_obj,
	&mm_obj,
	&thread_obj,
	&signals_obj,
	&misc_obj,
	&posix_timers_obj, &seccomp_obj,	/* filters go in before credentials drop CAP_SYS_ADMIN */
	&creds_obj,
	&fown_obj,	/* signal-driven I/O owners: after credentials, which the owner records */
	&prctl_obj,
	&sched_obj,	/* last: a low priority or a deadline would slow down what is still injected */
	NULL,
};

int ferry_has_cap(int cap)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	if (cap < 0 || cap > 63 || syscall(SYS_capget, &h, d) < 0)
		return 0;
	return (d[cap / 32].effective >> (cap % 32)) & 1;
}

Ferry__ProcAttrs *task_proc_attrs(struct dump_ctx *ctx, struct dtask *t)
{
	if (!t->core->attrs) {
		t->core->attrs = ARENA_NEW(&ctx->arena, Ferry__ProcAttrs);
		if (t->core->attrs)
			ferry__proc_attrs__init(t->core->attrs);
	}
	return t->core->attrs;
}

Ferry__ThreadAttrs *task_thread_attrs(struct dump_ctx *ctx, struct dthread *th)
{
	if (!th->core->attrs) {
		th->core->attrs = ARENA_NEW(&ctx->arena, Ferry__ThreadAttrs);
		if (th->core->attrs)
			ferry__thread_attrs__init(th->core->attrs);
	}
	return th->core->attrs;
}

int task_in_vfork(pid_t pid, pid_t tid)
{
	char path[96];
	_cleanup_free_ char *stat = NULL, *sc = NULL, *wchan = NULL;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	if (read_file(path, &stat, NULL) < 0)
		return 0;
	const char *p = strrchr(stat, ')');
	if (!p || p[1] != ' ' || p[2] != 'D')
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
	if (read_file(path, &sc, NULL) < 0)
		return 0;
	long nr = strtol(sc, NULL, 10);
	if (nr != SYS_vfork && nr != SYS_clone && nr != SYS_clone3)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/wchan", (int)pid, (int)tid);
	return read_file(path, &wchan, NULL) < 0 || !strcmp(wchan, "0") || strstr(wchan, "clone") || strstr(wchan, "vfork");
}

int task_live_threads(pid_t pid)
{
	pid_t *tids;
	size_t n;
	int live = 0;
	if (list_threads(pid, &tids, &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char path[96];
		_cleanup_free_ char *stat = NULL;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tids[i]);
		const char *p = tids[i] != pid && read_file(path, &stat, NULL) == 0 ? strrchr(stat, ')') : NULL;
		live += p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
	}
	free(tids);
	return live;
}

int task_read_stat(pid_t pid, int *ppid, int *pgid, int *sid, char *state)
{
	char path[64];
	_cleanup_free_ char *text = NULL;
	int r = read_file(PROC_PATH(path, pid, "stat"), &text, NULL);
	if (r < 0)
		return r;
	const char *p = strrchr(text, ')');	/* comm may hold spaces and parentheses */
	if (!p || sscanf(p + 2, "%c %d %d %d", state, ppid, pgid, sid) != 4)
		return -EIO;
	return 0;
}

int task_exit_code(pid_t pid)
{
	return (int)proc_stat_field(pid, 52);
}
