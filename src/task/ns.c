/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What containers will need of a task, recorded at dump and not restored yet (docs/IMAGES.md):
 * its PID at every PID namespace level (NSpid), the namespaces it is in (/proc/PID/ns), its
 * cgroups (/proc/PID/cgroup).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "common/cleanup.h"
#include "common/util.h"
#include "engine/context.h"
#include "task/task.h"

int task_ns_pids(struct dump_ctx *ctx, struct dtask *t)
{
	char path[64];
	_cleanup_free_ char *own = NULL;
	const char *status = t->status;
	if (!status) {	/* a zombie's status was not read */
		if (read_file(PROC_PATH(path, t->pid, "status"), &own, NULL) < 0)
			return 0;
		status = own;
	}
	const char *l = strstr(status, "\nNSpid:");
	if (!l)
		return 0;
	l += 7;
	size_t n = 0;
	for (const char *p = l; *p && *p != '\n'; p++)
		n += (*p == ' ' || *p == '\t') && p[1] >= '0' && p[1] <= '9';
	int32_t *v = ARENA_ARRAY(&ctx->arena, int32_t, n + 1);
	if (!v)
		return fe_set(ctx->err, ENOMEM, "pid %d: NSpid", t->pid);
	t->pstree->n_ns_pids = 0;
	for (char *e; t->pstree->n_ns_pids < n; l = e) {
		long x = strtol(l, &e, 10);
		if (e == l)
			break;
		v[t->pstree->n_ns_pids++] = (int32_t)x;
	}
	t->pstree->ns_pids = v;
	return 0;
}

static void ns_ino(pid_t pid, const char *ns, protobuf_c_boolean *has, uint64_t *v)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns);
	if (stat(path, &st) == 0) {
		*has = 1;
		*v = st.st_ino;
	}
}

static int ns_cgroups(struct dump_ctx *ctx, struct dtask *t)
{
	char path[64];
	_cleanup_free_ char *text = NULL;
	if (read_file(PROC_PATH(path, t->pid, "cgroup"), &text, NULL) < 0)
		return 0;	/* no cgroups mounted */
	size_t n = 0;
	for (const char *p = text; *p; p++)
		n += *p == '\n';
	char **v = ARENA_ARRAY(&ctx->arena, char *, n + 1);
	if (!v)
		return fe_set(ctx->err, ENOMEM, "pid %d: cgroups", t->pid);
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && t->core->n_cgroups < n;
	     l = strtok_r(NULL, "\n", &save))
		if (!(v[t->core->n_cgroups++] = arena_strdup(&ctx->arena, l)))
			return fe_set(ctx->err, ENOMEM, "pid %d: cgroups", t->pid);
	t->core->cgroups = v;
	return 0;
}

static int ns_dump(struct dump_ctx *ctx, struct dtask *t)
{
	Ferry__NsIds *ns = ARENA_NEW(&ctx->arena, Ferry__NsIds);
	if (!ns)
		return fe_set(ctx->err, ENOMEM, "pid %d: namespaces", t->pid);
	ferry__ns_ids__init(ns);
	ns_ino(t->pid, "pid", &ns->has_pid, &ns->pid);
	ns_ino(t->pid, "mnt", &ns->has_mnt, &ns->mnt);
	ns_ino(t->pid, "net", &ns->has_net, &ns->net);
	ns_ino(t->pid, "ipc", &ns->has_ipc, &ns->ipc);
	ns_ino(t->pid, "uts", &ns->has_uts, &ns->uts);
	ns_ino(t->pid, "user", &ns->has_user, &ns->user);
	ns_ino(t->pid, "cgroup", &ns->has_cgroup, &ns->cgroup);
	ns_ino(t->pid, "time", &ns->has_time, &ns->time);
	ns_ino(t->pid, "pid_for_children", &ns->has_pid_for_children, &ns->pid_for_children);
	ns_ino(t->pid, "time_for_children", &ns->has_time_for_children, &ns->time_for_children);
	t->core->ns = ns;
	return ns_cgroups(ctx, t);
}

const struct task_obj_ops ns_obj = {
	.name = "namespaces",
	.dump = ns_dump,
};
