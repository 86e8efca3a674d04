/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mm as a whole: mm fields (code/data/brk/stack/arg/env bounds, auxv, exe) and the vdso.
 * Restore builds the address space in a task that starts as a copy of ferry: a trampoline page
 * with `syscall; int3` is mapped where neither layout has anything, everything else is unmapped,
 * the vdso is recreated where it was, and every VMA is mapped and filled.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#define LOG_PREFIX "mm: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/kprobe.h"
#include "common/util.h"
#include "inject/ptrace.h"
#include "files/files.h"
#include "mem/fill.h"
#include "mem/mem.h"

#ifndef ARCH_MAP_VDSO_64
#define ARCH_MAP_VDSO_64 0x2003
#endif
#define TASK_SIZE_47 0x7ffffffff000ULL

static int dump_mm_fields(struct dump_ctx *ctx, struct dtask *t)
{
	char path[64];
	_cleanup_free_ char *stat = NULL;
	int r = read_file(PROC_PATH(path, t->pid, "stat"), &stat, NULL);
	if (r < 0)
		return fe_set(ctx->err, r, "read %s", path);
	/* Fields after the comm: state is field 3; we need 26-28 and 45-51. */
	const char *p = strrchr(stat, ')');
	unsigned long long f[53] = { 0 };
	int idx = 3;
	for (p = p ? p + 2 : stat; *p && idx < 53; idx++) {
		f[idx] = strtoull(p, NULL, 10);
		p = strchr(p, ' ');
		if (!p)
			break;
		p++;
	}
	if (idx < 51)
		return fe_msg(ctx->err, EIO, "pid %d: short /proc/%d/stat", t->pid, t->pid);
	Ferry__Mm *mm = t->mm;
	mm->start_code = f[26];
	mm->end_code = f[27];
	mm->start_stack = f[28];
	mm->start_data = f[45];
	mm->end_data = f[46];
	mm->start_brk = f[47];
	mm->arg_start = f[48];
	mm->arg_end = f[49];
	mm->env_start = f[50];
	mm->env_end = f[51];
	long ret;
	r = DINJ(ctx, t, &ret, "read brk", SYS_brk, 0);
	if (r < 0)
		return r;
	mm->brk = ret;

	_cleanup_free_ char *auxv = NULL;
	size_t len;
	r = read_file(PROC_PATH(path, t->pid, "auxv"), &auxv, &len);
	if (r < 0)
		return fe_set(ctx->err, r, "read %s", path);
	mm->n_auxv = len / 8;
	mm->auxv = arena_memdup(&ctx->arena, auxv, len);
	char *exe = NULL;
	r = read_link(PROC_PATH(path, t->pid, "exe"), &exe);
	if (r < 0)
		return fe_set(ctx->err, r, "read %s", path);
	if (strstr(exe, " (deleted)")) {
		r = fe_msg(ctx->err, EOPNOTSUPP, "pid %d runs a deleted executable %s: not supported by this version",
			   t->pid, exe);
		free(exe);
		return r;
	}
	mm->exe_path = arena_strdup(&ctx->arena, exe);
	free(exe);
	return 0;
}

/*
 * Mappings of memfds and of deleted files name their object in files.img (whose content travels
 * in the image); the object is found through /proc/PID/map_files.
 */
static int resolve_objects(struct dump_ctx *ctx, struct dtask *t)
{
	for (size_t i = 0; i < t->mm->n_vmas; i++) {
		Ferry__Vma *v = t->mm->vmas[i];
		if (v->kind == FERRY__VMA_KIND__VMA_SYSV_SHM) {
			int r = shm_dump_mapping(ctx, t, v);
			if (r < 0)
				return r;
			continue;
		}
		unsigned long long ino;
		if (v->path && sscanf(v->path, "socket:[%llu]", &ino) == 1) {	/* packet rings (files/packet.c) */
			if (packet_file_for_mapping(ctx, ino, &v->file_id) < 0)
				return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: mapping of %s at %#llx: its socket is not "
					      "held by this task: not supported", t->pid, v->path, (unsigned long long)v->start);
			v->has_file_id = 1;
			continue;
		}
		if (!v->path || (strncmp(v->path, "/memfd:", 7) && !v->deleted))
			continue;
		if (strcmp(v->path, "/secretmem (deleted)") == 0) {	/* no reopening it: mem/secretmem.c */
			int r = memfd_dump_secret_mapping(ctx, t, v, &v->file_id);
			if (r < 0)
				return fe_wrap(ctx->err, r, "pid %d: secret memory at %#llx", t->pid, (unsigned long long)v->start);
			v->has_file_id = 1;
			continue;
		}
		char path[96];
		snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", t->pid, (unsigned long long)v->start,
			 (unsigned long long)v->end);
		_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return fe_set(ctx->err, errno, "pid %d: open %s", t->pid, path);
		int r = files_dump_mapping(ctx, t, fd, v->path, &v->file_id);
		if (r < 0)
			return fe_wrap(ctx->err, r, "pid %d: mapping at %#llx", t->pid, (unsigned long long)v->start);
		v->has_file_id = 1;
	}
	return 0;
}

static uint64_t vmlck_kb(const char *status)
{
	const char *p = status ? proc_field(status, "VmLck") : NULL;
	return p ? strtoull(p, NULL, 10) : 0;
}

/*
 * mlockall(MCL_FUTURE) locks every mapping made afterwards (the mm's def_flags, which no file
 * shows): a probe page mapped for a moment comes locked (VmLck grows) if it is in force, and is
 * left unpopulated under MCL_ONFAULT. Nothing else is mapped into the task (the injector borrows
 * its stack), so only the probe can tell.
 */
static int dump_mlockall(struct dump_ctx *ctx, struct dtask *t)
{
	char path[64];
	long probe, ret;
	int r;
	if ((r = DINJ(ctx, t, &probe, "map a probe page", SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) < 0)
		return r;
	_cleanup_free_ char *now = NULL;
	uint64_t pme = 0;
	int rs = read_file(PROC_PATH(path, t->pid, "status"), &now, NULL);
	_cleanup_close_ int pm = open(PROC_PATH(path, t->pid, "pagemap"), O_RDONLY | O_CLOEXEC);
	int rd = pm < 0 ? -errno : pread_full(pm, &pme, 8, (probe / 4096) * 8);
	if ((r = DINJ(ctx, t, &ret, "unmap the probe page", SYS_munmap, probe, 4096)) < 0)
		return r;
	if (rs < 0)
		return fe_set(ctx->err, rs, "read /proc/%d/status", t->pid);
	if (vmlck_kb(now) <= vmlck_kb(t->status))
		return 0;
	if (rd < 0)
		return fe_set(ctx->err, rd, "pid %d: read its pagemap", t->pid);
	t->mm->has_mlockall = 1;
	t->mm->mlockall = MCL_FUTURE | (pme >> 63 ? 0 : MCL_ONFAULT);
	pr_debug("pid %d: mlockall(MCL_FUTURE%s) in force\n", t->pid, pme >> 63 ? "" : " | MCL_ONFAULT");
	return 0;
}

/* The layout itself was read before anything was injected (vma_dump_layout). */
static int mm_dump(struct dump_ctx *ctx, struct dtask *t)
{
	ctx->stats.vmas += t->mm->n_vmas;
	int r = resolve_objects(ctx, t);
	if (r == 0)
		r = dump_mm_fields(ctx, t);
	if (r == 0)
		r = dump_mlockall(ctx, t);
	return r < 0 ? r : aio_dump(ctx, t);
}

static int mm_restore_inject(struct restore_ctx *ctx, struct rtask *t)
{
	return mem_restore_late(ctx, t);
}

const struct task_obj_ops mm_obj = {
	.name = "mm",
	.dump = mm_dump,
	.restore_inject = mm_restore_inject,
};

/*
 * A TRAMP_SIZE hole free in the current layout (maps text) and in every task's image layout:
 * forked tasks inherit the trampoline at the same address.
 */
static uint64_t find_gap(const char *maps, const struct restore_ctx *ctx)
{
	for (uint64_t cand = 0x10000; cand < 0x100000000ULL; cand += 0x10000) {
		uint64_t end = cand + TRAMP_SIZE;
		int clash = 0;
		for (size_t k = 0; k < ctx->ntasks && !clash; k++) {
			const Ferry__Mm *mm = ctx->tasks[k].mm;
			for (size_t i = 0; mm && i < mm->n_vmas && !clash; i++)
				clash = mm->vmas[i]->start < end && cand < mm->vmas[i]->end;
		}
		for (const char *l = maps; l && *l && !clash; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
			unsigned long long s, e;
			if (sscanf(l, "%llx-%llx", &s, &e) == 2)
				clash = s < end && cand < e;
		}
		if (!clash)
			return cand;
	}
	return 0;
}

static int vdso_range(const char *maps, uint64_t *s, uint64_t *e)
{
	for (const char *l = maps; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		unsigned long long a, b;
		if (sscanf(l, "%llx-%llx", &a, &b) == 2) {
			const char *nl = strchr(l, '\n');
			const char *v = strstr(l, "[vdso]");
			if (v && (!nl || v < nl)) {
				*s = a;
				*e = b;
				return 0;
			}
		}
	}
	return -ENOENT;
}

int mem_restore_prepare(struct restore_ctx *ctx, struct rtask *t)
{
	struct rthread *th = &t->threads[0];
	char path[64];
	_cleanup_free_ char *maps = NULL;
	uint64_t vs, ve, sc;
	long ret;
	int r = read_file(PROC_PATH(path, t->pid, "maps"), &maps, NULL);
	if (r < 0)
		return fe_set(ctx->err, r, "read %s", path);
	if (vdso_range(maps, &vs, &ve) < 0 || find_syscall_insn(t->pid, vs, ve, &sc) < 0)
		return fe_msg(ctx->err, ENOENT, "no syscall instruction in the restorer's vdso");
	r = inj_open(&th->inj, th->tid, sc, ctx->err);
	if (r < 0)
		return r;
	th->inj.trap_ok = 1;	/* no SIGTRAP action or signal until task/signals.c restores them */
	/* The restorer's glibc registered rseq; once its memory is gone the kernel would fault on it. */
	struct ptrace_rseq_conf rc;
	if (pt_get_rseq(t->pid, &rc) == 0 && rc.rseq_abi_pointer) {
		r = RINJ(ctx, &th->inj, &ret, "unregister the restorer's rseq", SYS_rseq, rc.rseq_abi_pointer,
			 rc.rseq_abi_size, 1 /* RSEQ_FLAG_UNREGISTER */, rc.signature);
		if (r < 0)
			return r;
	}
	t->tramp = find_gap(maps, ctx);
	if (!t->tramp)
		return fe_msg(ctx->err, ENOMEM, "no room for the restore trampoline below 4 GiB");
	r = RINJ(ctx, &th->inj, &ret, "map the trampoline", SYS_mmap, t->tramp, TRAMP_SIZE,
		 PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (r < 0)
		return r;
	static const uint8_t code[] = { 0x0f, 0x05, 0xcc };
	r = inj_write(&th->inj, t->tramp, code, sizeof(code));
	if (r < 0)
		return fe_set(ctx->err, r, "write the trampoline");
	th->inj.sc_addr = t->tramp;
	th->inj.scratch = t->tramp + TRAMP_SCRATCH_OFF;
	th->inj.scratch_len = TRAMP_SIZE - TRAMP_SCRATCH_OFF;
	r = RINJ(ctx, &th->inj, &ret, "unmap the restorer below the trampoline", SYS_munmap, 0, t->tramp);
	if (!r)
		r = RINJ(ctx, &th->inj, &ret, "unmap the restorer above the trampoline", SYS_munmap,
			 t->tramp + TRAMP_SIZE, TASK_SIZE_47 - (t->tramp + TRAMP_SIZE));
	return r;
}

int mm_vdso_layout(const Ferry__Mm *mm, uint64_t *base_out, uint64_t len[3], struct ferry_err *err)
{
	const struct kprobe *kp = kprobe_get();
	const uint64_t want[3] = { kp->vvar_size, kp->vvar_vclock_size, kp->vdso_size };
	const Ferry__VmaKind kinds[3] = { FERRY__VMA_KIND__VMA_VVAR, FERRY__VMA_KIND__VMA_VVAR_VCLOCK, FERRY__VMA_KIND__VMA_VDSO };
	uint64_t at[3] = { 0 }, base = 0, off = 0;
	len[0] = len[1] = len[2] = 0;
	for (size_t i = 0; i < mm->n_vmas; i++)
		for (int k = 0; k < 3; k++)
			if (mm->vmas[i]->kind == kinds[k]) {
				at[k] = mm->vmas[i]->start;
				len[k] = mm->vmas[i]->end - mm->vmas[i]->start;
			}
	for (int k = 0; k < 3; off += want[k], k++) {
		if (!len[k])
			continue;
		if (len[k] != want[k] || (base && at[k] - off != base))
			return fe_msg(err, EOPNOTSUPP, "the image's vdso layout (vvar %llu, vvar_vclock %llu, vdso %llu "
				      "bytes) differs from this kernel's (%llu, %llu, %llu)", (unsigned long long)len[0],
				      (unsigned long long)len[1], (unsigned long long)len[2], (unsigned long long)want[0],
				      (unsigned long long)want[1], (unsigned long long)want[2]);
		base = at[k] - off;
	}
	*base_out = base;
	return 0;
}

/*
 * [vvar], [vvar_vclock] and [vdso] lie back to back; ARCH_MAP_VDSO_64 maps all three at a base.
 * A program may have unmapped some or all of them: the missing ones are unmapped again.
 */
static int restore_vdso(struct restore_ctx *ctx, struct rtask *t)
{
	const struct kprobe *kp = kprobe_get();
	const uint64_t want[3] = { kp->vvar_size, kp->vvar_vclock_size, kp->vdso_size };
	uint64_t len[3], base, off;
	long ret;
	int r0 = mm_vdso_layout(t->mm, &base, len, ctx->err);
	if (r0 < 0)
		return r0;
	if (!base)
		return 0;	/* none of them: the task had unmapped its vdso */
	int r = RINJ(ctx, &t->threads[0].inj, &ret, "map the vdso", SYS_arch_prctl, ARCH_MAP_VDSO_64, base);
	off = 0;
	for (int k = 0; r == 0 && k < 3; off += want[k], k++)
		if (!len[k] && want[k])
			r = RINJ(ctx, &t->threads[0].inj, &ret, "unmap what the task had unmapped of its vdso", SYS_munmap,
				 base + off, want[k]);
	return r;
}

/*
 * Maps every VMA (writable where pages go), drops what a forked task must not keep, reads the
 * runs left to parent images, and queues the task's own pages with the filler (mem/fill.h).
 * kept: NULL for the root; else per VMA 0 or the parent's prot + 1 (inherited), owned by t.
 */
int mem_restore_layout(struct restore_ctx *ctx, struct rtask *t, int *kept)
{
	t->kept = kept;
	int r = kept ? 0 : restore_vdso(ctx, t);
	if (r < 0 || (r = vma_restore_map_all(ctx, t, kept)) < 0)
		return r;
	if (kept && (r = pages_restore_drop_gaps(ctx, t, kept)) < 0)
		return r;
	/* Before the filler registers its userfaultfd: the task's own reads must not fault there. */
	if ((r = pages_restore_fill_chain(ctx, t)) < 0)
		return r;
	return filler_submit(ctx, t, FILL_WRITE | (ctx->pages_checked ? 0 : FILL_CHECK));
}

/*
 * Once the whole tree exists and is filled (nothing is forked or written any more): what fork
 * would not carry or what would hide memory from the children forked at restore, then
 * mlockall(MCL_FUTURE), then seals. A lock, guard or seal on a VMA the filler still wrote into
 * would fail the write or be undone by it.
 */
int mem_restore_late(struct restore_ctx *ctx, struct rtask *t)
{
	long ret;
	int r = memfd_seal_deferred(ctx);
	if (r == 0)
		r = vma_restore_flags(ctx, t, 0);
	if (r == 0 && t->mm->has_mlockall && t->mm->mlockall)
		r = RINJ(ctx, &t->threads[0].inj, &ret, "mlockall", SYS_mlockall, t->mm->mlockall & (MCL_FUTURE | MCL_ONFAULT));
	if (r == 0)
		r = vma_restore_flags(ctx, t, 1);
	return r < 0 ? fe_wrap(ctx->err, r, "pid %d: memory state", t->pid) : 0;
}

/*
 * Once the filler has handed t back: the final protections, the AIO contexts (before t forks
 * children, which inherit their rings' mappings) and the mm fields.
 */
int mem_restore_finish(struct restore_ctx *ctx, struct rtask *t)
{
	ctx->stats.pages_restored += t->pagemap->total_pages;
	int r = vma_restore_protect_all(ctx, t, t->kept);
	if (r == 0)
		r = aio_restore(ctx, t);
	return r < 0 ? r : mem_restore_mm_fields(ctx, t);
}

/* Whether any of t's pages in [start, end) is still shared with its parent (inherited runs). */
static int shares_pages(const struct rtask *t, uint64_t start, uint64_t end)
{
	const Ferry__Pagemap *pm = t->pagemap;
	for (size_t k = 0; k < pm->n_inherited; k++)
		if (pm->inherited[k]->vaddr < end && pm->inherited[k]->vaddr + pm->inherited[k]->nr_pages * 4096ULL > start)
			return 1;
	return 0;
}

/*
 * Which of p's VMAs child t keeps: the same range, kind and file, and for private memory only
 * where t still shares pages with p (else a fresh mapping does, without copying p's page tables
 * at the fork and dropping p's pages after): kept[i] = prot + 1, pkeep[j] = 1.
 */
static void match_vmas(const struct rtask *t, const Ferry__Mm *pm, int *kept, uint8_t *pkeep)
{
	const Ferry__Mm *cm = t->mm;
	for (size_t i = 0; i < cm->n_vmas; i++) {
		const Ferry__Vma *v = cm->vmas[i];
		int private = v->kind == FERRY__VMA_KIND__VMA_ANON || v->kind == FERRY__VMA_KIND__VMA_HEAP ||
			      v->kind == FERRY__VMA_KIND__VMA_STACK || v->kind == FERRY__VMA_KIND__VMA_FILE_PRIVATE;
		if ((private && !shares_pages(t, v->start, v->end)) || aio_is_context(cm, v))
			continue;	/* (a ring of t's own context is made by io_setup(), mem/aio.c) */
		for (size_t j = 0; j < pm->n_vmas; j++)
			if (!pkeep[j] && vma_same(v, pm->vmas[j])) {
				kept[i] = (int)pm->vmas[j]->prot + 1;
				pkeep[j] = 1;
				break;
			}
	}
}

/* Pages in runs [0, n) that fall in [start, end) (runs in order; *at is a cursor). */
static uint64_t pages_in(Ferry__PagemapEntry *const *runs, size_t n, size_t *at, uint64_t start, uint64_t end)
{
	uint64_t pages = 0;
	while (*at < n && runs[*at]->vaddr < start)
		(*at)++;
	for (; *at < n && runs[*at]->vaddr < end; (*at)++)
		pages += runs[*at]->nr_pages;
	return pages;
}

#define HIDE_MIN_PAGES 256

/*
 * Before p forks t: p's VMAs that t does not keep and that hold at least 1 MiB are marked
 * MADV_DONTFORK, so that the fork does not copy their page tables only for t to unmap them
 * again. *hidden (NULL if none) lists them per VMA of p, for mem_fork_unhide() and
 * mem_restore_child_layout(). Only VM_DONTCOPY changes (WIPEONFORK, locks, guards and seals
 * are given after every fork, in mem_restore_late). A VMA the image says is DONTFORK is left
 * out: were its flag ever given before a fork, the MADV_DOFORK after it would take it away.
 */
int mem_fork_hide(struct restore_ctx *ctx, struct rtask *p, struct rtask *t, uint8_t **hidden)
{
	const Ferry__Mm *pm = p->mm;
	const Ferry__Pagemap *pp = p->pagemap;
	_cleanup_free_ int *kept = calloc(t->mm->n_vmas + 1, sizeof(int));
	_cleanup_free_ uint8_t *pkeep = calloc(pm->n_vmas + 1, 1);
	uint8_t *h = calloc(pm->n_vmas + 1, 1);
	*hidden = NULL;
	if (!kept || !pkeep || !h) {
		free(h);
		return fe_set(ctx->err, ENOMEM, "VMA lists");
	}
	match_vmas(t, pm, kept, pkeep);
	size_t a = 0, b = 0, n = 0;
	long ret;
	int r = 0;
	for (size_t j = 0; r == 0 && j < pm->n_vmas; j++) {
		const Ferry__Vma *v = pm->vmas[j];
		uint64_t pages = pages_in(pp->entries, pp->n_entries, &a, v->start, v->end) +
				 pages_in(pp->inherited, pp->n_inherited, &b, v->start, v->end);
		if (pkeep[j] || pages < HIDE_MIN_PAGES || (v->vmflags & VMF_DONTFORK))
			continue;
		r = RINJ(ctx, &p->threads[0].inj, &ret, "keep a mapping from the next fork", SYS_madvise, v->start,
			 v->end - v->start, MADV_DONTFORK);
		h[j] = r == 0;
		n += r == 0;
	}
	if (n)
		*hidden = h;
	else
		free(h);
	return r;
}

/* After the fork: the VMAs mem_fork_hide() marked are inherited by later forks again. */
int mem_fork_unhide(struct restore_ctx *ctx, struct rtask *p, const uint8_t *hidden)
{
	long ret;
	int r = 0;
	for (size_t j = 0; hidden && j < p->mm->n_vmas; j++)
		if (hidden[j] && r == 0)
			r = RINJ(ctx, &p->threads[0].inj, &ret, "let forks inherit a mapping again", SYS_madvise,
				 p->mm->vmas[j]->start, p->mm->vmas[j]->end - p->mm->vmas[j]->start, MADV_DOFORK);
	return r;
}

/*
 * A task forked from its restored parent p: turns p's address space into t's, then as the root.
 * hidden: p's VMAs the fork did not copy (mem_fork_hide), or NULL.
 */
int mem_restore_child_layout(struct restore_ctx *ctx, struct rtask *t, struct rtask *p, const uint8_t *hidden)
{
	const Ferry__Mm *cm = t->mm, *pm = p->mm;
	int *kept = calloc(cm->n_vmas + 1, sizeof(int));
	uint8_t *pkeep = calloc(pm->n_vmas + 1, 1);
	int r = (!kept || !pkeep) ? fe_set(ctx->err, ENOMEM, "VMA lists") : 0, vdso_kept = 0, vdso_any = 0;
	if (r == 0)
		match_vmas(t, pm, kept, pkeep);
	for (size_t i = 0; r == 0 && i < cm->n_vmas; i++) {
		int kernel = cm->vmas[i]->kind == FERRY__VMA_KIND__VMA_VDSO || cm->vmas[i]->kind == FERRY__VMA_KIND__VMA_VVAR ||
			     cm->vmas[i]->kind == FERRY__VMA_KIND__VMA_VVAR_VCLOCK;
		vdso_any |= kernel;
		vdso_kept |= kernel && kept[i];
	}
	/* Whatever of the parent's the child does not have goes (the trampoline is not in the list). */
	for (size_t j = 0; r == 0 && j < pm->n_vmas; j++) {
		long ret;
		if (!pkeep[j] && !(hidden && hidden[j]))
			r = RINJ(ctx, &t->threads[0].inj, &ret, "unmap a parent's mapping", SYS_munmap,
				 pm->vmas[j]->start, pm->vmas[j]->end - pm->vmas[j]->start);
	}
	if (r == 0 && vdso_any && !vdso_kept)
		r = restore_vdso(ctx, t);
	free(pkeep);
	if (r == 0)
		return mem_restore_layout(ctx, t, kept);
	free(kept);
	return r;
}

int mem_restore_mm_fields(struct restore_ctx *ctx, struct rtask *t)
{
	struct injector *inj = &t->threads[0].inj;
	const Ferry__Mm *mm = t->mm;
	long exe_fd = -1, ret;
	int r;
	/* A forked task already has its parent's exe link (which the kernel won't replace while mapped). */
	const Ferry__Mm *pmm = t->parent >= 0 ? ctx->tasks[t->parent].mm : NULL;
	int same_exe = pmm && pmm->exe_path && mm->exe_path && strcmp(pmm->exe_path, mm->exe_path) == 0;
	if (mm->exe_path && !same_exe) {
		uint64_t at = inj_scratch_put(inj, 0, mm->exe_path, strlen(mm->exe_path) + 1);
		if (!at)
			return fe_msg(ctx->err, ENAMETOOLONG, "executable path too long");
		r = RINJ(ctx, inj, &exe_fd, mm->exe_path, SYS_open, at, O_RDONLY | O_CLOEXEC);
		if (r < 0)
			return fe_wrap(ctx->err, r, "open the executable");
	}
	struct prctl_mm_map map = {
		.start_code = mm->start_code, .end_code = mm->end_code,
		.start_data = mm->start_data, .end_data = mm->end_data,
		.start_brk = mm->start_brk, .brk = mm->brk, .start_stack = mm->start_stack,
		.arg_start = mm->arg_start, .arg_end = mm->arg_end,
		.env_start = mm->env_start, .env_end = mm->env_end,
		.auxv_size = mm->n_auxv * 8, .exe_fd = (uint32_t)exe_fd,
	};
	if (map.auxv_size > 4096)
		return fe_msg(ctx->err, EBADMSG, "mm-%d.img: auxv too large", t->pid);
	map.auxv = (void *)(uintptr_t)inj_scratch_put(inj, 1024, mm->auxv, map.auxv_size);
	uint64_t at = inj_scratch_put(inj, 0, &map, sizeof(map));
	r = RINJ(ctx, inj, &ret, "set mm fields (PR_SET_MM_MAP)", SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, at, sizeof(map));
	if (exe_fd >= 0)
		RINJ(ctx, inj, &ret, "close", SYS_close, exe_fd);
	return r;
}

int mem_restore_drop_trampoline(struct restore_ctx *ctx, struct rtask *t)
{
	long ret;
	return RINJ(ctx, &t->threads[0].inj, &ret, "unmap the trampoline", SYS_munmap, t->tramp, TRAMP_SIZE);
}
