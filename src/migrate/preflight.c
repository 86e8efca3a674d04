/* SPDX-License-Identifier: Apache-2.0 */
/* Pre-flight of a migration (preflight.h): collected at the source, checked at the destination. */
#define LOG_PREFIX "preflight: "
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "common/cleanup.h"
#include "common/hash.h"
#include "common/kprobe.h"
#include "common/log.h"
#include "common/util.h"
#include "image/image.h"
#include "migrate/preflight.h"

#define HASH_SPAN (1u << 20)	/* bytes hashed at each end of a file */
#define MAX_FILES 65536

/* ---------------------------------------------------------------- small helpers */

/* Room in the array *v (of elements of size elem) for one more after n. 0 or -ENOMEM. */
static int grow(void *v, size_t *cap, size_t n, size_t elem)
{
	void **pv = v;
	if (n < *cap)
		return 0;
	size_t c = *cap ? 2 * *cap : 16;
	void *q = realloc(*pv, c * elem);
	if (!q)
		return -ENOMEM;
	*pv = q;
	*cap = c;
	return 0;
}

static int push_ptr(void ***v, size_t *n, size_t *cap, void *p)
{
	if (grow(v, cap, *n, sizeof(**v)) < 0)
		return -ENOMEM;
	(*v)[(*n)++] = p;
	return 0;
}

static int push_pid(int32_t **v, size_t *n, size_t *cap, int32_t pid)
{
	if (grow(v, cap, *n, sizeof(**v)) < 0)
		return -ENOMEM;
	(*v)[(*n)++] = pid;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_str(char **v, size_t n, const char *s)
{
	return n && bsearch(&s, v, n, sizeof(*v), cmp_str) != NULL;
}

/* ---------------------------------------------------------------- CPU */

/* Whether the test-only FERRY_TEST_CPU_FLAGS_DROP lists flag. */
static int dropped(const char *flag)
{
	const char *d = getenv("FERRY_TEST_CPU_FLAGS_DROP");
	size_t n = strlen(flag);
	for (const char *p = d; p && (p = strstr(p, flag)); p += n)
		if ((p == d || p[-1] == ' ' || p[-1] == ',') && (!p[n] || p[n] == ' ' || p[n] == ','))
			return 1;
	return 0;
}

int pf_cpu_flags(char ***flags, size_t *n)
{
	char line[8192];
	size_t cap = 0;
	*flags = NULL;
	*n = 0;
	_cleanup_fclose_ FILE *f = fopen("/proc/cpuinfo", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "flags", 5) && strchr(line, ':'))
			break;
	if (feof(f))
		return 0;
	for (char *sp, *t = strtok_r(strchr(line, ':') + 1, " \t\n", &sp); t; t = strtok_r(NULL, " \t\n", &sp)) {
		char *s = dropped(t) ? NULL : strdup(t);
		if (s && push_ptr((void ***)flags, n, &cap, s) < 0)
			return -ENOMEM;
	}
	qsort(*flags, *n, sizeof(**flags), cmp_str);
	return 0;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ---------------------------------------------------------------- kernel */

static const struct {
	const char *name;
	size_t off;
	int required;	/* a restore cannot work without it */
} kfeatures[] = {
	{ "clone3_set_tid", offsetof(struct kprobe, clone3_set_tid), 1 },
	{ "arch_map_vdso", offsetof(struct kprobe, map_vdso), 1 },
	{ "userfaultfd_wp_async", offsetof(struct kprobe, uffd_wp_async), 0 },
	{ "pagemap_scan", offsetof(struct kprobe, pagemap_scan), 0 },
	{ "pidfd_getfd", offsetof(struct kprobe, pidfd_getfd), 0 },
	{ "kcmp", offsetof(struct kprobe, kcmp), 0 },
	{ "time_namespace", offsetof(struct kprobe, time_ns), 0 },
	{ "rseq", offsetof(struct kprobe, rseq), 0 },
	{ "timer_create_restore_ids", offsetof(struct kprobe, timer_restore_ids), 0 },
};
#define NKF (sizeof(kfeatures) / sizeof(kfeatures[0]))

static int kf_have(const struct kprobe *kp, size_t i)
{
	return *(const int *)((const char *)kp + kfeatures[i].off);
}

/* ---------------------------------------------------------------- the tree */

static int add_tids(pid_t pid, int32_t **v, size_t *n, size_t *cap)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	_cleanup_closedir_ DIR *d = opendir(path);
	struct dirent *e;
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		int tid = atoi(e->d_name);
		if (tid > 0 && push_pid(v, n, cap, tid) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* The children of every thread of pid, appended to the queue of processes. */
static int add_children(pid_t pid, int32_t **q, size_t *nq, size_t *capq)
{
	char path[96];
	int32_t *tids = NULL;
	size_t nt = 0, capt = 0;
	int r = add_tids(pid, &tids, &nt, &capt);
	for (size_t i = 0; r == 0 && i < nt; i++) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, tids[i]);
		_cleanup_free_ char *buf = NULL;
		if (read_file(path, &buf, NULL) < 0)
			continue;
		for (char *sp, *t = strtok_r(buf, " \n", &sp); t && r == 0; t = strtok_r(NULL, " \n", &sp))
			r = push_pid(q, nq, capq, atoi(t));
	}
	free(tids);
	return r;
}

int pf_tree_pids(pid_t root, int32_t **pids, size_t *n, struct ferry_err *err)
{
	int32_t *q = NULL;
	size_t nq = 1, capq = 16, cap = 0;
	int r = 0;
	*pids = NULL;
	*n = 0;
	if (!(q = malloc(capq * sizeof(*q))))
		return fe_set(err, ENOMEM, "the tree of %d", root);
	q[0] = root;
	for (size_t i = 0; i < nq && r == 0; i++) {
		if ((r = add_tids(q[i], pids, n, &cap)) == -ENOENT || r == -ESRCH)
			r = i ? 0 : fe_msg(err, ESRCH, "process %d: no such process", root);	/* a child exited */
		else if (r < 0)
			r = fe_set(err, -r, "threads of %d", q[i]);
		if (r == 0 && (r = add_children(q[i], &q, &nq, &capq)) < 0)
			r = fe_set(err, -r, "children of %d", q[i]);
	}
	free(q);
	if (r < 0) {
		free(*pids);
		*pids = NULL;
	}
	return r;
}

/* ---------------------------------------------------------------- files */

/* XXH3 of the first and last HASH_SPAN bytes of the file at path: its identity, with its size. */
static int file_hash(const char *path, uint64_t size, uint64_t *out)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	_cleanup_free_ uint8_t *buf = malloc(HASH_SPAN);
	if (fd < 0 || !buf)
		return fd < 0 ? -errno : -ENOMEM;
	size_t a = size < HASH_SPAN ? size : HASH_SPAN;
	int r = pread_full(fd, buf, a, 0);
	if (r < 0)
		return r;
	uint64_t h = XXH3_64bits(buf, a);
	if (size > HASH_SPAN) {
		size_t b = size - HASH_SPAN < HASH_SPAN ? size - HASH_SPAN : HASH_SPAN;
		if ((r = pread_full(fd, buf, b, (off_t)(size - b))) < 0)
			return r;
		h = XXH3_64bits_withSeed(buf, b, h);
	}
	*out = h;
	return 0;
}

struct files {
	Ferry__MigrateFile **v;
	size_t n, cap;
};

static Ferry__MigrateFile *find_file(struct files *fs, const char *path)
{
	for (size_t i = 0; i < fs->n; i++)
		if (!strcmp(fs->v[i]->path, path))
			return fs->v[i];
	return NULL;
}

/*
 * The file at path as the tree sees it (opened through via, a /proc link), unless it is not a
 * file another host must have: deleted (the image carries it), anonymous, a socket or a pipe,
 * or under /proc or /sys.
 */
static int add_file(struct files *fs, const char *via, const char *path, int writable)
{
	struct stat st;
	Ferry__MigrateFile *f;
	if (path[0] != '/' || strstr(path, " (deleted)") || !strncmp(path, "/proc/", 6) || !strncmp(path, "/sys/", 5) ||
	    stat(via, &st) < 0)
		return 0;
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode) &&
	    !S_ISFIFO(st.st_mode))
		return 0;
	if ((f = find_file(fs, path))) {
		f->writable |= writable;
		return 0;
	}
	if (fs->n >= MAX_FILES || !(f = calloc(1, sizeof(*f))))
		return -ENOMEM;
	ferry__migrate_file__init(f);
	f->path = strdup(path);
	f->has_mode = f->has_size = f->has_writable = 1;
	f->mode = st.st_mode & S_IFMT;
	f->size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	f->writable = writable;
	f->has_rdev = S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode);
	f->rdev = st.st_rdev;
	if (S_ISREG(st.st_mode) && !writable && file_hash(via, f->size, &f->hash) == 0)
		f->has_hash = 1;
	if (!f->path || push_ptr((void ***)&fs->v, &fs->n, &fs->cap, f) < 0) {
		free(f->path);
		free(f);
		return -ENOMEM;
	}
	return 0;
}

/* Whether fd n of pid is open for writing (/proc/PID/fdinfo/N "flags:", octal). */
static int fd_writable(pid_t pid, const char *n)
{
	char path[320];
	_cleanup_free_ char *text = NULL;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", pid, n);
	const char *fl = read_file(path, &text, NULL) == 0 ? proc_field(text, "flags") : NULL;
	return fl && (strtoul(fl, NULL, 8) & O_ACCMODE) != O_RDONLY;
}

static int add_fds(struct files *fs, pid_t pid)
{
	char dir[64], via[320];
	_cleanup_closedir_ DIR *d = opendir(PROC_PATH(dir, pid, "fd"));
	struct dirent *e;
	int r = 0;
	if (!d)
		return 0;	/* gone: the dump will say */
	while ((e = readdir(d)) && r == 0) {
		_cleanup_free_ char *path = NULL;
		if (e->d_name[0] == '.')
			continue;
		snprintf(via, sizeof(via), "/proc/%d/fd/%s", pid, e->d_name);
		if (read_link(via, &path) == 0)
			r = add_file(fs, via, path, fd_writable(pid, e->d_name));
	}
	return r;
}

static int add_maps(struct files *fs, pid_t pid)
{
	char path[64], via[320];
	_cleanup_free_ char *text = NULL;
	if (read_file(PROC_PATH(path, pid, "maps"), &text, NULL) < 0)
		return 0;
	int r = 0;
	for (char *sp, *l = strtok_r(text, "\n", &sp); l && r == 0; l = strtok_r(NULL, "\n", &sp)) {
		char *file = strchr(l, '/');
		unsigned long s, e;
		if (!file || sscanf(l, "%lx-%lx", &s, &e) != 2)
			continue;
		snprintf(via, sizeof(via), "/proc/%d/map_files/%lx-%lx", pid, s, e);
		r = add_file(fs, via, file, 0);
	}
	for (const char *const *k = (const char *const[]){ "cwd", "root", "exe", NULL }; *k && r == 0; k++) {
		_cleanup_free_ char *target = NULL;
		snprintf(via, sizeof(via), "/proc/%d/%s", pid, *k);
		if (read_link(via, &target) == 0)
			r = add_file(fs, via, target, 0);
	}
	return r;
}

/* ---------------------------------------------------------------- the source's side */

/* This kernel's boot id (malloc'ed), or NULL. */
static char *boot_id(void)
{
	char *text = NULL;
	if (read_file("/proc/sys/kernel/random/boot_id", &text, NULL) < 0)
		return NULL;
	text[strcspn(text, "\n")] = 0;
	return text;
}

static int collect_host(Ferry__MigratePreflight *p)
{
	const struct kprobe *kp = kprobe_get();
	size_t n = 0, cap = 0;
	p->boot_id = boot_id();
	p->ferry_version = strdup(FERRY_VERSION);
	p->has_image_major = p->has_image_minor = p->has_xcr0 = 1;
	p->image_major = FERRY_FORMAT_MAJOR;
	p->image_minor = FERRY_FORMAT_MINOR;
	p->xcr0 = kp->xcr0;
	p->has_vvar_size = p->has_vdso_size = p->has_vvar_vclock_size = 1;
	p->vvar_size = kp->vvar_size;
	p->vvar_vclock_size = kp->vvar_vclock_size;
	p->vdso_size = kp->vdso_size;
	if (!p->ferry_version || pf_cpu_flags(&p->cpu_flags, &p->n_cpu_flags) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < NKF; i++)
		if (kf_have(kp, i) && push_ptr((void ***)&p->kernel_features, &n, &cap, strdup(kfeatures[i].name)) < 0)
			return -ENOMEM;
	p->n_kernel_features = n;
	return 0;
}

int pf_collect(pid_t root, Ferry__MigratePreflight **out, struct ferry_err *err)
{
	Ferry__MigratePreflight *p = calloc(1, sizeof(*p));
	struct files fs = { 0 };
	size_t npids = 0;
	int r;
	if (!p)
		return fe_set(err, ENOMEM, "pre-flight");
	ferry__migrate_preflight__init(p);
	if ((r = collect_host(p)) < 0)
		r = fe_set(err, -r, "pre-flight: this host's features");
	if (r == 0)
		r = pf_tree_pids(root, &p->pids, &npids, err);
	p->n_pids = npids;
	for (size_t i = 0; r == 0 && i < p->n_pids; i++)
		if (kill(p->pids[i], 0) == 0 || errno != ESRCH)	/* threads are covered by their process */
			if ((r = add_fds(&fs, p->pids[i])) < 0 || (r = add_maps(&fs, p->pids[i])) < 0)
				r = fe_set(err, -r, "pre-flight: the files of %d", p->pids[i]);
	p->files = fs.v;
	p->n_files = fs.n;
	if (r < 0) {
		pf_free(p);
		return r;
	}
	*out = p;
	return 0;
}

void pf_free(Ferry__MigratePreflight *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_files; i++) {
		free(p->files[i]->path);
		free(p->files[i]);
	}
	free(p->files);
	free_strv(p->cpu_flags, p->n_cpu_flags);
	free_strv(p->kernel_features, p->n_kernel_features);
	free(p->pids);
	free(p->ferry_version);
	free(p->mode);
	free(p->boot_id);
	free(p);
}

/* ---------------------------------------------------------------- the destination's side */

static int mismatch(struct pf_verdict *v, const char *what, int forcible, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int mismatch(struct pf_verdict *v, const char *what, int forcible, const char *fmt, ...)
{
	Ferry__MigrateMismatch *m = calloc(1, sizeof(*m));
	char buf[1024];
	va_list ap;
	if (!m)
		return -ENOMEM;
	ferry__migrate_mismatch__init(m);
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	m->what = strdup(what);
	m->detail = strdup(buf);
	m->has_forcible = 1;
	m->forcible = forcible;
	if (!m->what || !m->detail || push_ptr((void ***)&v->v, &v->n, &v->cap, m) < 0) {
		free(m->what);
		free(m->detail);
		free(m);
		return -ENOMEM;
	}
	return 0;
}

static int check_version(const Ferry__MigratePreflight *p, struct pf_verdict *v)
{
	int r = 0;
	if (p->image_major != FERRY_FORMAT_MAJOR)
		r = mismatch(v, "version", 0, "image format %u.%u at the source, %d.%d here: a major version apart",
			     p->image_major, p->image_minor, FERRY_FORMAT_MAJOR, FERRY_FORMAT_MINOR);
	else if (p->image_minor > FERRY_FORMAT_MINOR)
		r = mismatch(v, "version", 1, "image format %u.%u at the source is newer than %d.%d here",
			     p->image_major, p->image_minor, FERRY_FORMAT_MAJOR, FERRY_FORMAT_MINOR);
	if (r == 0 && p->ferry_version && strcmp(p->ferry_version, FERRY_VERSION))
		r = mismatch(v, "version", 1, "ferry %s at the source, %s here", p->ferry_version, FERRY_VERSION);
	return r;
}

static int check_cpu(const Ferry__MigratePreflight *p, struct pf_verdict *v)
{
	char **here, missing[768] = "";
	size_t nhere, nmiss = 0, at = 0;
	int r = pf_cpu_flags(&here, &nhere);
	if (r < 0)
		return mismatch(v, "cpu", 1, "cannot read this CPU's features: %s", strerror(-r));
	for (size_t i = 0; i < p->n_cpu_flags; i++)
		if (!has_str(here, nhere, p->cpu_flags[i])) {
			nmiss++;
			if (at < sizeof(missing) - 64)
				at += snprintf(missing + at, sizeof(missing) - at, "%s%s", at ? " " : "", p->cpu_flags[i]);
		}
	free_strv(here, nhere);
	if (nmiss)
		r = mismatch(v, "cpu", 1, "%zu CPU feature(s) of the source missing here (the tree may use them): %s",
			     nmiss, missing);
	uint64_t xcr0 = kprobe_get()->xcr0;
	if (r == 0 && (p->xcr0 & ~xcr0))
		r = mismatch(v, "cpu", 0, "XSAVE state components %#llx of the source missing here (XCR0 %#llx here, "
			     "%#llx there): the threads' register state cannot be restored",
			     (unsigned long long)(p->xcr0 & ~xcr0), (unsigned long long)xcr0, (unsigned long long)p->xcr0);
	return r;
}

static int check_kernel(const Ferry__MigratePreflight *p, struct pf_verdict *v)
{
	const struct kprobe *kp = kprobe_get();
	int r = 0;
	for (size_t i = 0; i < NKF && r == 0; i++) {
		int there = 0;
		for (size_t k = 0; k < p->n_kernel_features; k++)
			there |= !strcmp(p->kernel_features[k], kfeatures[i].name);
		if (!kf_have(kp, i) && (there || kfeatures[i].required))
			r = mismatch(v, "kernel", !kfeatures[i].required, "kernel feature %s: %s here (kernel %s)%s",
				     kfeatures[i].name, "missing", kp->release,
				     kfeatures[i].required ? ": a restore needs it" : ", the source has it");
	}
	if (r == 0 && (p->vdso_size != kp->vdso_size || p->vvar_size != kp->vvar_size ||
		       p->vvar_vclock_size != kp->vvar_vclock_size))
		r = mismatch(v, "vdso", 0, "vDSO layout differs: [vdso] %llu, [vvar] %llu, [vvar_vclock] %llu bytes at the "
			     "source; %llu, %llu, %llu here", (unsigned long long)p->vdso_size,
			     (unsigned long long)p->vvar_size, (unsigned long long)p->vvar_vclock_size,
			     (unsigned long long)kp->vdso_size, (unsigned long long)kp->vvar_size,
			     (unsigned long long)kp->vvar_vclock_size);
	return r;
}

static int check_pids(const Ferry__MigratePreflight *p, struct pf_verdict *v)
{
	char taken[512] = "";
	size_t n = 0, at = 0;
	for (size_t i = 0; i < p->n_pids; i++)
		if (p->pids[i] <= 0 || kill(p->pids[i], 0) == 0 || errno != ESRCH) {
			char path[64];
			_cleanup_free_ char *comm = NULL;
			snprintf(path, sizeof(path), "/proc/%d/comm", p->pids[i]);
			if (read_file(path, &comm, NULL) == 0)
				comm[strcspn(comm, "\n")] = 0;
			n++;
			if (at < sizeof(taken) - 40)
				at += snprintf(taken + at, sizeof(taken) - at, "%s%d%s%.24s%s", at ? ", " : "", p->pids[i],
					       comm ? " (by " : "", comm ? comm : "", comm ? ")" : "");
		}
	return n ? mismatch(v, "pid", 0, "%zu PID(s) of the tree are taken here: %s", n, taken) : 0;
}

/*
 * A named pipe is found by path at the destination: on the same kernel (a migration between
 * namespaces of one host) that is the very pipe the source's frozen copy still holds, so its
 * buffered bytes would be restored into it a second time and both copies would share it.
 */
static int check_fifo(const Ferry__MigrateFile *f, struct pf_verdict *v)
{
	return mismatch(v, "file", 0, "%s: a FIFO, and the destination runs the same kernel as the source (same boot "
			"id): both copies would share its pipe during the hand-over", f->path ? f->path : "");
}

static int check_file(const Ferry__MigrateFile *f, int same_kernel, struct pf_verdict *v)
{
	struct stat st;
	uint64_t h;
	const char *path = f->path ? f->path : "";
	if (S_ISFIFO(f->mode) && same_kernel)
		return check_fifo(f, v);
	if (stat(path, &st) < 0)
		return mismatch(v, "file", 0, "%s: %s here", path, strerror(errno));
	if ((st.st_mode & S_IFMT) != f->mode)
		return mismatch(v, "file", 0, "%s: another kind of file here (mode %#o, %#o at the source)", path,
				st.st_mode & S_IFMT, f->mode);
	if (f->has_rdev && st.st_rdev != f->rdev)
		return mismatch(v, "file", 0, "%s: device %u:%u here, %u:%u at the source", path, major(st.st_rdev),
				minor(st.st_rdev), major(f->rdev), minor(f->rdev));
	if (!S_ISREG(st.st_mode) || f->writable)
		return 0;
	if ((uint64_t)st.st_size != f->size)
		return mismatch(v, "file", 1, "%s: %llu bytes here, %llu at the source", path,
				(unsigned long long)st.st_size, (unsigned long long)f->size);
	if (f->has_hash && (file_hash(path, f->size, &h) < 0 || h != f->hash))
		return mismatch(v, "file", 1, "%s: same size, other content here (its first or last MiB differ)", path);
	return 0;
}

int pf_check(const Ferry__MigratePreflight *p, struct pf_verdict *v)
{
	int r = check_version(p, v);
	if (r == 0)
		r = check_cpu(p, v);
	if (r == 0)
		r = check_kernel(p, v);
	if (r == 0)
		r = check_pids(p, v);
	char *here = boot_id();
	int same_kernel = here && p->boot_id && !strcmp(here, p->boot_id);
	free(here);
	for (size_t i = 0; r == 0 && i < p->n_files; i++)
		r = check_file(p->files[i], same_kernel, v);
	pr_info("%zu mismatch(es) with the source\n", v->n);
	return r;
}

int pf_accepted(const struct pf_verdict *v, int force)
{
	for (size_t i = 0; i < v->n; i++)
		if (!force || !v->v[i]->forcible)
			return 0;
	return 1;
}

void pf_format(Ferry__MigrateMismatch *const *v, size_t n, char *buf, size_t len)
{
	size_t at = 0;
	buf[0] = 0;
	for (size_t i = 0; i < n && at < len; i++)
		at += snprintf(buf + at, len - at, "%s  %s: %s%s", i ? "\n" : "", v[i]->what ? v[i]->what : "?",
			       v[i]->detail ? v[i]->detail : "?", v[i]->forcible ? " (--force overrides)" : "");
}

void pf_verdict_free(struct pf_verdict *v)
{
	for (size_t i = 0; i < v->n; i++) {
		free(v->v[i]->what);
		free(v->v[i]->detail);
		free(v->v[i]);
	}
	free(v->v);
	memset(v, 0, sizeof(*v));
}
