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
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "common/hash.h"
#define LOG_PREFIX "fill: "
#include "common/log.h"
#include "common/util.h"
#include "engine/chain.h"
#include "mem/fill.h"

#define MAX_WORKERS 8
#define UNIT_BYTES (1u << 20)	/* checked, then written while still in the CPU's cache */
#define UNIT_IOV 256

struct fill_job {
	struct rtask *t;
	pid_t pid;
	const Ferry__Pagemap *pm;
	const uint8_t *map;		/* the store's data area */
	int what;			/* FILL_* */
	size_t next;			/* next run to hand out */
	uint64_t next_page;		/* its place in the store */
	unsigned busy;			/* units being worked on */
	int memfd;			/* /proc/PID/mem, when process_vm_writev is missing */
	int err;			/* the first failure, -errno */
	char msg[sizeof(((struct ferry_err *)0)->msg)];
	struct fill_job *next_job;
};

struct filler {
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	struct fill_job *queue;		/* submitted and not yet handed back, in order */
	int stopping;
	int nworkers;
	pthread_t th[MAX_WORKERS];
	atomic_int no_cma;		/* process_vm_writev is missing: /proc/PID/mem instead */
	atomic_uint_fast64_t written;
	uint64_t reported;		/* bytes already passed to a progress display */
	uint64_t busy_since, busy_us;	/* time with something queued */
};

/* A unit of work: runs [first, last) of a job, whose data starts at page `page` of the store. */
struct unit {
	size_t first, last;
	uint64_t page, bytes;
	char msg[sizeof(((struct ferry_err *)0)->msg)];	/* what went wrong */
};

static int job_done(const struct fill_job *j)
{
	return (j->next == j->pm->n_entries || j->err) && !j->busy;
}

/* Under the lock: the next unit of the first job that has work left. */
static struct fill_job *take_unit(struct filler *f, struct unit *u)
{
	for (struct fill_job *j = f->queue; j; j = j->next_job) {
		const Ferry__Pagemap *pm = j->pm;
		if (j->err || j->next == pm->n_entries)
			continue;
		*u = (struct unit){ .first = j->next, .last = j->next, .page = j->next_page };
		size_t nio = 0;
		while (u->last < pm->n_entries && nio < UNIT_IOV) {
			const Ferry__PagemapEntry *e = pm->entries[u->last];
			uint64_t len = (uint64_t)e->nr_pages * PS_PAGE;
			if (!(e->flags & PM_IN_PARENT)) {
				if (u->bytes && u->bytes + len > UNIT_BYTES)
					break;
				u->bytes += len;
				nio++;
			}
			u->last++;
		}
		j->next = u->last;
		j->next_page += u->bytes / PS_PAGE;
		j->busy++;
		return j;
	}
	return NULL;
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

static int check_unit(struct fill_job *j, struct unit *u)
{
	const uint8_t *p = j->map + u->page * PS_PAGE;
	for (size_t i = u->first; i < u->last; i++) {
		const Ferry__PagemapEntry *e = j->pm->entries[i];
		if (e->flags & PM_IN_PARENT)
			continue;
		size_t len = (size_t)e->nr_pages * PS_PAGE;
		if (XXH3_64bits(p, len) != e->xxh3)
			return fail(u, EBADMSG, "pages-%d.img: pages at %#llx (run %zu) fail their checksum: the page "
				    "store is corrupt", j->pid, (unsigned long long)e->vaddr, i);
		p += len;
	}
	return 0;
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
	const uint8_t *p = j->map + u->page * PS_PAGE;
	for (size_t i = u->first; i < u->last; i++) {
		const Ferry__PagemapEntry *en = j->pm->entries[i];
		if (en->flags & PM_IN_PARENT)
			continue;
		size_t len = (size_t)en->nr_pages * PS_PAGE;
		int r = pwrite_full(fd, p, len, (off_t)en->vaddr);
		if (r < 0)
			return fail(u, -r, "pid %d: write %zu bytes of memory at %#llx: %s", j->pid, len,
				    (unsigned long long)en->vaddr, strerror(-r));
		p += len;
	}
	return 0;
}

static int write_unit(struct filler *f, struct fill_job *j, struct unit *u)
{
	struct iovec remote[UNIT_IOV];
	size_t n = 0;
	for (size_t i = u->first; i < u->last; i++) {
		const Ferry__PagemapEntry *e = j->pm->entries[i];
		if (!(e->flags & PM_IN_PARENT))
			remote[n++] = (struct iovec){ (void *)(uintptr_t)e->vaddr, (size_t)e->nr_pages * PS_PAGE };
	}
	if (!n)
		return 0;
	if (atomic_load(&f->no_cma))
		return write_proc_mem(f, j, u);
	struct iovec local = { (void *)(j->map + u->page * PS_PAGE), u->bytes };
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

static void *worker(void *arg)
{
	struct filler *f = arg;
	pthread_mutex_lock(&f->lock);
	while (!f->stopping) {
		struct unit u;
		struct fill_job *j = take_unit(f, &u);
		if (!j) {
			pthread_cond_wait(&f->work, &f->lock);
			continue;
		}
		pthread_mutex_unlock(&f->lock);
		int r = (j->what & FILL_CHECK) ? check_unit(j, &u) : 0;
		if (r == 0 && (j->what & FILL_WRITE)) {
			r = write_unit(f, j, &u);
			if (r == 0)
				atomic_fetch_add(&f->written, u.bytes);
		}
		pthread_mutex_lock(&f->lock);
		j->busy--;
		if (r < 0 && !j->err) {	/* the first failure is the one reported */
			j->err = r;
			memcpy(j->msg, u.msg, sizeof(j->msg));
		}
		if (job_done(j))
			pthread_cond_broadcast(&f->done);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

static int cpus(void)
{
	cpu_set_t set;
	int n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : (int)sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : n;
}

int filler_start(struct filler **out, struct ferry_err *err)
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
	atomic_init(&f->no_cma, fault_point("fill-proc-mem"));
	int want = cpus(), r = 0;
	while (f->nworkers < want && (r = pthread_create(&f->th[f->nworkers], NULL, worker, f)) == 0)
		f->nworkers++;
	if (!f->nworkers) {
		filler_stop(f);
		return fe_set(err, r, "start the page filler");
	}
	pr_debug("%d worker(s)\n", f->nworkers);
	*out = f;
	return 0;
}

int filler_submit(struct filler *f, struct rtask *t, int what, struct ferry_err *err)
{
	struct fill_job *j = calloc(1, sizeof(*j));
	if (!j)
		return fe_set(err, ENOMEM, "page filler: pid %d", t->pid);
	*j = (struct fill_job){ .t = t, .pid = t->pid, .pm = t->pagemap, .map = t->ps.map, .what = what, .memfd = -1 };
	if (!j->map)	/* an empty store: nothing to check or write */
		j->next = j->pm->n_entries;
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
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 200 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&f->done, &f->lock, &ts);
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
	int r = j->err;
	if (r < 0)
		fe_msg(err, -r, "%s", j->msg);
	if (j->memfd >= 0)
		close(j->memfd);
	free(j);
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
		if (j->memfd >= 0)
			close(j->memfd);
		free(j);
	}
	pthread_cond_destroy(&f->work);
	pthread_cond_destroy(&f->done);
	pthread_mutex_destroy(&f->lock);
	free(f);
}
