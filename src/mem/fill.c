/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The page filler (mem/fill.h): worker threads that check page runs and write them into
 * restored tasks from the mapped page store, while the tracer builds the rest of the tree.
 * Work is handed out in units of about 1 MiB, in the order tasks were submitted, so that two
 * workers share a big task and the first task submitted is the first done.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "common/hash.h"
#define LOG_PREFIX "fill: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "engine/chain.h"
#include "mem/fill.h"
#include "mem/mem.h"

#define MAX_WORKERS 7
#define UNIT_BYTES (1u << 20)	/* checked, then written while still in the CPU's cache */
#define UNIT_IOV 256
#define BATCH 8			/* units taken at once: their piece of the store's mapping is dropped at once */
#define UFFD_MIN_PAGES 256	/* below 1 MiB, the two injections a userfaultfd costs do not pay */

struct fill_job {
	struct rtask *t;
	pid_t pid;
	const Ferry__Pagemap *pm;
	const uint8_t *map;		/* ferry's mapping of the page store's data */
	const char *store;		/* its name */
	int what;			/* FILL_* */
	size_t next;			/* next run to hand out */
	uint64_t next_page;		/* its place in the store */
	unsigned busy;			/* units being worked on */
	int memfd;			/* /proc/PID/mem, when process_vm_writev is missing */
	int uffd;			/* ferry's copy of the task's userfaultfd, or -1 */
	struct { uint64_t start, end; } *reg;	/* the VMAs registered with it, in order */
	size_t nreg, reg_at;		/* (reg_at: take_from's cursor) */
	uint64_t t_first, t_last;	/* when its first unit was taken, its last done */
	unsigned units, helped;		/* units, and those the caller of filler_wait() did */
	int err;			/* the first failure, -errno */
	char msg[sizeof(((struct ferry_err *)0)->msg)];
	struct fill_job *next_job;
};

struct filler {
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	struct fill_job *queue;		/* submitted and not yet handed back, in order */
	int stopping;
	const volatile sig_atomic_t *cancel;	/* the operation's cancel flag, or NULL */
	int nworkers;
	pthread_t th[MAX_WORKERS];
	atomic_int no_cma;		/* process_vm_writev is missing: /proc/PID/mem instead */
	int no_uffd;			/* FERRY_FAULT=fill-proc-mem: /proc/PID/mem only, for the tests */
	atomic_uint_fast64_t written;
	uint64_t reported;		/* bytes already passed to a progress display */
	uint64_t busy_since, busy_us;	/* time with something queued */
};

/* A unit of work: runs [first, last) of a job, whose data starts at page `page` of the store. */
struct unit {
	size_t first, last;
	uint64_t page, bytes;
	int copy;			/* into registered VMAs: UFFDIO_COPY */
	const uint8_t *data;		/* its runs in the store's mapping */
	char msg[sizeof(((struct ferry_err *)0)->msg)];	/* what went wrong */
};

static int job_done(const struct fill_job *j)
{
	return (j->next == j->pm->n_entries || j->err) && !j->busy;
}

/* Whether run e lies in a VMA registered with the job's userfaultfd (runs come in order). */
static int in_registered(struct fill_job *j, const Ferry__PagemapEntry *e)
{
	while (j->reg_at < j->nreg && j->reg[j->reg_at].end <= e->vaddr)
		j->reg_at++;
	return j->reg_at < j->nreg && j->reg[j->reg_at].start <= e->vaddr;
}

/* Under the lock: the next unit of job j (runs written one way), or 0 when j has none left. */
static int take_from(struct fill_job *j, struct unit *u)
{
	const Ferry__Pagemap *pm = j->pm;
	if (j->err || j->next == pm->n_entries)
		return 0;
	*u = (struct unit){ .first = j->next, .last = j->next, .page = j->next_page, .copy = -1 };
	size_t nio = 0;
	while (u->last < pm->n_entries && nio < UNIT_IOV) {
		const Ferry__PagemapEntry *e = pm->entries[u->last];
		uint64_t len = (uint64_t)e->nr_pages * PS_PAGE;
		if (!(e->flags & PM_IN_PARENT)) {
			int copy = in_registered(j, e);
			if (u->bytes && (u->bytes + len > UNIT_BYTES || copy != u->copy))
				break;
			u->copy = copy;
			u->bytes += len;
			nio++;
		}
		u->last++;
	}
	j->next = u->last;
	j->next_page += u->bytes / PS_PAGE;
	j->busy++;
	if (!j->units++)
		j->t_first = now_us();
	return 1;
}

/*
 * Under the lock: up to BATCH consecutive units of the first job that has work left, fewer when
 * little is left (so that every thread gets a share). Returns the job and the count in *n.
 */
static struct fill_job *take_units(struct filler *f, struct unit *u, size_t *n)
{
	struct fill_job *j = f->queue;
	while (j && !take_from(j, &u[0]))
		j = j->next_job;
	*n = j ? 1 : 0;
	if (!j)
		return NULL;
	uint64_t left = (j->pm->total_pages - j->next_page) * PS_PAGE / UNIT_BYTES / (f->nworkers + 1);
	while (*n < BATCH && *n <= left && take_from(j, &u[*n]))
		(*n)++;
	return j;
}

static int fail(struct unit *u, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct unit *u, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(u->msg, sizeof(u->msg), fmt, ap);
	va_end(ap);
	return -code;
}

/* What is done with one run of a unit (index i), whose data is at data. */
typedef int run_fn(struct fill_job *j, struct unit *u, size_t i, const uint8_t *data);

/* fn for each run of the unit held in this store (not left to parent images), in order. */
static int each_run(struct fill_job *j, struct unit *u, run_fn *fn)
{
	const uint8_t *p = u->data;
	for (size_t i = u->first; i < u->last; i++) {
		const Ferry__PagemapEntry *e = j->pm->entries[i];
		if (e->flags & PM_IN_PARENT)
			continue;
		int r = fn(j, u, i, p);
		if (r < 0)
			return r;
		p += (size_t)e->nr_pages * PS_PAGE;
	}
	return 0;
}

static int check_run(struct fill_job *j, struct unit *u, size_t i, const uint8_t *data)
{
	const Ferry__PagemapEntry *e = j->pm->entries[i];
	if (XXH3_64bits(data, (size_t)e->nr_pages * PS_PAGE) == e->xxh3)
		return 0;
	return fail(u, EBADMSG, "%s: pages at %#llx (run %zu) fail their checksum: the page store is corrupt",
		    j->store, (unsigned long long)e->vaddr, i);
}

static int proc_mem_run(struct fill_job *j, struct unit *u, size_t i, const uint8_t *data)
{
	const Ferry__PagemapEntry *e = j->pm->entries[i];
	size_t len = (size_t)e->nr_pages * PS_PAGE;
	int r = pwrite_full(j->memfd, data, len, (off_t)e->vaddr);
	return r < 0 ? fail(u, -r, "pid %d: write %zu bytes of memory at %#llx: %s", j->pid, len,
			    (unsigned long long)e->vaddr, strerror(-r)) : 0;
}

/* Without process_vm_writev: run by run through /proc/PID/mem (opened once per job). */
static int write_proc_mem(struct filler *f, struct fill_job *j, struct unit *u)
{
	pthread_mutex_lock(&f->lock);
	if (j->memfd < 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/mem", j->pid);
		j->memfd = open(path, O_WRONLY | O_CLOEXEC);
	}
	int fd = j->memfd, e = errno;
	pthread_mutex_unlock(&f->lock);
	if (fd < 0)
		return fail(u, e, "pid %d: open /proc/%d/mem: %s", j->pid, j->pid, strerror(e));
	return each_run(j, u, proc_mem_run);
}

/* Into registered VMAs: UFFDIO_COPY puts each page in place without zeroing it first. */
static int copy_run(struct fill_job *j, struct unit *u, size_t i, const uint8_t *data)
{
	const Ferry__PagemapEntry *e = j->pm->entries[i];
	uint64_t len = (uint64_t)e->nr_pages * PS_PAGE, done = 0;
	while (done < len) {
		struct uffdio_copy c = { .dst = e->vaddr + done, .src = (uintptr_t)(data + done), .len = len - done,
					 .mode = UFFDIO_COPY_MODE_DONTWAKE };
		int r = ioctl(j->uffd, UFFDIO_COPY, &c) < 0 ? errno : 0;
		if (c.copy > 0)
			done += (uint64_t)c.copy;
		else if (r != EAGAIN)
			return fail(u, r ? r : EIO, "pid %d: fill memory at %#llx (userfaultfd): %s", j->pid,
				    (unsigned long long)(e->vaddr + done), strerror(r ? r : EIO));
	}
	return 0;
}

static int write_unit(struct filler *f, struct fill_job *j, struct unit *u)
{
	struct iovec remote[UNIT_IOV];
	size_t n = 0;
	if (u->copy > 0) {
		int r = each_run(j, u, copy_run);
		if (r != -EINVAL)	/* EINVAL: memory UFFDIO_COPY does not fill so (hugetlb): written as the rest */
			return r;
	}
	for (size_t i = u->first; i < u->last; i++) {
		const Ferry__PagemapEntry *e = j->pm->entries[i];
		if (!(e->flags & PM_IN_PARENT))
			remote[n++] = (struct iovec){ (void *)(uintptr_t)e->vaddr, (size_t)e->nr_pages * PS_PAGE };
	}
	if (!n)
		return 0;
	if (atomic_load(&f->no_cma))
		return write_proc_mem(f, j, u);
	struct iovec local = { (void *)u->data, u->bytes };
	ssize_t got = process_vm_writev(j->pid, &local, 1, remote, n, 0);
	if (got < 0 && errno == ENOSYS) {	/* a kernel without CONFIG_CROSS_MEMORY_ATTACH */
		pr_debug("process_vm_writev is missing: writing through /proc/PID/mem\n");
		atomic_store(&f->no_cma, 1);
		return write_proc_mem(f, j, u);
	}
	if (got == (ssize_t)u->bytes)
		return 0;
	int e = got < 0 ? errno : EFAULT;
	uint64_t at = (uintptr_t)remote[0].iov_base;
	for (size_t i = 0, off = 0; got > 0 && i < n; off += remote[i].iov_len, i++)
		if (off + remote[i].iov_len > (uint64_t)got) {
			at = (uintptr_t)remote[i].iov_base + (got - off);
			break;
		}
	return fail(u, e, "pid %d: write memory at %#llx: %s", j->pid, (unsigned long long)at, strerror(e));
}

/* One unit (unlocked): checked and written, unless the operation was cancelled. 0 or -errno, u->msg. */
static int work_unit(struct filler *f, struct fill_job *j, struct unit *u)
{
	u->data = j->map + u->page * PS_PAGE;
	if (f->cancel && *f->cancel)
		return fail(u, ECANCELED, "cancelled");
	int r = (j->what & FILL_CHECK) ? each_run(j, u, check_run) : 0;
	if (r == 0 && (j->what & FILL_WRITE) && (r = write_unit(f, j, u)) == 0)
		atomic_fetch_add(&f->written, u->bytes);
	return r;
}

/*
 * Under the lock: takes a few consecutive units and works on them (unlocked meanwhile), 0 if there
 * was none. Each unit is read through ferry's mapping of the store, checked and written while in
 * the CPU's cache; then their piece of the mapping is dropped at once: tearing down a mapping of
 * the whole store at the end would cost as much, all at once, and dropping each unit alone costs
 * a TLB shootdown each.
 */
static int work_one(struct filler *f, int helper)
{
	struct unit u[BATCH];
	size_t n, bad = 0;
	struct fill_job *j = take_units(f, u, &n);
	if (!j)
		return 0;
	j->helped += helper * n;
	pthread_mutex_unlock(&f->lock);
	int r = 0;
	if ((j->what & FILL_WRITE) && u[0].first == 0 && fault_point("restore-fill"))	/* a task's first unit */
		r = fail(&u[0], EIO, "pid %d: fault injected in the page filler", j->pid);
	for (size_t k = 0; k < n && r == 0; k++)
		if ((r = work_unit(f, j, &u[k])) < 0)
			bad = k;
	uint64_t span = (u[n - 1].page - u[0].page) * PS_PAGE + u[n - 1].bytes;
	if (span)
		madvise((void *)(j->map + u[0].page * PS_PAGE), span, MADV_DONTNEED);
	pthread_mutex_lock(&f->lock);
	j->busy -= n;
	if (r < 0 && !j->err) {	/* the first failure is the one reported */
		j->err = r;
		memcpy(j->msg, u[bad].msg, sizeof(j->msg));
	}
	if (job_done(j)) {
		j->t_last = now_us();
		pthread_cond_broadcast(&f->done);
	}
	return 1;
}

static void *worker(void *arg)
{
	struct filler *f = arg;
	fault_set_cancel(f->cancel);	/* a stall at a fault point ends on it too */
	pthread_mutex_lock(&f->lock);
	while (!f->stopping)
		if (!work_one(f, 0))
			pthread_cond_wait(&f->work, &f->lock);
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

static int cpus(void)
{
	cpu_set_t set;
	int n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : (int)sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : n;
}

int filler_start(struct filler **out, const volatile sig_atomic_t *cancel, struct ferry_err *err)
{
	struct filler *f = calloc(1, sizeof(*f));
	if (!f)
		return fe_set(err, ENOMEM, "page filler");
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->work, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->done, &ca);
	pthread_condattr_destroy(&ca);
	f->cancel = cancel;
	f->no_uffd = fault_mode("fill-proc-mem");
	atomic_init(&f->no_cma, f->no_uffd);
	if (f->no_uffd)
		pr_info("FERRY_FAULT=fill-proc-mem: pages are written through /proc/PID/mem\n");
	/* The tracer works too whenever it waits: one CPU is left to it and the tasks it injects into. */
	int want = cpus() - 1;
	sigset_t all, old;	/* the workers take no signal: the caller's handlers run in its thread */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	while (f->nworkers < want && pthread_create(&f->th[f->nworkers], NULL, worker, f) == 0)
		f->nworkers++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pr_debug("%d worker thread(s) besides the tracer\n", f->nworkers);
	*out = f;
	return 0;
}

static void job_free(struct fill_job *j)
{
	if (j->memfd >= 0)
		close(j->memfd);
	if (j->uffd >= 0)
		close(j->uffd);	/* the last reference: the kernel unregisters every VMA */
	free(j->reg);
	free(j);
}

/*
 * A private anonymous VMA gets its pages by UFFDIO_COPY, unless they might have been huge pages
 * (THP always, or MADV_HUGEPAGE: UFFDIO_COPY puts small pages, where a write fault would have
 * put a huge one), hugetlb pages (UFFDIO_COPY wants them whole) or droppable memory (which
 * userfaultfd refuses).
 */
static int uffd_suits(const Ferry__Vma *v)
{
	static int thp_always = -1;
	if (thp_always < 0) {
		_cleanup_free_ char *mode = NULL;
		thp_always = read_file("/sys/kernel/mm/transparent_hugepage/enabled", &mode, NULL) == 0 &&
			     strstr(mode, "[always]") != NULL;
	}
	if ((v->vmflags & (VMF_HUGEPAGE | VMF_HUGETLB | VMF_DROPPABLE)) || (thp_always && !(v->vmflags & VMF_NOHUGEPAGE)))
		return 0;
	return v->kind == FERRY__VMA_KIND__VMA_ANON || v->kind == FERRY__VMA_KIND__VMA_HEAP ||
	       v->kind == FERRY__VMA_KIND__VMA_STACK;
}

/* The VMAs of t that hold pages and suit UFFDIO_COPY, with the pages they hold. */
static size_t uffd_ranges(struct rtask *t, struct fill_job *j)
{
	const Ferry__Mm *mm = t->mm;
	const Ferry__Pagemap *pm = t->pagemap;
	size_t pages = 0, k = 0;
	j->reg = calloc(mm->n_vmas + 1, sizeof(*j->reg));
	for (size_t i = 0; j->reg && i < mm->n_vmas; i++) {
		const Ferry__Vma *v = mm->vmas[i];
		size_t n = 0;
		while (k < pm->n_entries && pm->entries[k]->vaddr < v->start)
			k++;
		for (; k < pm->n_entries && pm->entries[k]->vaddr < v->end; k++)
			n += (pm->entries[k]->flags & PM_IN_PARENT) ? 0 : pm->entries[k]->nr_pages;
		if (n && uffd_suits(v)) {
			j->reg[j->nreg].start = v->start;
			j->reg[j->nreg++].end = v->end;
			pages += n;
		}
	}
	return pages;
}

/*
 * Gives t a userfaultfd that only ferry holds (the task's descriptor is closed at once) and
 * registers the VMAs it suits (missing mode). Worth two injections from about 1 MiB on. Where
 * the kernel says no, the pages are written with process_vm_writev.
 */
static void uffd_open(struct restore_ctx *ctx, struct rtask *t, struct fill_job *j)
{
	long rfd, ret;
	if (uffd_ranges(t, j) < UFFD_MIN_PAGES)
		goto none;
	struct ferry_err e = { 0 };
	struct injector *inj = &t->threads[0].inj;
	if (inj_syscall(inj, &rfd, SYS_userfaultfd, (const unsigned long[6]){ O_CLOEXEC | UFFD_USER_MODE_ONLY }, &e) < 0 ||
	    rfd < 0)
		goto none;
	int pidfd = (int)syscall(SYS_pidfd_open, t->pid, 0);
	j->uffd = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, (int)rfd, 0);
	if (pidfd >= 0)
		close(pidfd);
	if (RINJ(ctx, inj, &ret, "close its userfaultfd", SYS_close, rfd) < 0 || j->uffd < 0)
		goto none;
	struct uffdio_api api = { .api = UFFD_API };
	if (ioctl(j->uffd, UFFDIO_API, &api) < 0)
		goto none;
	size_t n = 0;
	for (size_t i = 0; i < j->nreg; i++) {
		struct uffdio_register reg = { .range = { j->reg[i].start, j->reg[i].end - j->reg[i].start },
					       .mode = UFFDIO_REGISTER_MODE_MISSING };
		if (ioctl(j->uffd, UFFDIO_REGISTER, &reg) == 0)
			j->reg[n++] = j->reg[i];
		else
			pr_debug("pid %d: %#llx: no userfaultfd (%s)\n", t->pid, (unsigned long long)j->reg[i].start,
				 strerror(errno));
	}
	j->nreg = n;
	return;
none:
	if (j->uffd >= 0)
		close(j->uffd);
	j->uffd = -1;
	j->nreg = 0;
}

int filler_submit(struct restore_ctx *ctx, struct rtask *t, int what)
{
	struct filler *f = ctx->filler;
	struct fill_job *j = calloc(1, sizeof(*j));
	if (!j)
		return fe_set(ctx->err, ENOMEM, "page filler: pid %d", t->pid);
	*j = (struct fill_job){ .t = t, .pid = t->pid, .pm = t->pagemap, .map = t->ps.map, .store = t->ps.name, .what = what, .memfd = -1,
				.uffd = -1 };
	if (!t->ps.npages)	/* an empty store: nothing to check or write */
		j->next = j->pm->n_entries;
	else if ((what & FILL_WRITE) && !f->no_uffd)
		uffd_open(ctx, t, j);
	pthread_mutex_lock(&f->lock);
	struct fill_job **tail = &f->queue;
	if (!f->queue)
		f->busy_since = now_us();
	while (*tail)
		tail = &(*tail)->next_job;
	*tail = j;
	pthread_cond_broadcast(&f->work);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

/* Asks for [off, off + len) of the regular file at path to be read ahead (fd: cache of the last one). */
static void read_ahead(const char *path, const char **open_path, int *fd, uint64_t off, uint64_t len)
{
	struct stat st;
	if (!*open_path || strcmp(*open_path, path)) {
		if (*fd >= 0)
			close(*fd);
		*open_path = path;
		*fd = stat(path, &st) == 0 && S_ISREG(st.st_mode) ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
	}
	if (*fd >= 0)
		posix_fadvise(*fd, (off_t)off, (off_t)len, POSIX_FADV_WILLNEED);
}

void filler_prefetch(const struct restore_ctx *ctx)
{
	const char *open_path = NULL;
	int fd = -1;
	for (size_t k = 0; k < ctx->ntasks; k++) {
		const struct rtask *t = &ctx->tasks[k];
		const Ferry__Pagemap *pm = t->pagemap;
		size_t e = 0;
		for (size_t i = 0; pm && i < t->mm->n_vmas; i++) {
			const Ferry__Vma *v = t->mm->vmas[i];
			uint64_t s = 0, end = 0;
			for (; e < pm->n_entries && pm->entries[e]->vaddr < v->end; e++) {
				const Ferry__PagemapEntry *r = pm->entries[e];
				if (r->vaddr < v->start || v->kind != FERRY__VMA_KIND__VMA_FILE_PRIVATE || v->has_file_id)
					continue;
				if (end && r->vaddr != end) {
					read_ahead(v->path, &open_path, &fd, v->pgoff + (s - v->start), end - s);
					end = 0;
				}
				if (!end)
					s = r->vaddr;
				end = r->vaddr + (uint64_t)r->nr_pages * PS_PAGE;
			}
			if (end)
				read_ahead(v->path, &open_path, &fd, v->pgoff + (s - v->start), end - s);
		}
	}
	if (fd >= 0)
		close(fd);
}

static void report(struct filler *f, struct progress *prog)
{
	uint64_t w = atomic_load(&f->written);
	if (prog && w > f->reported)
		progress_add(prog, w - f->reported);
	f->reported = w;
}

int filler_wait(struct filler *f, struct rtask **t, struct progress *prog, struct ferry_err *err)
{
	*t = NULL;
	pthread_mutex_lock(&f->lock);
	struct fill_job **pj = NULL;
	while (f->queue) {
		for (pj = &f->queue; *pj && !job_done(*pj); pj = &(*pj)->next_job)
			;
		if (*pj)
			break;
		if (f->cancel && *f->cancel) {	/* what is queued is dropped by filler_stop() */
			pthread_mutex_unlock(&f->lock);
			return fe_msg(err, ECANCELED, "cancelled");
		}
		if (!work_one(f, 1)) {	/* the caller is one of the workers while it waits */
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_nsec += 200 * 1000 * 1000;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&f->done, &f->lock, &ts);
		}
		pthread_mutex_unlock(&f->lock);
		report(f, prog);
		pthread_mutex_lock(&f->lock);
	}
	struct fill_job *j = f->queue ? *pj : NULL;
	if (j)
		*pj = j->next_job;
	if (j && !f->queue)
		f->busy_us += now_us() - f->busy_since;
	pthread_mutex_unlock(&f->lock);
	report(f, prog);
	if (!j)
		return 0;
	*t = j->t;
	pr_debug("pid %d: %s%s%s %llu pages in %llu us (%u units, %u by the tracer)\n", j->pid,
		 j->what & FILL_CHECK ? "checked" : "", j->what == (FILL_CHECK | FILL_WRITE) ? " and " : "",
		 j->what & FILL_WRITE ? "wrote" : "", (unsigned long long)j->pm->total_pages,
		 (unsigned long long)(j->units ? j->t_last - j->t_first : 0), j->units, j->helped);
	int r = j->err;
	if (r < 0)
		fe_msg(err, -r, "%s", j->msg);
	job_free(j);
	return r;
}

uint64_t filler_busy_us(const struct filler *f)
{
	return f ? f->busy_us : 0;
}

void filler_stop(struct filler *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stopping = 1;
	for (struct fill_job *j = f->queue; j; j = j->next_job)
		j->next = j->pm->n_entries;	/* hand out nothing more */
	pthread_cond_broadcast(&f->work);
	pthread_mutex_unlock(&f->lock);
	for (int i = 0; i < f->nworkers; i++)
		pthread_join(f->th[i], NULL);
	while (f->queue) {
		struct fill_job *j = f->queue;
		f->queue = j->next_job;
		job_free(j);
	}
	pthread_cond_destroy(&f->work);
	pthread_cond_destroy(&f->done);
	pthread_mutex_destroy(&f->lock);
	free(f);
}
