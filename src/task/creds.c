/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Credentials: uids, gids, supplementary groups, capability sets, securebits, no_new_privs —
 * per thread, as the kernel keeps them (a thread whose own differ from its leader's has them).
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/fsuid.h>
#include <unistd.h>
#define LOG_PREFIX "creds: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "engine/context.h"
#include "task/task.h"

static int parse_ids(struct arena *a, const char *status, const char *key, uint32_t **out, size_t *n)
{
	const char *v = proc_field(status, key);
	*n = 0;
	*out = ARENA_ARRAY(a, uint32_t, 65536 / 4);
	if (!v || !*out)
		return v ? -ENOMEM : -EINVAL;
	while (*v && *v != '\n' && *n < 65536 / 4) {
		char *end;
		unsigned long id = strtoul(v, &end, 10);
		if (end == v)
			break;
		(*out)[(*n)++] = id;
		v = end;
		while (*v == ' ' || *v == '\t')
			v++;
	}
	return 0;
}

static uint64_t hexfield(const char *status, const char *key)
{
	const char *v = proc_field(status, key);
	return v ? strtoull(v, NULL, 16) : 0;
}

static Ferry__Creds *parse_creds(struct arena *a, const char *status)
{
	Ferry__Creds *cr = ARENA_NEW(a, Ferry__Creds);
	if (!cr)
		return NULL;
	ferry__creds__init(cr);
	if (parse_ids(a, status, "Uid", &cr->uid, &cr->n_uid) < 0 || cr->n_uid != 4 ||
	    parse_ids(a, status, "Gid", &cr->gid, &cr->n_gid) < 0 || cr->n_gid != 4 ||
	    parse_ids(a, status, "Groups", &cr->groups, &cr->n_groups) < 0)
		return NULL;
	cr->cap_inh = hexfield(status, "CapInh");
	cr->cap_prm = hexfield(status, "CapPrm");
	cr->cap_eff = hexfield(status, "CapEff");
	cr->cap_bnd = hexfield(status, "CapBnd");
	cr->has_cap_amb = 1;
	cr->cap_amb = hexfield(status, "CapAmb");
	const char *nnp = proc_field(status, "NoNewPrivs");
	cr->has_no_new_privs = 1;
	cr->no_new_privs = nnp && atoi(nnp);
	cr->has_securebits = 1;
	return cr;
}

static int same_creds(const Ferry__Creds *a, const Ferry__Creds *b)
{
	return !memcmp(a->uid, b->uid, 4 * sizeof(uint32_t)) && !memcmp(a->gid, b->gid, 4 * sizeof(uint32_t)) &&
	       a->n_groups == b->n_groups && !memcmp(a->groups, b->groups, a->n_groups * sizeof(uint32_t)) &&
	       a->cap_inh == b->cap_inh && a->cap_prm == b->cap_prm && a->cap_eff == b->cap_eff &&
	       a->cap_bnd == b->cap_bnd && a->cap_amb == b->cap_amb && a->no_new_privs == b->no_new_privs &&
	       a->securebits == b->securebits;
}

/* A thread other than the leader: its own credentials, kept only where they differ. */
static int dump_thread_creds(struct dump_ctx *ctx, struct dtask *t, struct dthread *th)
{
	char path[96];
	_cleanup_free_ char *status = NULL;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", t->pid, th->tid);
	int r = read_file(path, &status, NULL);
	if (r < 0)
		return fe_set(ctx->err, r, "read %s", path);
	Ferry__Creds *cr = parse_creds(&ctx->arena, status);
	if (!cr)
		return fe_msg(ctx->err, EIO, "pid %d: cannot parse the credentials in %s", t->pid, path);
	cr->securebits = th->securebits;
	if (!same_creds(cr, t->core->creds))
		th->core->creds = cr;
	return 0;
}

static int creds_dump(struct dump_ctx *ctx, struct dtask *t)
{
	Ferry__Creds *cr = parse_creds(&ctx->arena, t->status);
	if (!cr)
		return fe_msg(ctx->err, EIO, "pid %d: cannot parse credentials in /proc/%d/status", t->pid, t->pid);
	int r;
	cr->securebits = t->threads[0].securebits;	/* read by task/prctl.c */
	t->core->creds = cr;
	for (size_t i = 1; i < t->nthreads; i++)
		if ((r = dump_thread_creds(ctx, t, &t->threads[i])) < 0)
			return r;
	return 0;
}

/*
 * Credentials are per thread, so they are restored in each thread by injection, as the last
 * thing before its registers: everything earlier may need the restorer's privileges.
 */
/*
 * Whether cr are the restorer's own credentials, which the thread still has: then none of the
 * eight or more injected calls below would change anything (a process run by root, typically).
 */
static int restorer_has(const Ferry__Creds *cr)
{
	uid_t u[3];
	gid_t g[3], groups[1000];
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	if (getresuid(&u[0], &u[1], &u[2]) || getresgid(&g[0], &g[1], &g[2]) || syscall(SYS_capget, &h, d))
		return 0;
	int n = getgroups(1000, groups), keep = cr->has_securebits && (cr->securebits & (1 << 4));
	int same = n >= 0 && (size_t)n == cr->n_groups && !cr->cap_amb && prctl(PR_GET_KEEPCAPS) == keep &&
		   (!cr->has_securebits || (uint32_t)prctl(PR_GET_SECUREBITS) == cr->securebits) &&
		   cr->uid[3] == (uint32_t)setfsuid(-1) && cr->gid[3] == (uint32_t)setfsgid(-1) &&
		   cr->cap_eff == (d[0].effective | (uint64_t)d[1].effective << 32) &&
		   cr->cap_prm == (d[0].permitted | (uint64_t)d[1].permitted << 32) &&
		   cr->cap_inh == (d[0].inheritable | (uint64_t)d[1].inheritable << 32);
	for (int i = 0; same && i < 3; i++)
		same = cr->uid[i] == u[i] && cr->gid[i] == g[i];
	for (int i = 0; same && i < n; i++)
		same = cr->groups[i] == groups[i];
	for (int cap = 0; same && cap < 64; cap++)
		same = ((cr->cap_bnd >> cap) & 1) || prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1;
	return same;
}

static int creds_restore_thread(struct restore_ctx *ctx, struct rtask *t, struct rthread *th)
{
	const Ferry__Creds *cr = th->core->creds ? th->core->creds : t->core->creds;
	struct injector *inj = &th->inj;
	long ret;
	int r;
	if (!cr)
		return 0;
	if (cr->n_uid != 4 || cr->n_gid != 4 || cr->n_groups > 1000)
		return fe_msg(ctx->err, EBADMSG, "core-%d.img: malformed credentials", t->pid);
	if (restorer_has(cr))
		return cr->no_new_privs && (r = RINJ(ctx, inj, &ret, "set no_new_privs", SYS_prctl, PR_SET_NO_NEW_PRIVS, 1)) < 0 ?
		       r : 0;
	for (int cap = 0; cap < 64; cap++) {
		if (((cr->cap_bnd >> cap) & 1) || prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1)
			continue;	/* kept, or never in the restorer's bounding set */
		r = RINJ(ctx, inj, &ret, "drop a capability from the bounding set", SYS_prctl, PR_CAPBSET_DROP, cap);
		if (r < 0)
			return r;
	}
	gid_t groups[1000];
	for (size_t i = 0; i < cr->n_groups; i++)
		groups[i] = cr->groups[i];
	uint64_t at = inj_scratch_put(inj, 0, groups, cr->n_groups * sizeof(gid_t));
	if ((r = RINJ(ctx, inj, &ret, "setgroups", SYS_setgroups, cr->n_groups, at)) < 0 ||
	    (r = RINJ(ctx, inj, &ret, "keep capabilities", SYS_prctl, PR_SET_KEEPCAPS, 1)) < 0 ||
	    (r = RINJ(ctx, inj, &ret, "setresgid", SYS_setresgid, cr->gid[0], cr->gid[1], cr->gid[2])) < 0 ||
	    (r = RINJ(ctx, inj, &ret, "setfsgid", SYS_setfsgid, cr->gid[3])) < 0 ||
	    (r = RINJ(ctx, inj, &ret, "setresuid", SYS_setresuid, cr->uid[0], cr->uid[1], cr->uid[2])) < 0 ||
	    (r = RINJ(ctx, inj, &ret, "setfsuid", SYS_setfsuid, cr->uid[3])) < 0)
		return r;
	struct {
		struct __user_cap_header_struct h;
		struct __user_cap_data_struct d[2];
	} caps = {
		{ _LINUX_CAPABILITY_VERSION_3, 0 },
		{ { (uint32_t)cr->cap_eff, (uint32_t)cr->cap_prm, (uint32_t)cr->cap_inh },
		  { (uint32_t)(cr->cap_eff >> 32), (uint32_t)(cr->cap_prm >> 32), (uint32_t)(cr->cap_inh >> 32) } },
	};
	at = inj_scratch_put(inj, 0, &caps, sizeof(caps));
	r = RINJ(ctx, inj, &ret, "capset", SYS_capset, at, at + sizeof(caps.h));
	if (r < 0)
		return r;
	for (int cap = 0; cap < 64; cap++)
		if ((cr->cap_amb >> cap) & 1 &&
		    (r = RINJ(ctx, inj, &ret, "raise an ambient capability", SYS_prctl, PR_CAP_AMBIENT,
			      PR_CAP_AMBIENT_RAISE, cap)) < 0)
			return r;
	if (cr->has_securebits && (uint32_t)prctl(PR_GET_SECUREBITS) != cr->securebits &&
	    (r = RINJ(ctx, inj, &ret, "set securebits", SYS_prctl, PR_SET_SECUREBITS, cr->securebits)) < 0)
		return r;
	if (!(cr->has_securebits && (cr->securebits & (1 << 4))) &&	/* SECBIT_KEEP_CAPS */
	    (r = RINJ(ctx, inj, &ret, "reset keep-capabilities", SYS_prctl, PR_SET_KEEPCAPS, 0)) < 0)
		return r;
	if (cr->no_new_privs &&
	    (r = RINJ(ctx, inj, &ret, "set no_new_privs", SYS_prctl, PR_SET_NO_NEW_PRIVS, 1)) < 0)
		return r;
	return 0;
}

const struct task_obj_ops creds_obj = {
	.name = "creds",
	.dump = creds_dump,
	.restore_thread = creds_restore_thread,
};
