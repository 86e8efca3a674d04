/* SPDX-License-Identifier: Apache-2.0 */
/* The registry of task-level objects and the /proc/PID/stat reader. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/cleanup.h"
#include "common/util.h"
#include "engine/context.h"
#include "files/files.h"
#include "files/path.h"
#include "mem/mem.h"
#include "task/task.h"

/*
 * Order matters on restore: objects are restored in this order, files first (others may name
 * descriptors), credentials last (after them the task may lack the rights for the rest).
 */
const struct task_obj_ops *const task_objects[] = {
	&files_obj,
	&fs_obj,	/* cwd and root (files/fs.c): after the files, whose entries they share */
	&locks_obj,
	&mm_obj,
	&thread_obj,
	&signals_obj,
	&misc_obj,
	&posix_timers_obj, &seccomp_obj,	/* filters go in before credentials drop CAP_SYS_ADMIN */
	&creds_obj,
	NULL,
};

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
