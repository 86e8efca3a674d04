/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The small per-process state: rlimits, umask, cwd and root, personality, interval timers,
 * parent-death signal, dumpable flag, child-subreaper flag, OOM score, audit login uid,
 * autogroup nice value, and which thread of the parent created the process.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <fcntl.h>
#include <linux/capability.h>
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

static int read_int_file(pid_t pid, const char *name, long long *v)
{
	char path[64];
	_cleanup_free_ char *text = NULL;
	int r = read_file(PROC_PATH(path, pid, name), &text, NULL);
	if (r < 0)
		return r;
	*v = strtoll(text, NULL, 10);
	return 0;
}

/* "/autogroup-N nice X": the nice value of the task's autogroup, and its id. */
static int read_autogroup(pid_t pid, long *id, int *nice)
{
	char path[64];
	_cleanup_free_ char *text = NULL;
	int r = read_file(PROC_PATH(path, pid, "autogroup"), &text, NULL);
	if (r < 0)
		return r;
	return sscanf(text, "/autogroup-%ld nice %d", id, nice) == 2 ? 0 : -EIO;
}

/* The thread of the parent whose child t is (/proc/PPID/task/TID/children). */
static pid_t parent_thread(const struct dtask *p, pid_t pid)
{
	char path[96];
	for (size_t i = 0; i < p->nthreads; i++) {
		_cleanup_free_ char *kids = NULL;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", p->pid, p->threads[i].tid);
		if (read_file(path, &kids, NULL) < 0)
			continue;
		for (char *q = kids, *end; *q; q = end) {
			long k = strtol(q, &end, 10);
			if (end == q)
				break;
			if (k == pid)
				return p->threads[i].tid;
		}
	}
	return p->pid;
}

/*
 * A restored task inherits ferry's oom_score_adj_min, and below it only CAP_SYS_RESOURCE may
 * set a score. That minimum is not readable; ferry's own score is never below it.
 */
static int oom_restorable(int adj)
{
	long long mine = 0;
	if (adj >= 0 || ferry_has_cap(CAP_SYS_RESOURCE))
		return 1;
	return read_int_file(getpid(), "oom_score_adj", &mine) == 0 && adj >= mine;
}

static int ns_ino(pid_t pid, pid_t tid, const char *name, unsigned long long *ino)
{
	char path[96], buf[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/ns/%s", (int)pid, (int)tid, name);
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	const char *b = strchr(buf, '[');
	return b && sscanf(b, "[%llu]", ino) == 1 ? 0 : -EIO;
}

static int read_timens_offsets(struct dump_ctx *ctx, struct dtask *t, Ferry__ProcAttrs *pa)
{
	char path[64];
	_cleanup_free_ char *text = NULL;
	Ferry__TimeNsOffsets *o = ARENA_NEW(&ctx->arena, Ferry__TimeNsOffsets);
	int r = read_file(PROC_PATH(path, t->pid, "timens_offsets"), &text, NULL);
	if (!o)
		return -ENOMEM;
	if (r < 0)
		return fe_set(ctx->err, r, "read %s", path);
	ferry__time_ns_offsets__init(o);
	const char *m = strstr(text, "monotonic"), *b = strstr(text, "boottime");
	if (!m || !b || sscanf(m, "monotonic %" SCNd64 " %" SCNd64, &o->monotonic_sec, &o->monotonic_nsec) != 2 ||
	    sscanf(b, "boottime %" SCNd64 " %" SCNd64, &o->boottime_sec, &o->boottime_nsec) != 2)
		return fe_msg(ctx->err, EIO, "pid %d: cannot parse %s", t->pid, path);
	pa->timens_for_children = o;
	return 0;
}

/*
 * Time namespaces. Every thread must be in ferry's own (a task inside another one comes with the
 * containers work). A namespace made by unshare(CLONE_NEWTIME) for children to come is restored
 * when the leader made it and the threads that share it were created after.
 */
static int dump_timens(struct dump_ctx *ctx, struct dtask *t, Ferry__ProcAttrs *pa)
{
	unsigned long long mine, lead_kids, ns, kids;
	if (ns_ino(getpid(), syscall(SYS_gettid), "time", &mine) < 0 ||
	    ns_ino(t->pid, t->pid, "time_for_children", &lead_kids) < 0)
		return 0;	/* no time namespaces on this kernel */
	for (size_t i = 0; i < t->nthreads; i++) {
		pid_t tid = t->threads[i].tid;
		if (ns_ino(t->pid, tid, "time", &ns) < 0 || ns_ino(t->pid, tid, "time_for_children", &kids) < 0)
			return fe_msg(ctx->err, EIO, "pid %d: cannot read the time namespaces of thread %d", t->pid, tid);
		if (ns != mine)
			return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: thread %d is in time namespace %llu, not ferry's (%llu): "
				      "not supported by this version", t->pid, tid, ns, mine);
		if (kids == ns)
			continue;
		if (kids != lead_kids || lead_kids == mine)
			return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: thread %d made a time namespace for its children "
				      "(unshare(CLONE_NEWTIME) in a thread other than the leader): not supported", t->pid, tid);
		Ferry__ThreadAttrs *a = task_thread_attrs(ctx, &t->threads[i]);
		if (!a)
			return -ENOMEM;
		a->has_timens_for_children = a->timens_for_children = 1;
	}
	return lead_kids != mine ? read_timens_offsets(ctx, t, pa) : 0;
}

#define KCMP_VM 1
#define KCMP_FS 3

static int kcmp_same(pid_t a, pid_t b, int type)
{
	return syscall(SYS_kcmp, a, b, type, 0, 0) == 0;
}

/* A thread that left the process's fs (unshare(CLONE_FS)): its own cwd, root and umask. */
static int dump_thread_fs(struct dump_ctx *ctx, struct dtask *t, struct dthread *th)
{
	char path[96], *cwd = NULL, *root = NULL;
	_cleanup_free_ char *status = NULL;
	if (kcmp_same(t->pid, th->tid, KCMP_FS))
		return 0;
	Ferry__ThreadAttrs *a = task_thread_attrs(ctx, th);
	Ferry__ThreadFs *fs = a && a->fs ? a->fs : ARENA_NEW(&ctx->arena, Ferry__ThreadFs);	/* files/fs.c's, with its directories */
	if (!a || !fs)
		return -ENOMEM;
	if (fs != a->fs)
		ferry__thread_fs__init(fs);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", t->pid, th->tid);
	int r = read_file(path, &status, NULL);
	const char *um = r == 0 ? proc_field(status, "Umask") : NULL;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/cwd", t->pid, th->tid);
	if (r == 0 && (r = read_link(path, &cwd)) == 0) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/root", t->pid, th->tid);
		r = read_link(path, &root);
	}
	fs->cwd = cwd ? arena_strdup(&ctx->arena, cwd) : NULL;
	fs->root = root ? arena_strdup(&ctx->arena, root) : NULL;
	fs->umask = um ? strtoul(um, NULL, 8) : 022;
	free(cwd);
	free(root);
	if (r < 0 || !fs->cwd || !fs->root)
		return fe_set(ctx->err, r < 0 ? r : -ENOMEM, "pid %d: read the cwd and root of thread %d", t->pid, th->tid);
	a->fs = fs;
	return 0;
}

/*
 * What the task shares with its parent (or, for the root, with a process outside the tree): an
 * fs is restored shared. (A shared address space was refused while seizing: engine/pstree.c.)
 */
static int dump_sharing(struct dump_ctx *ctx, struct dtask *t, Ferry__ProcAttrs *pa)
{
	pid_t ppid = t->parent >= 0 ? ctx->tasks[t->parent].pid : (pid_t)t->pstree->ppid;
	if (ppid > 0 && kcmp_same(ppid, t->pid, KCMP_FS)) {
		if (t->parent < 0)
			return fe_msg(ctx->err, EOPNOTSUPP, "pid %d shares its cwd, root and umask with its parent %d, "
				      "which is not dumped (clone with CLONE_FS): not supported", t->pid, ppid);
		pa->has_fs_shared = pa->fs_shared = 1;
	}
	for (size_t i = 1; i < t->nthreads; i++) {
		int r = dump_thread_fs(ctx, t, &t->threads[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* OOM score, audit login uid, autogroup nice and the parent thread: read from /proc. */
static int dump_proc_attrs(struct dump_ctx *ctx, struct dtask *t)
{
	Ferry__ProcAttrs *pa = task_proc_attrs(ctx, t);
	long long v;
	if (!pa)
		return -ENOMEM;
	int r = read_int_file(t->pid, "oom_score_adj", &v);
	if (r < 0)
		return fe_set(ctx->err, r, "read /proc/%d/oom_score_adj", t->pid);
	pa->has_oom_score_adj = 1;
	pa->oom_score_adj = v;
	if (!oom_restorable(pa->oom_score_adj))
		return fe_msg(ctx->err, EPERM, "pid %d has oom_score_adj %d, lower than ferry's own: restoring it needs "
			      "CAP_SYS_RESOURCE, which ferry lacks", t->pid, pa->oom_score_adj);
	if (read_int_file(t->pid, "loginuid", &v) == 0) {
		pa->has_loginuid = 1;
		pa->loginuid = (uint32_t)v;
	}
	if (read_int_file(t->pid, "sessionid", &v) == 0) {
		pa->has_audit_session = 1;
		pa->audit_session = (uint32_t)v;
	}
	long id;
	int nice;
	if (read_autogroup(t->pid, &id, &nice) == 0 && nice) {
		pa->has_autogroup_nice = 1;
		pa->autogroup_nice = nice;
	}
	if (t->parent >= 0) {
		pa->has_parent_tid = 1;
		pa->parent_tid = parent_thread(&ctx->tasks[t->parent], t->pid);
	}
	int r2 = dump_sharing(ctx, t, pa);
	return r2 < 0 ? r2 : dump_timens(ctx, t, pa);
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
	if ((r = dump_rlimits(ctx, t)) < 0 || (r = dump_itimers(ctx, t)) < 0 || (r = dump_prctls(ctx, t)) < 0 ||
	    (r = dump_proc_attrs(ctx, t)) < 0)
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

static int write_proc(struct restore_ctx *ctx, pid_t pid, const char *name, long long v)
{
	char path[64], text[32];
	int n = snprintf(text, sizeof(text), "%lld", v);
	_cleanup_close_ int fd = open(PROC_PATH(path, pid, name), O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, text, n) != n)
		return fe_set(ctx->err, errno, "write %lld to %s", v, path);
	return 0;
}

/*
 * The audit login uid: only the task itself may set it, and that starts a new audit session (its
 * id cannot be chosen). A task keeps what it inherits when it had its parent's login uid and
 * session (or, for the root, ferry's); otherwise it sets its own, so tasks that shared a session
 * share one again. Runs right after the task is created, before its children are.
 */
int misc_restore_loginuid(struct restore_ctx *ctx, struct rtask *t, const struct rtask *p)
{
	const Ferry__ProcAttrs *pa = t->core->attrs, *pp = p ? p->core->attrs : NULL;
	struct injector *inj = &t->threads[0].inj;
	long long uid = -1, ses = -1;
	long fd, ret;
	char text[16];
	if (!pa || !pa->has_loginuid)
		return 0;
	if (pp && pp->has_loginuid) {
		uid = pp->loginuid;
		ses = pp->has_audit_session ? (long long)pp->audit_session : -1;
	} else if (read_int_file(getpid(), "loginuid", &uid) < 0 || read_int_file(getpid(), "sessionid", &ses) < 0) {
		return 0;	/* no audit here */
	}
	if ((uint32_t)uid == pa->loginuid && (!pa->has_audit_session || (uint32_t)ses == pa->audit_session))
		return 0;
	uint64_t at = inj_scratch_put(inj, 0, "/proc/self/loginuid", 20);
	int n = snprintf(text, sizeof(text), "%u", pa->loginuid);
	uint64_t txt = inj_scratch_put(inj, 64, text, n);
	int r = RINJ(ctx, inj, &fd, "open /proc/self/loginuid", SYS_open, at, O_WRONLY | O_CLOEXEC);
	if (r < 0)
		return r;
	r = RINJ(ctx, inj, &ret, "set the audit login uid (needs CAP_AUDIT_CONTROL)", SYS_write, fd, txt, n);
	long r2;
	RINJ(ctx, inj, &r2, "close", SYS_close, fd);
	if (r == 0)
		pr_info("pid %d: login uid %u restored, in a new audit session (it was %u)\n", t->pid, pa->loginuid,
			pa->audit_session);
	return r;
}

/* An autogroup's nice value, unless the task shares ferry's autogroup (it is not its own). */
static int restore_autogroup(struct restore_ctx *ctx, struct rtask *t, int nice)
{
	long id, mine;
	int now, ours;
	if (read_autogroup(t->pid, &id, &now) < 0 || now == nice)
		return 0;
	if (read_autogroup(getpid(), &mine, &ours) == 0 && mine == id) {
		pr_warn("pid %d: autogroup nice %d not restored: it shares the restorer's autogroup\n", t->pid, nice);
		return 0;
	}
	return write_proc(ctx, t->pid, "autogroup", nice);
}

/*
 * unshare(CLONE_NEWTIME) in the leader and the offsets written before anyone enters the
 * namespace. Every child must exist by then: they were made before the namespace was.
 */
int misc_restore_timens(struct restore_ctx *ctx, struct rtask *t)
{
	const Ferry__ProcAttrs *pa = t->core ? t->core->attrs : NULL;
	const Ferry__TimeNsOffsets *o = pa ? pa->timens_for_children : NULL;
	struct injector *inj = &t->threads[0].inj;
	char text[128];
	long fd, ret;
	if (!o)
		return 0;
	for (size_t k = 1; k < ctx->ntasks; k++)
		if (&ctx->tasks[ctx->tasks[k].parent] == t && !ctx->tasks[k].alive)
			return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: its time namespace for children must be made after "
				      "child %d, but one of its threads made that child", t->pid, ctx->tasks[k].pid);
	int n = snprintf(text, sizeof(text), "monotonic %" PRId64 " %" PRId64 "\nboottime %" PRId64 " %" PRId64 "\n",
			 o->monotonic_sec, o->monotonic_nsec, o->boottime_sec, o->boottime_nsec);
	uint64_t at = inj_scratch_put(inj, 0, "/proc/self/timens_offsets", 26);
	uint64_t txt = inj_scratch_put(inj, 64, text, n);
	int r = RINJ(ctx, inj, &ret, "make a time namespace for its children", SYS_unshare, CLONE_NEWTIME);
	if (r == 0)
		r = RINJ(ctx, inj, &fd, "open /proc/self/timens_offsets", SYS_open, at, O_WRONLY | O_CLOEXEC);
	if (r < 0)
		return r;
	r = RINJ(ctx, inj, &ret, "set the offsets of its new time namespace", SYS_write, fd, txt, n);
	long r2;
	RINJ(ctx, inj, &r2, "close", SYS_close, fd);
	return r;
}

static int restore_proc_attrs(struct restore_ctx *ctx, struct rtask *t)
{
	const Ferry__ProcAttrs *pa = t->core->attrs;
	int r = 0;
	if (!pa)
		return 0;
	if (pa->has_oom_score_adj && (r = write_proc(ctx, t->pid, "oom_score_adj", pa->oom_score_adj)) < 0)
		return fe_wrap(ctx->err, r, "pid %d: restore oom_score_adj (a lower score needs CAP_SYS_RESOURCE)", t->pid);
	if (pa->has_autogroup_nice && (r = restore_autogroup(ctx, t, pa->autogroup_nice)) < 0)
		return fe_wrap(ctx->err, r, "pid %d: restore its autogroup's nice value", t->pid);
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
	if ((r = restore_proc_attrs(ctx, t)) < 0)
		return r;
	/*
	 * The root ran with PDEATHSIG=SIGKILL until it was traced; now the real one. Its parent is
	 * ferry, which stays until it exits, or with -d the restorer's own parent (restore-child.c).
	 */
	int pdeath = c->has_pdeath_sig ? c->pdeath_sig : 0;
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

/* A thread with an fs of its own (cloned without CLONE_FS) gets its cwd, root and umask. */
static int misc_restore_thread(struct restore_ctx *ctx, struct rtask *t, struct rthread *th)
{
	const Ferry__ThreadFs *fs = th->core->attrs ? th->core->attrs->fs : NULL;
	long ret;
	int r;
	if (!fs)
		return 0;
	/* with cwd_file: files/fs.c restores cwd and root through their directory entries */
	if (!fs->has_cwd_file &&
	    (r = inject_path(ctx, &th->inj, "change into the thread's working directory", SYS_chdir, fs->cwd)) < 0)
		return r;
	if (!fs->has_cwd_file && strcmp(fs->root, "/") && (r = inject_path(ctx, &th->inj, "chroot", SYS_chroot, fs->root)) < 0)
		return r;
	return RINJ(ctx, &th->inj, &ret, "umask", SYS_umask, fs->umask & 0777);
}

const struct task_obj_ops misc_obj = {
	.name = "misc",
	.dump = misc_dump,
	.restore_inject = misc_restore_inject,
	.restore_thread = misc_restore_thread,
	.restore_late = misc_restore_late,
};
