/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pre-checks (precheck.h): everything that would make a restore fail on this machine and that
 * can be known from the image alone — the CPU, kernel features, the vDSO layout, PIDs, files —
 * checked before anything is created, every difference named.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "common/cleanup.h"
#include "common/cpuid.h"
#include "common/kprobe.h"
#include "common/util.h"
#include "engine/precheck.h"
#include "files/path.h"
#include "mem/mem.h"
#include "task/task.h"

struct pc {
	struct restore_ctx *ctx;
	struct ferry_check_report *rep;
	int code;		/* the first difference's errno */
	int cls;		/* and its class (enum fe_class; FE_NONE: derived from code) */
	char msg[sizeof(((struct ferry_err *)0)->msg)];
};

static void differs(struct pc *pc, int cls, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void differs(struct pc *pc, int cls, int code, const char *fmt, ...)
{
	char line[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	size_t l = strlen(pc->msg);
	snprintf(pc->msg + l, sizeof(pc->msg) - l, "%s%s", l ? "; " : "", line);
	if (!pc->code) {
		pc->code = code;
		pc->cls = cls;
	}
	if (!pc->rep)
		return;
	char **n = realloc(pc->rep->items, (pc->rep->n + 1) * sizeof(*n));
	if (n && (n[pc->rep->n] = strdup(line)))
		pc->rep->n++;
	if (n)
		pc->rep->items = n;
}

void ferry_check_report_free(struct ferry_check_report *rep)
{
	for (size_t i = 0; rep && i < rep->n; i++)
		free(rep->items[i]);
	if (rep)
		free(rep->items);
}

/* ---------------------------------------------------------------- CPU */

static void check_fpu(struct pc *pc)
{
	const Ferry__Inventory *inv = pc->ctx->inv;
	const struct kprobe *kp = kprobe_get();
	/* FERRY_FAULT=restore-cpu-x87-sse: pretend this CPU has x87 and SSE state only */
	uint64_t here = fault_point("restore-cpu-x87-sse") ? 0x3 : kp->xcr0;
	if (inv->has_xcr0 && (inv->xcr0 & ~here))
		differs(pc, FE_IMAGE_FOREIGN, EOPNOTSUPP, "the image uses XSAVE features this CPU lacks (XCR0 %#llx, here %#llx): restore "
			"it on a CPU that has them (--cpu-cap=none skips this check)", (unsigned long long)inv->xcr0,
			(unsigned long long)here);
	else if (inv->has_xsave_size && inv->xsave_size > kp->xsave_size)
		differs(pc, FE_IMAGE_FOREIGN, EOPNOTSUPP, "the image's XSAVE area is %u bytes, this CPU's %u (--cpu-cap=none skips this "
			"check)", inv->xsave_size, kp->xsave_size);
	for (size_t i = 0; i < pc->ctx->ntasks; i++) {
		const Ferry__TaskCore *c = pc->ctx->tasks[i].core;
		if (c && c->attrs && c->attrs->has_xcomp_perm && (c->attrs->xcomp_perm & ~here))
			differs(pc, FE_IMAGE_FOREIGN, EOPNOTSUPP, "pid %d was permitted XSAVE features %#llx this CPU lacks (here %#llx)",
				c->pid, (unsigned long long)c->attrs->xcomp_perm, (unsigned long long)here);
	}
}

static const Ferry__CpuidWord *image_word(const Ferry__Inventory *inv, const struct cpuid_feature *f)
{
	for (size_t i = 0; i < inv->n_cpuid; i++)
		if (inv->cpuid[i]->leaf == f->leaf && inv->cpuid[i]->subleaf == f->subleaf && inv->cpuid[i]->reg == f->reg)
			return inv->cpuid[i];
	return NULL;
}

static int has_here(const struct cpuid_word *w, const struct cpuid_feature *f)
{
	for (size_t i = 0; i < CPUID_NWORDS; i++)
		if (w[i].leaf == f->leaf && w[i].subleaf == f->subleaf && w[i].reg == f->reg)
			return (w[i].value >> f->bit) & 1;
	return 0;
}

/* Every instruction-set flag the dumping CPU had must be here: the program may have probed it. */
static void check_ins(struct pc *pc)
{
	struct cpuid_word here[CPUID_NWORDS];
	size_t n;
	const struct cpuid_feature *f = cpuid_features(&n);
	char missing[512] = "";
	size_t l = 0, count = 0;
	cpuid_words(here);
	for (size_t i = 0; i < n; i++) {
		const Ferry__CpuidWord *w = image_word(pc->ctx->inv, &f[i]);
		if (!w || !((w->value >> f[i].bit) & 1) || has_here(here, &f[i]))
			continue;
		count++;
		if (l < sizeof(missing))
			l += (size_t)snprintf(missing + l, sizeof(missing) - l, "%s%s", l ? ", " : "", f[i].name);
	}
	if (count)
		differs(pc, FE_IMAGE_FOREIGN, EOPNOTSUPP, "the image was made on a CPU with %s, which this CPU lacks (%zu feature%s): a "
			"program may use them (--cpu-cap=none skips this check)", missing, count, count > 1 ? "s" : "");
}

/* ---------------------------------------------------------------- kernel, vDSO */

struct needs {
	int vdso, rseq, timens, timers;
};

static void task_needs(const struct rtask *t, struct needs *nd)
{
	const Ferry__TaskCore *c = t->core;
	for (size_t i = 0; t->mm && i < t->mm->n_vmas; i++)
		nd->vdso |= t->mm->vmas[i]->kind == FERRY__VMA_KIND__VMA_VDSO ||
			    t->mm->vmas[i]->kind == FERRY__VMA_KIND__VMA_VVAR;
	nd->timers |= c->n_posix_timers > 0;
	nd->timens |= c->attrs && c->attrs->timens_for_children;
	for (size_t i = 0; i < c->n_threads; i++) {
		nd->rseq |= c->threads[i]->rseq != NULL;
		nd->timens |= c->threads[i]->attrs && c->threads[i]->attrs->timens_for_children;
	}
}

static void check_kernel(struct pc *pc)
{
	const struct kprobe *kp = kprobe_get();
	struct needs nd = { 0 };
	for (size_t i = 0; i < pc->ctx->ntasks; i++)
		if (!pc->ctx->tasks[i].zombie && pc->ctx->tasks[i].core)
			task_needs(&pc->ctx->tasks[i], &nd);
	const struct {
		int need, have;
		const char *what;
	} f[] = {
		{ 1, kp->clone3_set_tid, "clone3 with set_tid (every task is made at its PID)" },
		{ 1, kp->pidfd_getfd, "pidfd_getfd (descriptors are handed to the tasks)" },
		{ nd.vdso, kp->map_vdso, "arch_prctl(ARCH_MAP_VDSO_64) (the vDSO is mapped where it was)" },
		{ nd.rseq, kp->rseq, "rseq (a thread had registered restartable sequences)" },
		{ nd.timens, kp->time_ns, "time namespaces (a task made one for its children)" },
		{ nd.timers, kp->timer_restore_ids, "PR_TIMER_CREATE_RESTORE_IDS (POSIX timers keep their ids)" },
	};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (f[i].need && !f[i].have)
			differs(pc, FE_IMAGE_FOREIGN, EOPNOTSUPP, "this kernel lacks %s", f[i].what);
}

static void check_vdso(struct pc *pc)
{
	for (size_t i = 0; i < pc->ctx->ntasks; i++) {
		const struct rtask *t = &pc->ctx->tasks[i];
		struct ferry_err e = { 0 };
		uint64_t base, len[3];
		if (!t->zombie && t->mm && mm_vdso_layout(t->mm, &base, len, &e) < 0) {
			differs(pc, FE_IMAGE_FOREIGN, EOPNOTSUPP, "pid %d: %s", t->pid, e.msg);
			return;	/* every task has the same one */
		}
	}
}

/* ---------------------------------------------------------------- PIDs */

/* Who holds a number as its process group or session: the processes of the system, read once. */
struct pid_user {
	pid_t pid, pgid, sid;
	char state;
};

static size_t read_pid_users(struct pid_user **out)
{
	_cleanup_closedir_ DIR *d = opendir("/proc");
	struct dirent *de;
	size_t n = 0, cap = 0;
	*out = NULL;
	while (d && (de = readdir(d))) {
		struct pid_user u = { .pid = (pid_t)strtol(de->d_name, NULL, 10) };
		int ppid;
		if (u.pid <= 0 || task_read_stat(u.pid, &ppid, &u.pgid, &u.sid, &u.state) < 0)
			continue;
		if (n == cap) {
			struct pid_user *m = realloc(*out, (cap = cap ? 2 * cap : 256) * sizeof(*m));
			if (!m)
				break;
			*out = m;
		}
		(*out)[n++] = u;
	}
	return n;
}

static int pid_taken(struct pc *pc, pid_t pid, pid_t by)
{
	char path[64];
	_cleanup_free_ char *comm = NULL;
	if (read_file(PROC_PATH(path, by, "comm"), &comm, NULL) == 0)
		comm[strcspn(comm, "\n")] = 0;
	if (by == pid)
		differs(pc, FE_PID_TAKEN, EEXIST, "pid %d is taken by a running process (%s): stop it or restore elsewhere",
			pid, comm ? comm : "?");
	else
		differs(pc, FE_PID_TAKEN, EEXIST, "pid %d is taken: it is the process group or session of running "
			"process %d (%s): stop it or restore elsewhere", pid, by, comm ? comm : "?");
	return -EEXIST;
}

/*
 * 1 while pid is held only by zombies (itself, or zombies whose group or session it names), 0 when
 * free, -EEXIST with the live holder named. A number stays taken while any process has it as its
 * process group or session, even after the process of that number is gone.
 */
static int pid_busy(struct pc *pc, pid_t pid, const struct pid_user *u, size_t n)
{
	int ppid, pgid, sid, zombie = 0;
	char state;
	if (task_read_stat(pid, &ppid, &pgid, &sid, &state) == 0)	/* a thread's number too */
		return state == 'Z' ? 1 : pid_taken(pc, pid, pid);
	for (size_t i = 0; i < n; i++) {
		if (u[i].pgid != pid && u[i].sid != pid)
			continue;
		if (u[i].state != 'Z' && task_read_stat(u[i].pid, &ppid, &pgid, &sid, &state) == 0 &&
		    (pgid == pid || sid == pid) && state != 'Z')
			return pid_taken(pc, pid, u[i].pid);
		zombie = 1;
	}
	return zombie;
}

/*
 * Every PID and TID of the tree free. One held only by zombies is waited for a while with
 * wait_zombies (PID 1 may reap late); every one a live process holds is named.
 */
static void check_pids(struct pc *pc, int wait_zombies)
{
	pid_t held = 0;
	for (int round = 0; round < (wait_zombies ? 1000 : 1); round++) {
		_cleanup_free_ struct pid_user *u = NULL;
		size_t n = read_pid_users(&u);
		int taken = 0;
		held = 0;
		for (size_t k = 0; k < pc->ctx->ntasks; k++)
			for (size_t i = 0; i < pc->ctx->tasks[k].pstree->n_threads; i++) {
				pid_t pid = pc->ctx->tasks[k].pstree->threads[i];
				int r = pid_busy(pc, pid, u, n);
				taken |= r < 0;
				held = r > 0 && !held ? pid : held;
			}
		if (taken || !held)
			return;
		if (wait_zombies)
			usleep(10000);
	}
	differs(pc, FE_PID_TAKEN, EEXIST, "pid %d is held by a zombie that its parent does not reap", held);
}

/* ---------------------------------------------------------------- files */

static void check_file(struct pc *pc, const Ferry__FileEntry *fe)
{
	struct stat st;
	struct ferry_err e = { 0 };
	/* files and directories by path, as reg.c opens them (other kinds check their own at open) */
	if ((fe->kind != FERRY__FILE_KIND__FILE_REG && fe->kind != FERRY__FILE_KIND__FILE_DIR) || !fe->reg ||
	    fe->deleted || !fe->path || fe->path[0] != '/')
		return;
	for (size_t i = 0; i < pc->ctx->opts->n_inherit; i++)
		if (!strcmp(pc->ctx->opts->inherit[i].key, fe->path))
			return;	/* --inherit-fd gives it: the path is not opened */
	if (fstatat(AT_FDCWD, fe->path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		differs(pc, FE_NONE, errno == ENOENT ? ESTALE : errno, "file %s is missing (%s)", fe->path, strerror(errno));
	else if (path_check(pc->ctx, fe, fe->path, &st, &e) < 0)
		differs(pc, e.cls, e.code ? e.code : ESTALE, "%s", e.msg);
}

static void check_mapped(struct pc *pc, const struct rtask *t, const Ferry__Vma *v)
{
	struct stat st;
	if ((v->kind != FERRY__VMA_KIND__VMA_FILE_PRIVATE && v->kind != FERRY__VMA_KIND__VMA_FILE_SHARED) ||
	    v->has_file_id || v->deleted || !v->path || v->path[0] != '/')
		return;
	if (stat(v->path, &st) < 0)
		differs(pc, FE_NONE, errno == ENOENT ? ESTALE : errno, "pid %d: mapped file %s is missing (%s)", t->pid, v->path,
			strerror(errno));
	else if (v->has_ino && st.st_ino != v->ino)
		differs(pc, FE_NONE, ESTALE, "pid %d: mapped file %s changed since the dump (inode %llu, was %llu)", t->pid,
			v->path, (unsigned long long)st.st_ino, (unsigned long long)v->ino);
}

static void check_files(struct pc *pc)
{
	const Ferry__Files *files = pc->ctx->files;
	for (size_t i = 0; files && i < files->n_files; i++)
		check_file(pc, files->files[i]);
	for (size_t k = 0; k < pc->ctx->ntasks; k++) {
		const struct rtask *t = &pc->ctx->tasks[k];
		const char *last = NULL;	/* a file mapped in pieces is named once */
		for (size_t i = 0; !t->zombie && t->mm && i < t->mm->n_vmas; i++)
			if (!last || !t->mm->vmas[i]->path || strcmp(last, t->mm->vmas[i]->path)) {
				check_mapped(pc, t, t->mm->vmas[i]);
				last = t->mm->vmas[i]->path;
			}
	}
}

int precheck_run(struct restore_ctx *ctx, unsigned what, int wait_zombies, struct ferry_check_report *rep)
{
	struct pc pc = { .ctx = ctx, .rep = rep };
	if (what & PRECHECK_CPU_FPU)
		check_fpu(&pc);
	if (what & PRECHECK_CPU_INS)
		check_ins(&pc);
	if (what & PRECHECK_KERNEL)
		check_kernel(&pc);
	if (what & PRECHECK_VDSO)
		check_vdso(&pc);
	if (what & PRECHECK_PIDS)
		check_pids(&pc, wait_zombies);
	if (what & PRECHECK_FILES)
		check_files(&pc);
	return pc.code ? fe_class(ctx->err, pc.cls, fe_msg(ctx->err, pc.code, "%s", pc.msg)) : 0;
}
