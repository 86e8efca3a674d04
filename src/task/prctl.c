/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The prctl and arch_prctl state a program can read back. Per thread: PR_SET_TSC, the MCE kill
 * policy, speculation controls, CPUID faulting, PR_SET_IO_FLUSHER, syscall user dispatch, and
 * a thread's own parent-death signal and personality. Per process: PR_SET_THP_DISABLE,
 * PR_SET_MDWE, membarrier registrations, the XSAVE features it was granted (AMX) and KSM's
 * PR_SET_MEMORY_MERGE. What cannot be restored is refused at dump by name: a shadow stack,
 * linear address masking, and the two flags only CAP_SYS_RESOURCE may set when ferry lacks it.
 */
#include <errno.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>
#define LOG_PREFIX "prctl: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "engine/context.h"
#include "task/task.h"

#define GET_THP_DISABLE 42
#define SET_THP_DISABLE 41
#define SET_IO_FLUSHER 57
#define SET_MDWE 65
#define GET_MDWE 66
#define SET_MEMORY_MERGE 67
#define GET_MEMORY_MERGE 68
#define ARCH_GET_CPUID 0x1011
#define ARCH_SET_CPUID 0x1012
#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define ARCH_GET_UNTAG_MASK 0x4001
#define ARCH_SHSTK_STATUS 0x5005
#define MEMBARRIER_GET_REGISTRATIONS (1 << 9)
#define PF_IO_FLUSHER (0x00080000 | 0x00100000)	/* PF_MEMALLOC_NOIO | PF_LOCAL_THROTTLE */
#define SPEC_STATES (PR_SPEC_ENABLE | PR_SPEC_DISABLE | PR_SPEC_FORCE_DISABLE | PR_SPEC_DISABLE_NOEXEC)
#define NSPEC 3					/* STORE_BYPASS, INDIRECT_BRANCH, L1D_FLUSH */
#define XFEATURE_MAX 64

/* An injected call whose failure only means "not on this kernel/CPU": *ret is left negative. */
static int try_inject(struct injector *inj, long *ret, struct dump_ctx *ctx, long nr, const unsigned long a[6])
{
	int r = inj_syscall(inj, ret, nr, a, ctx->err);
	return r < 0 ? fe_wrap(ctx->err, r, "thread %d", inj->tid) : 0;
}
#define TRY(inj, ret, ctx, nr, ...) try_inject((inj), (ret), (ctx), (nr), (const unsigned long[6]){ __VA_ARGS__ })

static int refuse_thread(struct dump_ctx *ctx, struct injector *inj, pid_t pid)
{
	long ret;
	uint64_t v = 0;
	int r = TRY(inj, &ret, ctx, SYS_arch_prctl, ARCH_SHSTK_STATUS, inj->scratch);
	if (r == 0 && ret == 0 && inj_read(inj, inj->scratch, &v, sizeof(v)) == 0 && v)
		return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: thread %d has a shadow stack enabled (features %#llx), "
			      "which this version cannot checkpoint", pid, inj->tid, (unsigned long long)v);
	int flusher = (proc_stat_field(inj->tid, 9) & PF_IO_FLUSHER) == PF_IO_FLUSHER;
	if (r == 0 && flusher && !ferry_has_cap(CAP_SYS_RESOURCE))
		return fe_msg(ctx->err, EPERM, "pid %d: thread %d is an I/O flusher (PR_SET_IO_FLUSHER), which only "
			      "CAP_SYS_RESOURCE can restore, and ferry lacks it", pid, inj->tid);
	return r;
}

/*
 * A non-leader thread's own parent-death signal (clone() does not pass it on) and personality
 * (threads are cloned before the leader gets its own back).
 */
static int dump_thread_own(struct dump_ctx *ctx, struct dtask *t, struct injector *inj, Ferry__ThreadAttrs *a)
{
	long ret;
	int v = 0;
	int r = TRY(inj, &ret, ctx, SYS_prctl, PR_GET_PDEATHSIG, inj->scratch, 0, 0, 0);
	if (r == 0 && ret == 0 && inj_read(inj, inj->scratch, &v, sizeof(v)) == 0 && v) {
		a->has_pdeath_sig = 1;
		a->pdeath_sig = v;
	}
	if (r == 0 && (r = TRY(inj, &ret, ctx, SYS_personality, 0xffffffff)) == 0 && ret >= 0) {
		a->has_personality = 1;
		a->personality = (uint32_t)ret;
	}
	return r;
}

int prctl_dump_thread(struct dump_ctx *ctx, struct dtask *t, struct dthread *th, struct injector *inj)
{
	Ferry__ThreadAttrs *a = task_thread_attrs(ctx, th);
	int32_t *spec = ARENA_ARRAY(&ctx->arena, int32_t, NSPEC);
	long ret;
	int v = 0, r;
	if (!a || !spec)
		return -ENOMEM;
	if ((r = TRY(inj, &ret, ctx, SYS_prctl, PR_GET_TSC, inj->scratch)) == 0 && ret == 0 &&
	    inj_read(inj, inj->scratch, &v, sizeof(v)) == 0) {
		a->has_tsc = 1;
		a->tsc = v;
	}
	if (r == 0 && (r = TRY(inj, &ret, ctx, SYS_prctl, PR_MCE_KILL_GET, 0, 0, 0, 0)) == 0 && ret >= 0) {
		a->has_mce_kill = 1;
		a->mce_kill = ret;
	}
	for (int which = 0; r == 0 && which < NSPEC; which++)
		if ((r = TRY(inj, &ret, ctx, SYS_prctl, PR_GET_SPECULATION_CTRL, which, 0, 0, 0)) == 0)
			spec[a->n_spec_ctrl++] = ret < 0 ? 0 : ret;
	a->spec_ctrl = spec;
	if (r == 0 && (r = TRY(inj, &ret, ctx, SYS_arch_prctl, ARCH_GET_CPUID, 0)) == 0 && ret == 0)
		a->has_cpuid_faulting = a->cpuid_faulting = 1;
	if (r == 0 && (r = TRY(inj, &ret, ctx, SYS_prctl, PR_GET_SECUREBITS, 0, 0, 0, 0)) == 0)
		th->securebits = (uint32_t)ret;
	if (r == 0 && th->tid != t->pid)	/* per thread, too: the leader's are in TaskCore */
		r = dump_thread_own(ctx, t, inj, a);
	if (r == 0)
		r = refuse_thread(ctx, inj, t->pid);
	a->has_io_flusher = 1;
	a->io_flusher = (proc_stat_field(th->tid, 9) & PF_IO_FLUSHER) == PF_IO_FLUSHER;
	return r;
}

/* The mm-wide flags and registrations, read in the leader. */
static int dump_process(struct dump_ctx *ctx, struct dtask *t, Ferry__ProcAttrs *pa)
{
	struct injector *inj = &t->inj;
	long ret;
	uint64_t v;
	int r = TRY(inj, &ret, ctx, SYS_prctl, GET_THP_DISABLE, 0, 0, 0, 0);
	pa->has_thp_disable = r == 0 && ret >= 0;
	pa->thp_disable = ret;
	if (r == 0 && (r = TRY(inj, &ret, ctx, SYS_prctl, GET_MDWE, 0, 0, 0, 0)) == 0 && ret >= 0) {
		pa->has_mdwe = 1;
		pa->mdwe = ret;
	}
	if (r == 0 && (r = TRY(inj, &ret, ctx, SYS_membarrier, MEMBARRIER_GET_REGISTRATIONS, 0, 0)) == 0 && ret >= 0) {
		pa->has_membarrier = 1;
		pa->membarrier = ret;
	}
	if (r == 0 && (r = TRY(inj, &ret, ctx, SYS_arch_prctl, ARCH_GET_XCOMP_PERM, inj->scratch)) == 0 && ret == 0 &&
	    inj_read(inj, inj->scratch, &v, sizeof(v)) == 0) {
		pa->has_xcomp_perm = 1;
		pa->xcomp_perm = v;
	}
	if (r == 0 && (r = TRY(inj, &ret, ctx, SYS_arch_prctl, ARCH_GET_UNTAG_MASK, inj->scratch)) == 0 && ret == 0 &&
	    inj_read(inj, inj->scratch, &v, sizeof(v)) == 0 && v != ~0ULL)
		return fe_msg(ctx->err, EOPNOTSUPP, "pid %d uses linear address masking (untag mask %#llx), which this "
			      "version cannot checkpoint", t->pid, (unsigned long long)v);
	if (r == 0 && (r = TRY(inj, &ret, ctx, SYS_prctl, GET_MEMORY_MERGE, 0, 0, 0, 0)) == 0 && ret == 1) {
		if (!ferry_has_cap(CAP_SYS_RESOURCE))
			return fe_msg(ctx->err, EPERM, "pid %d has KSM merging on for all its memory (PR_SET_MEMORY_MERGE), "
				      "which only CAP_SYS_RESOURCE can restore, and ferry lacks it", t->pid);
		pa->has_memory_merge = pa->memory_merge = 1;
	}
	return r;
}

static int prctl_dump(struct dump_ctx *ctx, struct dtask *t)
{
	Ferry__ProcAttrs *pa = task_proc_attrs(ctx, t);
	if (!pa)
		return -ENOMEM;
	return dump_process(ctx, t, pa);	/* each thread's: prctl_dump_thread(), from task/thread.c */
}

/* An injected call that must succeed, named in the error. */
#define SET(ctx, inj, what, nr, ...) ({ long _ret; RINJ((ctx), (inj), &_ret, (what), (nr), __VA_ARGS__); })

static int restore_xcomp(struct restore_ctx *ctx, struct injector *inj, uint64_t want)
{
	long ret;
	uint64_t have = 0;
	int r = RINJ(ctx, inj, &ret, "read the permitted XSAVE features", SYS_arch_prctl, ARCH_GET_XCOMP_PERM,
		     inj->scratch);
	if (r == 0 && (r = inj_read(inj, inj->scratch, &have, sizeof(have))) < 0)
		return fe_set(ctx->err, r, "read the permitted XSAVE features");
	for (int f = 0; r == 0 && f < XFEATURE_MAX; f++)
		if (((want & ~have) >> f) & 1)
			r = SET(ctx, inj, "request permission for an XSAVE feature (ARCH_REQ_XCOMP_PERM)", SYS_arch_prctl,
				ARCH_REQ_XCOMP_PERM, f);
	return r;
}

static int prctl_restore_inject(struct restore_ctx *ctx, struct rtask *t)
{
	const Ferry__ProcAttrs *pa = t->core->attrs;
	struct injector *inj = &t->threads[0].inj;
	int r = 0;
	if (!pa)
		return 0;
	if (pa->has_thp_disable)
		r = SET(ctx, inj, "PR_SET_THP_DISABLE", SYS_prctl, SET_THP_DISABLE, pa->thp_disable & 1,
			pa->thp_disable & ~1U, 0, 0);
	for (int bit = 0; r == 0 && pa->has_membarrier && bit < 32; bit++)
		if ((pa->membarrier >> bit) & 1)
			r = SET(ctx, inj, "register for membarrier", SYS_membarrier, 1U << bit, 0, 0);
	if (r == 0 && pa->has_xcomp_perm)
		r = restore_xcomp(ctx, inj, pa->xcomp_perm);
	if (r == 0 && pa->memory_merge)
		r = SET(ctx, inj, "PR_SET_MEMORY_MERGE", SYS_prctl, SET_MEMORY_MERGE, 1, 0, 0, 0);
	return r;
}

static int restore_spec(struct restore_ctx *ctx, struct injector *inj, int which, int want)
{
	long ret;
	if (!(want & PR_SPEC_PRCTL))
		return 0;	/* not under prctl control: nothing the task could have changed */
	int r = RINJ(ctx, inj, &ret, "read a speculation control", SYS_prctl, PR_GET_SPECULATION_CTRL, which, 0, 0, 0);
	if (r < 0 || (ret & SPEC_STATES) == (want & SPEC_STATES))
		return r;
	return SET(ctx, inj, "PR_SET_SPECULATION_CTRL", SYS_prctl, PR_SET_SPECULATION_CTRL, which,
		   want & SPEC_STATES, 0, 0);
}

static int prctl_restore_thread(struct restore_ctx *ctx, struct rtask *t, struct rthread *th)
{
	const Ferry__ThreadAttrs *a = th->core->attrs;
	struct injector *inj = &th->inj;
	int r = 0;
	if (!a)
		return 0;
	if (a->has_tsc && a->tsc != PR_TSC_ENABLE)
		r = SET(ctx, inj, "PR_SET_TSC", SYS_prctl, PR_SET_TSC, a->tsc, 0, 0, 0);
	if (r == 0 && a->has_mce_kill && a->mce_kill != PR_MCE_KILL_DEFAULT)
		r = SET(ctx, inj, "PR_MCE_KILL", SYS_prctl, PR_MCE_KILL, PR_MCE_KILL_SET, a->mce_kill, 0, 0);
	for (size_t i = 0; r == 0 && i < a->n_spec_ctrl && i < NSPEC; i++)
		r = restore_spec(ctx, inj, (int)i, a->spec_ctrl[i]);
	if (r == 0 && a->cpuid_faulting)
		r = SET(ctx, inj, "ARCH_SET_CPUID (CPUID faulting)", SYS_arch_prctl, ARCH_SET_CPUID, 0);
	if (r == 0 && a->io_flusher)
		r = SET(ctx, inj, "PR_SET_IO_FLUSHER", SYS_prctl, SET_IO_FLUSHER, 1, 0, 0, 0);
	if (r == 0 && a->has_pdeath_sig && th->tid != t->pid)
		r = SET(ctx, inj, "set the thread's parent-death signal", SYS_prctl, PR_SET_PDEATHSIG, a->pdeath_sig, 0, 0, 0);
	if (r == 0 && a->has_personality && th->tid != t->pid)
		r = SET(ctx, inj, "set the thread's personality", SYS_personality, a->personality);
	return r;
}

/* Memory-deny-write-execute last: the restore maps executable memory until then. */
static int prctl_restore_late(struct restore_ctx *ctx, struct rtask *t)
{
	const Ferry__ProcAttrs *pa = t->core->attrs;
	if (!pa || !pa->has_mdwe || !pa->mdwe)
		return 0;
	return SET(ctx, &t->threads[0].inj, "PR_SET_MDWE", SYS_prctl, SET_MDWE, pa->mdwe, 0, 0, 0);
}

/*
 * Syscall user dispatch would turn what ferry injects (from outside the thread's allowed region)
 * into SIGSYS: the dump's injector switches it off for each call only (inject/syscall.c). At
 * restore it is set by ptrace as the thread is released (task/thread.c).
 */
int task_sud_dump(struct dump_ctx *ctx, struct dtask *t)
{
	for (size_t i = 0; i < t->nthreads; i++) {
		struct ptrace_sud_conf c;
		int r = pt_get_sud(t->threads[i].tid, &c);
		if (r == -EINVAL || r == -EIO)
			return 0;
		if (r < 0)
			return fe_set(ctx->err, r, "read the syscall user dispatch of thread %d", t->threads[i].tid);
		if (!c.mode)
			continue;
		Ferry__ThreadAttrs *a = task_thread_attrs(ctx, &t->threads[i]);
		Ferry__SudConfig *sud = ARENA_NEW(&ctx->arena, Ferry__SudConfig);
		if (!a || !sud)
			return -ENOMEM;
		ferry__sud_config__init(sud);
		sud->mode = c.mode;
		sud->selector = c.selector;
		sud->offset = c.offset;
		sud->len = c.len;
		a->sud = sud;
	}
	return 0;
}

static int set_sud(pid_t tid, const Ferry__SudConfig *s)
{
	struct ptrace_sud_conf c = { s->mode, s->selector, s->offset, s->len };
	return pt_set_sud(tid, &c);
}

int task_sud_restore(struct restore_ctx *ctx, struct rthread *th)
{
	const Ferry__ThreadAttrs *a = th->core->attrs;
	int r = a && a->sud ? set_sud(th->tid, a->sud) : 0;
	return r < 0 ? fe_set(ctx->err, r, "thread %d: set its syscall user dispatch (mode %llu)", th->tid,
			      (unsigned long long)a->sud->mode) : 0;
}

const struct task_obj_ops prctl_obj = {
	.name = "prctl",
	.dump = prctl_dump,
	.restore_inject = prctl_restore_inject,
	.restore_thread = prctl_restore_thread,
	.restore_late = prctl_restore_late,
};
