/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Seccomp filters shared between threads. A filter installed with SECCOMP_FILTER_FLAG_TSYNC, or
 * before a thread was created, is one kernel object in several threads' chains; a later TSYNC
 * succeeds only if every other thread's chain is a prefix of the caller's, object for object.
 *
 * Dump: the kernel shows programs, not objects (there is no kcmp for filters). Threads whose
 * chains start with the same programs are taken to share those objects, and that is checked with
 * the one probe the kernel offers: a TSYNC attempt fails naming the first thread (in the
 * kernel's thread order) whose chain is not a prefix of the caller's. A throwaway thread with a
 * private filter, created last, makes every attempt fail, so nothing is ever installed; each
 * thread's answer must be the one the sharing implies, or the dump is refused by name.
 *
 * Restore: a shared object is installed once and reaches the other threads as the kernel passes
 * it on, by creating them afterwards: "carrier" threads hold each shared prefix while the real
 * threads are cloned from them, in their order, with their TIDs; then the carriers exit.
 */
#include <dirent.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#define LOG_PREFIX "seccomp: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "engine/context.h"
#include "engine/restore-tree.h"
#include "inject/ptrace.h"
#include "task/seccomp-internal.h"
#include "task/task.h"

#define SUSPEND_SECCOMP (1 << 21)	/* PTRACE_O_SUSPEND_SECCOMP */
#define PROBE_OFF 0			/* where the probe's program goes in the scratch area */
#define THREAD_FLAGS (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM)

/* Node ids, taking chains that start with the same programs to share those filter objects. */
static int assign_nodes(struct dump_ctx *ctx, Ferry__SeccompState *st, size_t *nnodes)
{
	size_t total = 1, n = 0;
	for (size_t i = 0; i < st->n_threads; i++)
		total += st->threads[i]->n_chain;
	_cleanup_free_ uint32_t *parent = calloc(total, sizeof(uint32_t)), *prog = calloc(total, sizeof(uint32_t));
	if (!parent || !prog)
		return -ENOMEM;
	for (size_t i = 0; i < st->n_threads; i++) {
		Ferry__SeccompThread *th = st->threads[i];
		th->nodes = ARENA_ARRAY(&ctx->arena, uint32_t, th->n_chain + 1);
		if (!th->nodes)
			return -ENOMEM;
		th->n_nodes = th->n_chain;
		uint32_t prev = 0;
		for (size_t d = 0; d < th->n_chain; d++) {
			uint32_t id = 0;
			for (size_t k = 0; k < n && !id; k++)
				if (parent[k] == prev && prog[k] == th->chain[d])
					id = k + 1;
			if (!id) {
				parent[n] = prev;
				prog[n] = th->chain[d];
				id = ++n;
			}
			th->nodes[d] = prev = id;
		}
	}
	*nnodes = n;
	return 0;
}

static const Ferry__SeccompThread *sthread(const Ferry__SeccompState *st, pid_t tid)
{
	for (size_t i = 0; i < st->n_threads; i++)
		if (st->threads[i]->tid == tid)
			return st->threads[i];
	return NULL;
}

static int holds(const Ferry__SeccompThread *th, uint32_t node)
{
	for (size_t d = 0; d < th->n_nodes; d++)
		if (th->nodes[d] == node)
			return 1;
	return 0;
}

/* What a TSYNC by `caller` would name under the assumed sharing: a TID, or 0 (only the probe's own thread). */
static pid_t predict(const Ferry__SeccompState *st, const pid_t *order, size_t n, const Ferry__SeccompThread *caller)
{
	for (size_t i = 0; i < n; i++) {
		const Ferry__SeccompThread *x = sthread(st, order[i]);
		if (order[i] == caller->tid || !x)
			continue;	/* the caller itself, or a thread without seccomp */
		if (x->strict || !x->n_nodes || !holds(caller, x->nodes[x->n_nodes - 1]))
			return order[i];
	}
	return 0;
}

int seccomp_shares(const Ferry__SeccompState *st)
{
	for (size_t i = 0; st && i < st->n_threads; i++)
		for (size_t k = i + 1; k < st->n_threads; k++)
			if (st->threads[i]->n_nodes && st->threads[k]->n_nodes &&
			    st->threads[i]->nodes[0] == st->threads[k]->nodes[0])
				return 1;
	return 0;
}

/* The threads in the kernel's own order (that of /proc/PID/task, unsorted). */
static int kernel_order(pid_t pid, pid_t **out, size_t *n)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	_cleanup_closedir_ DIR *d = opendir(path);
	size_t cap = 16;
	pid_t *a = malloc(cap * sizeof(pid_t));
	struct dirent *de;
	*n = 0;
	if (!d || !a) {
		int e = d ? ENOMEM : errno;
		free(a);
		return -e;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		if (*n == cap) {
			pid_t *b = realloc(a, (cap *= 2) * sizeof(pid_t));
			if (!b) {
				free(a);
				return -ENOMEM;
			}
			a = b;
		}
		a[(*n)++] = atoi(de->d_name);
	}
	*out = a;
	return 0;
}

/* A program allowing everything, at scratch + PROBE_OFF; returns its struct sock_fprog's address. */
static uint64_t put_allow_all(struct injector *inj)
{
	struct { uint16_t len; uint16_t pad[3]; uint64_t filter; struct sock_filter insn; } p = {
		.len = 1, .filter = inj->scratch + PROBE_OFF + 16,
		.insn = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	return inj_scratch_put(inj, PROBE_OFF, &p, sizeof(p));
}

/* Points a thread made by ferry at `exit(0)`: where it goes whenever it runs, even if ferry dies. */
static int aim_at_exit(pid_t tid, uint64_t sc_addr)
{
	struct user_regs_struct regs;
	int r = pt_getregs(tid, &regs);
	if (r < 0)
		return r;
	regs.rip = sc_addr;
	regs.rax = SYS_exit;
	regs.rdi = 0;
	regs.orig_rax = (unsigned long)-1;
	return pt_setregs(tid, &regs);
}

/* Ends a thread made for the probe: exit() from where it stands, reaped as its tracer. */
static void end_thread(pid_t tid, uint64_t sc_addr)
{
	int st;
	if (aim_at_exit(tid, sc_addr) < 0)
		return;
	do
		if (ptrace(PTRACE_CONT, tid, NULL, NULL) < 0)
			return;
	while (pt_wait_stop(tid, &st) == 0);
}

/* The probe's thread: cloned from the leader, with no_new_privs and a filter of its own. */
static int make_poison(struct dump_ctx *ctx, struct dtask *t, pid_t *poison)
{
	long ret;
	int st;
	*poison = 0;
	if (ptrace(PTRACE_SETOPTIONS, t->pid, NULL, (void *)(long)(PTRACE_O_TRACECLONE | SUSPEND_SECCOMP)) < 0 &&
	    ptrace(PTRACE_SETOPTIONS, t->pid, NULL, (void *)(long)PTRACE_O_TRACECLONE) < 0)
		return fe_set(ctx->err, errno, "pid %d: trace the threads it makes", t->pid);
	int r = DINJ(ctx, t, &ret, "make a thread for the seccomp probe", SYS_clone, THREAD_FLAGS, 0, 0, 0, 0);
	if (r < 0)
		return r;
	*poison = (pid_t)ret;
	if ((r = pt_wait_stop(*poison, &st)) < 0 || (r = aim_at_exit(*poison, t->sc_addr)) < 0)
		return fe_set(ctx->err, r, "pid %d: the probe's thread %d did not stop", t->pid, *poison);
	struct injector inj;	/* seized as the leader was: parked with its exit-bound registers */
	if ((r = (t->inj.seized ? inj_open_seized : inj_open)(&inj, *poison, t->sc_addr, ctx->err)) < 0)
		return r;
	inj_share_scratch(&inj, &t->inj);
	uint64_t prog = put_allow_all(&inj);
	r = INJ(&inj, &ret, ctx->err, SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (r == 0 && ret == 0)
		r = INJ(&inj, &ret, ctx->err, SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog);
	inj_close(&inj);
	if (r == 0 && ret != 0)
		r = fe_set(ctx->err, (int)-ret, "pid %d: give the probe's thread a filter", t->pid);
	return r;
}

/* Each thread with filters asks for a TSYNC: the answer is the first thread that would not follow. */
static int ask_all(struct dump_ctx *ctx, struct dtask *t, const Ferry__SeccompState *st, const pid_t *order,
		   size_t n, pid_t poison)
{
	for (size_t i = 0; i < t->nthreads; i++) {
		const Ferry__SeccompThread *me = sthread(st, t->threads[i].tid);
		if (!me || me->strict)
			continue;
		struct injector inj;
		long ret;
		int r = thread_inj_open(ctx, t, &t->threads[i], &inj);
		if (r < 0)
			return r;
		uint64_t prog = put_allow_all(&inj);
		r = INJ(&inj, &ret, ctx->err, SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, prog);
		if ((r = thread_inj_close(ctx, &inj, r)) < 0)
			return r;
		if (ret == -EACCES)
			return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: thread %d shares seccomp filters with other threads, which "
				      "cannot be checked without no_new_privs or CAP_SYS_ADMIN in it", t->pid, me->tid);
		pid_t want = predict(st, order, n, me);
		if (ret <= 0 || ret != (want ? want : poison))
			return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: thread %d's seccomp filters are not shared with the other "
				      "threads as their programs suggest (a TSYNC from it names %ld, not %d): not supported",
				      t->pid, me->tid, ret, want ? want : poison);
	}
	return 0;
}

int seccomp_share_dump(struct dump_ctx *ctx, struct dtask *t, Ferry__SeccompState *st)
{
	size_t nnodes, n;
	_cleanup_free_ pid_t *order = NULL;
	int r = assign_nodes(ctx, st, &nnodes);
	if (r < 0 || !seccomp_shares(st))
		return r;
	for (size_t i = 0; i < t->nthreads; i++)
		if (t->threads[i].core->attrs && t->threads[i].core->attrs->timens_for_children)
			return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: threads that share seccomp filters and a time namespace "
				      "made for children: not supported together", t->pid);
	if ((r = kernel_order(t->pid, &order, &n)) < 0)
		return fe_set(ctx->err, r, "pid %d: list its threads", t->pid);
	pid_t poison;
	r = make_poison(ctx, t, &poison);
	if (r == 0)
		r = ask_all(ctx, t, st, order, n, poison);
	if (poison > 0)
		end_thread(poison, t->sc_addr);
	if (ptrace(PTRACE_SETOPTIONS, t->pid, NULL, (void *)(long)SUSPEND_SECCOMP) < 0)
		ptrace(PTRACE_SETOPTIONS, t->pid, NULL, NULL);
	pr_debug("pid %d: %zu seccomp filter objects, sharing checked: %s\n", t->pid, nnodes, r ? "no" : "yes");
	return r;
}

/* ---- restore ---- */

struct share_plan {
	size_t n;		/* node ids 1..n */
	uint32_t *parent;	/* per node id */
	uint32_t *prog;		/* its program's index in st->filters */
	uint32_t *depth;	/* 1 for a first filter */
	uint32_t *users;	/* threads whose chain holds it */
	uint8_t *on_lead;	/* on the leader's chain */
	uint8_t *need;		/* a carrier must hold exactly this prefix */
	pid_t *carrier;		/* its carrier's TID (the leader's for its own last node) */
	struct injector *inj;	/* per node: the carrier's injector */
};

static void plan_free(struct share_plan *p)
{
	for (size_t i = 0; p->inj && i <= p->n; i++)
		inj_close(&p->inj[i]);
	free(p->parent);
	free(p->prog);
	free(p->depth);
	free(p->users);
	free(p->on_lead);
	free(p->need);
	free(p->carrier);
	free(p->inj);
}

/* The deepest node of th's chain held by another thread too (0: none); users counts per node. */
static uint32_t clone_point(const uint32_t *users, const Ferry__SeccompThread *th)
{
	uint32_t cp = 0;
	for (size_t d = 0; th && d < th->n_nodes; d++)
		if (users[th->nodes[d]] > 1)
			cp = th->nodes[d];
	return cp;
}

/* The highest node id; users[id] (n + 1 entries, zeroed) gets how many threads hold each. */
static size_t max_node(const Ferry__SeccompState *st, uint32_t *users)
{
	size_t n = 0;
	for (size_t i = 0; i < st->n_threads; i++)
		for (size_t d = 0; d < st->threads[i]->n_nodes; d++) {
			uint32_t x = st->threads[i]->nodes[d];
			n = x > n ? x : n;
			if (users)
				users[x]++;
		}
	return n;
}

static int plan_build(struct restore_ctx *ctx, struct rtask *t, const Ferry__SeccompState *st, struct share_plan *p)
{
	memset(p, 0, sizeof(*p));
	p->n = max_node(st, NULL);
	size_t m = p->n + 1;
	p->parent = calloc(m, 4), p->prog = calloc(m, 4), p->depth = calloc(m, 4), p->users = calloc(m, 4);
	p->on_lead = calloc(m, 1), p->need = calloc(m, 1), p->carrier = calloc(m, sizeof(pid_t));
	p->inj = calloc(m, sizeof(struct injector));
	if (!p->parent || !p->prog || !p->depth || !p->users || !p->on_lead || !p->need || !p->carrier || !p->inj ||
	    p->n > 65536)
		return fe_set(ctx->err, ENOMEM, "seccomp plan of pid %d", t->pid);
	for (size_t i = 0; i < m; i++)
		p->inj[i].memfd = -1;
	for (size_t i = 0; i < st->n_threads; i++) {
		const Ferry__SeccompThread *th = st->threads[i];
		if (th->n_nodes != th->n_chain)
			return fe_msg(ctx->err, EBADMSG, "core-%d.img: thread %d's seccomp nodes do not match its chain", t->pid, th->tid);
		for (size_t d = 0; d < th->n_nodes; d++) {
			uint32_t x = th->nodes[d], up = d ? th->nodes[d - 1] : 0;
			if (!x || th->chain[d] >= st->n_filters || (p->depth[x] && (p->parent[x] != up || p->prog[x] != th->chain[d])))
				return fe_msg(ctx->err, EBADMSG, "core-%d.img: inconsistent seccomp filter objects", t->pid);
			p->parent[x] = up;
			p->prog[x] = th->chain[d];
			p->depth[x] = d + 1;
			p->users[x]++;
			p->on_lead[x] |= th->tid == t->pid;
		}
	}
	p->on_lead[0] = 1;
	for (size_t i = 1; i < t->nthreads; i++)	/* every clone point, and its ancestors */
		for (uint32_t x = clone_point(p->users, sthread(st, t->threads[i].tid)); ; x = p->parent[x]) {
			p->need[x] = 1;
			if (!x)
				break;
		}
	return 0;
}

/* A carrier for node x, cloned from the injector `from`, with x's program installed if asked. */
static int add_carrier(struct restore_ctx *ctx, struct rtask *t, const Ferry__SeccompState *st, struct share_plan *p,
		       uint32_t x, struct injector *from, int install_x)
{
	int r = restore_tree_clone_carrier(ctx, t, from, &p->carrier[x], &p->inj[x]);
	if (r == 0 && install_x)
		r = seccomp_install(ctx, &p->inj[x], st->filters[p->prog[x]]);
	return r < 0 ? fe_wrap(ctx->err, r, "pid %d: a thread holding seccomp filters to share", t->pid) : 0;
}

/* The leader installs its chain; a carrier is cloned from it at every prefix still needed. */
static int build_leader(struct restore_ctx *ctx, struct rtask *t, const Ferry__SeccompState *st, struct share_plan *p)
{
	const Ferry__SeccompThread *lead = sthread(st, t->pid);
	size_t len = lead ? lead->n_nodes : 0;
	for (size_t d = 0; d <= len; d++) {
		uint32_t at = d ? lead->nodes[d - 1] : 0;
		int r = 0;
		if (d == len)
			p->carrier[at] = t->pid;	/* the leader itself holds its whole chain */
		else if (p->need[at])
			r = add_carrier(ctx, t, st, p, at, &t->threads[0].inj, 0);
		if (r == 0 && d < len)
			r = seccomp_install(ctx, &t->threads[0].inj, st->filters[lead->chain[d]]);
		if (r < 0)
			return r;
	}
	return 0;
}

static struct injector *holder(struct rtask *t, struct share_plan *p, uint32_t x)
{
	return p->carrier[x] == t->pid ? &t->threads[0].inj : &p->inj[x];
}

int seccomp_make_threads(struct restore_ctx *ctx, struct rtask *t)
{
	const Ferry__SeccompState *st = t->core->seccomp;
	struct share_plan p;
	int r = plan_build(ctx, t, st, &p);
	if (r == 0 && ptrace(PTRACE_SETOPTIONS, t->pid, NULL,
			     (void *)(long)(PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_EXITKILL | SUSPEND_SECCOMP)) < 0)
		r = fe_set(ctx->err, errno, "pid %d: suspend seccomp while restoring", t->pid);
	if (r == 0)
		r = build_leader(ctx, t, st, &p);
	for (uint32_t x = 1; r == 0 && x <= p.n; x++)	/* parents have lower ids */
		if (p.need[x] && !p.on_lead[x])
			r = add_carrier(ctx, t, st, &p, x, holder(t, &p, p.parent[x]), 1);
	for (size_t i = 1; r == 0 && i < t->nthreads; i++)
		r = restore_tree_clone_thread(ctx, t, holder(t, &p, clone_point(p.users, sthread(st, t->threads[i].tid))),
					      &t->threads[i]);
	for (uint32_t x = 0; x <= p.n; x++)
		if (p.carrier[x] > 0 && p.carrier[x] != t->pid) {
			inj_close(&p.inj[x]);
			end_thread(p.carrier[x], t->tramp);
		}
	plan_free(&p);
	return r;
}

size_t seccomp_installed(const Ferry__SeccompState *st, pid_t pid, pid_t tid)
{
	const Ferry__SeccompThread *th = sthread(st, tid);
	if (!th || !seccomp_shares(st))
		return 0;
	if (tid == pid)
		return th->n_chain;
	_cleanup_free_ uint32_t *users = calloc(max_node(st, NULL) + 1, sizeof(uint32_t));
	if (!users)
		return 0;
	max_node(st, users);
	uint32_t cp = clone_point(users, th);
	for (size_t d = 0; cp && d < th->n_nodes; d++)
		if (th->nodes[d] == cp)
			return d + 1;
	return 0;
}
