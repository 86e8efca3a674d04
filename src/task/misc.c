/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The small per-process state: rlimits, umask, cwd and root, personality, interval timers,
 * parent-death signal, dumpable flag and child-subreaper flag.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>
#define LOG_PREFIX "misc: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "engine/context.h"
#include "task/task.h"

static const char *const rlimit_names[RLIM_NLIMITS] = {
	"Max cpu time", "Max file size", "Max data size", "Max stack size", "Max core file size",
	"Max resident set", "Max processes", "Max open files", "Max locked memory", "Max address space",
	"Max file locks", "Max pending signals", "Max msgqueue size", "Max nice priority",
	"Max realtime priority", "Max realtime timeout",
};

static uint64_t parse_limit(const char *s)
{
	while (*s == ' ')
		s++;
	return strncmp(s, "unlimited", 9) == 0 ? RLIM_INFINITY : strtoull(s, NULL, 10);
}

/* /proc/PID/limits: root lacks CAP_SYS_RESOURCE here, so prlimit() on other uids is refused. */
static int dump_rlimits(struct dump_ctx *ctx, struct dtask *t)
{
	char path[64];
	_cleanup_free_ char *text = NULL;
	int r = read_file(PROC_PATH(path, t->pid, "limits"), &text, NULL);
	if (r < 0)
		return fe_set(ctx->err, r, "read %s", path);
	Ferry__TaskCore *c = t->core;
	c->rlimits = ARENA_ARRAY(&ctx->arena, Ferry__Rlimit *, RLIM_NLIMITS);
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		for (int res = 0; res < RLIM_NLIMITS; res++) {
			size_t n = strlen(rlimit_names[res]);
			if (strncmp(line, rlimit_names[res], n) || line[n] != ' ')
				continue;
			/* columns: name (26 chars), soft (21), hard (21), units */
			if (strlen(line) < 47)
				break;
			Ferry__Rlimit *rl = ARENA_NEW(&ctx->arena, Ferry__Rlimit);
			ferry__rlimit__init(rl);
			rl->resource = res;
			rl->cur = parse_limit(line + 26);
			rl->max = parse_limit(line + 47);
			c->rlimits[c->n_rlimits++] = rl;
			break;
		}
	}
	return 0;
}

static int dump_itimers(struct dump_ctx *ctx, struct dtask *t)
{
	Ferry__TaskCore *c = t->core;
	c->itimers = ARENA_ARRAY(&ctx->arena, Ferry__Itimer *, 3);
	for (int which = 0; which < 3; which++) {
		long ret;
		struct itimerval iv;
		int r = DINJ(ctx, t, &ret, "read interval timer", SYS_getitimer, which, t->inj.scratch);
		if (r < 0)
			return r;
		r = inj_read(&t->inj, t->inj.scratch, &iv, sizeof(iv));
		if (r < 0)
			return fe_set(ctx->err, r, "read interval timer of pid %d", t->pid);
		if (!iv.it_value.tv_sec && !iv.it_value.tv_usec && !iv.it_interval.tv_sec && !iv.it_interval.tv_usec)
			continue;
		Ferry__Itimer *it = ARENA_NEW(&ctx->arena, Ferry__Itimer);
		ferry__itimer__init(it);
		it->which = which;
		it->interval_us = iv.it_interval.tv_sec * 1000000ULL + iv.it_interval.tv_usec;
		it->value_us = iv.it_value.tv_sec * 1000000ULL + iv.it_value.tv_usec;
		c->itimers[c->n_itimers++] = it;
	}
	return 0;
}

static int dump_prctls(struct dump_ctx *ctx, struct dtask *t)
{
	Ferry__TaskCore *c = t->core;
	long ret;
	int r = DINJ(ctx, t, &ret, "read dumpable", SYS_prctl, PR_GET_DUMPABLE);
	if (r < 0)
		return r;
	c->has_dumpable = 1;
	c->dumpable = ret;
	r = DINJ(ctx, t, &ret, "read parent-death signal", SYS_prctl, PR_GET_PDEATHSIG, t->inj.scratch);
	if (r < 0)
		return r;
	int v = 0;
	inj_read(&t->inj, t->inj.scratch, &v, sizeof(v));
	c->has_pdeath_sig = 1;
	c->pdeath_sig = v;
	r = DINJ(ctx, t, &ret, "read child-subreaper flag", SYS_prctl, PR_GET_CHILD_SUBREAPER, t->inj.scratch);
	if (r < 0)
		return r;
	v = 0;
	inj_read(&t->inj, t->inj.scratch, &v, sizeof(v));
	c->has_child_subreaper = 1;
	c->child_subreaper = !!v;
	return 0;
}

static int misc_dump(struct dump_ctx *ctx, struct dtask *t)
{
	char path[64], *s;
	Ferry__TaskCore *c = t->core;
	const char *um = proc_field(t->status, "Umask");
	c->has_umask = 1;
	c->umask = um ? strtoul(um, NULL, 8) : 022;
	if (read_file(PROC_PATH(path, t->pid, "personality"), &s, NULL) == 0) {
		c->has_personality = 1;
		c->personality = strtoul(s, NULL, 16);
		free(s);
	}
	int r = read_link(PROC_PATH(path, t->pid, "cwd"), &s);
	if (r < 0)
		return fe_set(ctx->err, r, "read the working directory of pid %d", t->pid);
	c->cwd = arena_strdup(&ctx->arena, s);
	free(s);
	r = read_link(PROC_PATH(path, t->pid, "root"), &s);
	if (r < 0)
		return fe_set(ctx->err, r, "read the root directory of pid %d", t->pid);
	c->root = arena_strdup(&ctx->arena, s);
	free(s);
	if ((r = dump_rlimits(ctx, t)) < 0 || (r = dump_itimers(ctx, t)) < 0 || (r = dump_prctls(ctx, t)) < 0)
		return r;
	return 0;
}

static int inject_path(struct restore_ctx *ctx, struct injector *inj, const char *what, long nr, const char *path)
{
	long ret;
	uint64_t at = inj_scratch_put(inj, 0, path, strlen(path) + 1);
	if (!at)
		return fe_msg(ctx->err, ENAMETOOLONG, "%s: path too long", what);
	int r = RINJ(ctx, inj, &ret, what, nr, at);
	return r < 0 ? fe_wrap(ctx->err, r, "%s", path) : 0;
}

static int restore_itimers(struct restore_ctx *ctx, struct rtask *t, struct injector *inj)
{
	const Ferry__TaskCore *c = t->core;
	for (size_t i = 0; i < c->n_itimers; i++) {
		const Ferry__Itimer *it = c->itimers[i];
		struct itimerval iv = {
			{ it->interval_us / 1000000, it->interval_us % 1000000 },
			{ it->value_us / 1000000, it->value_us % 1000000 },
		};
		long ret;
		if (it->which < 0 || it->which > 2)
			return fe_msg(ctx->err, EBADMSG, "core-%d.img: bad interval timer %d", t->pid, it->which);
		uint64_t at = inj_scratch_put(inj, 0, &iv, sizeof(iv));
		int r = RINJ(ctx, inj, &ret, "restore an interval timer", SYS_setitimer, it->which, at, 0);
		if (r < 0)
			return r;
	}
	return 0;
}

static int misc_restore_inject(struct restore_ctx *ctx, struct rtask *t)
{
	const Ferry__TaskCore *c = t->core;
	struct injector *inj = &t->threads[0].inj;
	long ret;
	int r;
	/* an image with cwd_file: files/fs.c restores cwd and root through their directory entries */
	if (!c->has_cwd_file && c->cwd && (r = inject_path(ctx, inj, "change into the working directory", SYS_chdir, c->cwd)) < 0)
		return r;
	if (!c->has_cwd_file && c->root && strcmp(c->root, "/") && (r = inject_path(ctx, inj, "chroot", SYS_chroot, c->root)) < 0)
		return r;
	if (c->has_umask && (r = RINJ(ctx, inj, &ret, "umask", SYS_umask, c->umask & 0777)) < 0)
		return r;
	if (c->has_personality && (r = RINJ(ctx, inj, &ret, "personality", SYS_personality, c->personality)) < 0)
		return r;
	if (c->has_child_subreaper && c->child_subreaper &&
	    (r = RINJ(ctx, inj, &ret, "set child-subreaper", SYS_prctl, PR_SET_CHILD_SUBREAPER, 1)) < 0)
		return r;
	if ((r = restore_itimers(ctx, t, inj)) < 0)
		return r;
	/*
	 * The new task ran with PDEATHSIG=SIGKILL until it was traced; now set the real one, except
	 * after a detached restore, where it would fire as soon as ferry exits.
	 */
	int pdeath = c->has_pdeath_sig ? c->pdeath_sig : 0;
	if (pdeath && ctx->opts->detached) {
		pr_warn("pid %d: parent-death signal %d not restored (the restorer exits with -d)\n", t->pid, pdeath);
		pdeath = 0;
	}
	return RINJ(ctx, inj, &ret, "set parent-death signal", SYS_prctl, PR_SET_PDEATHSIG, pdeath);
}

/* Limits last: lowering RLIMIT_NOFILE or RLIMIT_AS earlier could starve the restore itself. */
static int misc_restore_late(struct restore_ctx *ctx, struct rtask *t)
{
	struct injector *inj = &t->threads[0].inj;
	const Ferry__TaskCore *c = t->core;
	long ret;
	int r;
	if (c->has_dumpable) {
		r = RINJ(ctx, inj, &ret, "set dumpable", SYS_prctl, PR_SET_DUMPABLE, c->dumpable);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < c->n_rlimits; i++) {
		const Ferry__Rlimit *rl = c->rlimits[i];
		struct rlimit lim = { rl->cur, rl->max };
		if (rl->resource < 0 || rl->resource >= RLIM_NLIMITS || rl->cur > rl->max)
			return fe_msg(ctx->err, EBADMSG, "core-%d.img: malformed rlimit", t->pid);
		uint64_t at = inj_scratch_put(inj, 0, &lim, sizeof(lim));
		r = RINJ(ctx, inj, &ret, rlimit_names[rl->resource], SYS_prlimit64, 0, rl->resource, at, 0);
		if (r < 0)
			return fe_wrap(ctx->err, r, "set limit to %llu/%llu (raising a hard limit needs CAP_SYS_RESOURCE)",
				       (unsigned long long)rl->cur, (unsigned long long)rl->max);
	}
	return 0;
}

const struct task_obj_ops misc_obj = {
	.name = "misc",
	.dump = misc_dump,
	.restore_inject = misc_restore_inject,
	.restore_late = misc_restore_late,
};
