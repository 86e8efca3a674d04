/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS, /dev/zero, MAP_HUGETLB): one object that any
 * number of tasks map, whole or in parts. Dump: each object is known by its inode; its pages are
 * stored once, by the first task (in tree order) mapping each part of it, whichever task wrote
 * them. Incremental dumps track it when every mapping of it is in the tree (see shmem_track).
 * Restore: ferry creates each object once (an anonymous shared mapping of its own, reopened
 * through /proc/self/map_files) and every task maps that descriptor at its offset; the owner fills
 * the pages through its mapping.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>
#define LOG_PREFIX "shmem: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "files/files.h"
#include "mem/mem.h"
#include "mem/pagemap-scan.h"
#include "mem/ranges.h"
#include "mem/shmem.h"
#include "mem/track.h"

#define SHMEM_KEY(ino) ((0x53ULL << 56) | ((ino) & ((1ULL << 56) - 1)))
#define PM_PRESENT (1ULL << 63)

struct shobj {
	uint64_t dev, ino, size;
	int hugetlb;
	struct range_list data;		/* populated offsets */
	struct range_list claimed;	/* offsets some task already stores */
	int tracked;			/* writes since the parent image are known */
	struct range_list written;	/* offsets written since the parent image */
};

struct shmem_state {
	struct shobj *objs;
	size_t n;
	int scanned;			/* outside mappers and descriptors looked for */
	uint64_t (*outside)[2];		/* (dev, ino) mapped by a process outside the tree or held by an fd */
	size_t nout;
	Ferry__Mm **prev_mm;		/* the parent image's layouts, by task */
	int32_t *prev_pid;
	size_t nprev;
	int32_t *prev_all;		/* every task of the parent image, zombies included */
	size_t nall;
	int prev_loaded;
};

static struct shmem_state *state(struct dump_ctx *ctx)
{
	if (!ctx->shmem)
		ctx->shmem = calloc(1, sizeof(struct shmem_state));
	return ctx->shmem;
}

static int is_shmem(const Ferry__Vma *v)
{
	return v->kind == FERRY__VMA_KIND__VMA_SHARED_ANON && v->has_ino;
}

static int map_files_open(pid_t pid, const Ferry__Vma *v, int flags)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", pid, (unsigned long long)v->start,
		 (unsigned long long)v->end);
	int fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Populated offsets of a shmem object: SEEK_DATA/SEEK_HOLE (resident and swapped pages alike). */
static int data_by_seek(int fd, uint64_t size, struct range_list *out)
{
	for (off_t at = 0; at < (off_t)size;) {
		off_t d = lseek(fd, at, SEEK_DATA);
		if (d < 0 && errno == ENXIO)
			break;
		if (d < 0)
			return -errno;
		off_t h = lseek(fd, d, SEEK_HOLE);
		if (h < 0)
			return -errno;
		if (range_add(out, d & ~(off_t)4095, ((h < (off_t)size ? h : (off_t)size) + 4095) & ~(off_t)4095) < 0)
			return -ENOMEM;
		at = h;
	}
	return 0;
}

/* hugetlbfs says everything is data: the pages present in the tree's mappings count instead. */
static int data_by_pagemap(struct dump_ctx *ctx, const struct shobj *o, struct range_list *out)
{
	for (size_t k = 0; k < ctx->ntasks; k++) {
		const struct dtask *t = &ctx->tasks[k];
		char path[64];
		_cleanup_close_ int pm = t->zombie ? -1 : open(PROC_PATH(path, t->pid, "pagemap"), O_RDONLY | O_CLOEXEC);
		for (size_t i = 0; pm >= 0 && i < t->mm->n_vmas; i++) {
			const Ferry__Vma *v = t->mm->vmas[i];
			if (!is_shmem(v) || v->ino != o->ino || v->dev != o->dev)
				continue;
			uint64_t e[512];
			for (uint64_t a = v->start; a < v->end;) {
				size_t n = (v->end - a) / 4096 < 512 ? (v->end - a) / 4096 : 512;
				if (pread_full(pm, e, n * 8, (a / 4096) * 8) < 0)
					break;
				for (size_t q = 0; q < n; q++, a += 4096)
					if ((e[q] & PM_PRESENT) &&
					    range_add(out, a - v->start + v->pgoff, a - v->start + v->pgoff + 4096) < 0)
						return -ENOMEM;
			}
		}
	}
	ranges_normalize(out);
	return 0;
}

static int is_shmem_name(const char *s)
{
	return strncmp(s, "/dev/zero (deleted)", 19) == 0 || strncmp(s, "/anon_hugepage (deleted)", 24) == 0;
}

static int add_outside(struct shmem_state *st, uint64_t dev, uint64_t ino)
{
	void *n = realloc(st->outside, (st->nout + 1) * sizeof(*st->outside));
	if (!n)
		return -ENOMEM;
	st->outside = n;
	st->outside[st->nout][0] = dev;
	st->outside[st->nout++][1] = ino;
	return 0;
}

static int in_tree(const struct dump_ctx *ctx, pid_t pid)
{
	for (size_t k = 0; k < ctx->ntasks; k++)
		if (ctx->tasks[k].pid == pid)
			return 1;
	return 0;
}

/* Shared anonymous objects mapped by processes outside the tree. */
static int scan_outsiders(struct dump_ctx *ctx, struct shmem_state *st)
{
	_cleanup_closedir_ DIR *d = opendir("/proc");
	if (!d)
		return -errno;
	struct dirent *de;
	while ((de = readdir(d))) {
		pid_t pid = atoi(de->d_name);
		if (pid <= 0 || pid == getpid() || in_tree(ctx, pid))
			continue;
		char path[64];
		_cleanup_free_ char *maps = NULL;
		if (read_file(PROC_PATH(path, pid, "maps"), &maps, NULL) < 0)
			continue;	/* gone, or a kernel thread */
		for (char *l = maps; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
			unsigned maj, min;
			unsigned long long ino;
			int pos = 0;
			if (sscanf(l, "%*x-%*x %*s %*x %x:%x %llu %n", &maj, &min, &ino, &pos) >= 3 && pos &&
			    is_shmem_name(l + pos) && add_outside(st, makedev(maj, min), ino) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

/* Descriptors of the tree that name a shared anonymous object (write(2) to it is not tracked). */
static int scan_tree_fds(struct dump_ctx *ctx, struct shmem_state *st)
{
	for (size_t k = 0; k < ctx->ntasks; k++) {
		char path[64], link[64];
		snprintf(path, sizeof(path), "/proc/%d/fd", ctx->tasks[k].pid);
		_cleanup_closedir_ DIR *d = opendir(path);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			char fp[sizeof(path) + sizeof(de->d_name) + 2];
			struct stat sb;
			snprintf(fp, sizeof(fp), "%s/%s", path, de->d_name);
			ssize_t n = readlink(fp, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = 0;
			if (is_shmem_name(link) && stat(fp, &sb) == 0 && add_outside(st, sb.st_dev, sb.st_ino) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

/* The parent image's layouts (mm-PID.img of each of its tasks). */
static int load_prev(struct dump_ctx *ctx, struct shmem_state *st)
{
	const char *p = ctx->opts->prev_dir;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s%s%s", p[0] == '/' ? "" : ctx->opts->dir, p[0] == '/' ? "" : "/", p);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	Ferry__Inventory *inv = NULL;
	struct ferry_err e2 = { 0 };
	st->prev_loaded = 1;
	if (dfd < 0 || img_read_msg(dfd, IMG_INVENTORY, 0, (ProtobufCMessage **)&inv, &e2) < 0)
		return -ENOENT;
	st->prev_mm = calloc(inv->n_pids + 1, sizeof(*st->prev_mm));
	st->prev_pid = calloc(inv->n_pids + 1, sizeof(*st->prev_pid));
	st->prev_all = calloc(inv->n_pids + 1, sizeof(*st->prev_all));
	int r = st->prev_mm && st->prev_pid && st->prev_all ? 0 : -ENOMEM;
	for (size_t i = 0; r == 0 && i < inv->n_pids; i++) {
		st->prev_all[st->nall++] = inv->pids[i];
		st->prev_pid[st->nprev] = inv->pids[i];
		if (img_read_msg(dfd, IMG_MM, inv->pids[i], (ProtobufCMessage **)&st->prev_mm[st->nprev], &e2) == 0)
			st->nprev++;	/* a zombie has none */
	}
	img_free((ProtobufCMessage *)inv);
	return r;
}

static const Ferry__Vma *find_vma(const Ferry__Mm *mm, const Ferry__Vma *w)
{
	for (size_t i = 0; mm && i < mm->n_vmas; i++) {
		const Ferry__Vma *v = mm->vmas[i];
		if (v->start == w->start && v->end == w->end && v->pgoff == w->pgoff && v->ino == w->ino &&
		    v->dev == w->dev && v->kind == w->kind)
			return v;
	}
	return NULL;
}

/*
 * A task of the tree (a zombie too) that the parent image did not have, or 0. Its mapping of an
 * object, if it still has one, is untracked; but it may have written through one and unmapped it,
 * exec'd or exited since, unreaped, which neither the layouts nor the reaped children's faults show.
 */
static pid_t new_task(const struct dump_ctx *ctx, const struct shmem_state *st)
{
	for (size_t k = 0; k < ctx->ntasks; k++) {
		size_t j = 0;
		while (j < st->nall && st->prev_all[j] != ctx->tasks[k].pid)
			j++;
		if (j == st->nall)
			return ctx->tasks[k].pid;
	}
	return 0;
}

/*
 * Whether every mapping of o the parent image saw is still there, in a task that reaped no child
 * since (a child forked from a mapper maps o too, untracked: its writes would be lost), and no
 * task is new since the parent image.
 */
static int same_mappers(struct dump_ctx *ctx, struct shmem_state *st, const struct shobj *o)
{
	if (!st->prev_loaded && load_prev(ctx, st) < 0)
		return 0;
	pid_t n = new_task(ctx, st);
	if (n) {
		pr_debug("object %llu: pid %d is new since the parent image: compared by hashes\n",
			 (unsigned long long)o->ino, n);
		return 0;
	}
	for (size_t j = 0; j < st->nprev; j++) {
		const Ferry__Mm *pm = st->prev_mm[j];
		const struct dtask *t = NULL;
		for (size_t k = 0; k < ctx->ntasks; k++)
			if (ctx->tasks[k].pid == st->prev_pid[j] && !ctx->tasks[k].zombie)
				t = &ctx->tasks[k];
		for (size_t i = 0; i < pm->n_vmas; i++) {
			const Ferry__Vma *w = pm->vmas[i];
			if (!is_shmem(w) || w->ino != o->ino || w->dev != o->dev)
				continue;
			if (!t || !find_vma(t->mm, w) || !pm->has_reaped_minflt || pm->reaped_minflt != t->mm->reaped_minflt) {
				pr_debug("object %llu: pid %d's mapping at %#llx changed since the parent image\n",
					 (unsigned long long)o->ino, st->prev_pid[j], (unsigned long long)w->start);
				return 0;
			}
		}
	}
	return 1;
}

static int shift_add(void *list, uint64_t s, uint64_t e)
{
	return range_add(list, s, e);
}

/*
 * Gives every mapping of o in the tree its write-protection for the next round and, when the
 * object can be tracked, collects what was written through any of them since the parent image.
 * Tracked means: every mapping is registered and was already in the parent image, no process
 * outside the tree maps it and no descriptor of the tree names it (write(2) is invisible to
 * write-protect), and no mapper reaped a child since (a forked child maps it untracked).
 */
static int shmem_track(struct dump_ctx *ctx, struct shmem_state *st, struct shobj *o)
{
	int all = !ctx->hash_track && ctx->prev;
	for (size_t k = 0; k < ctx->ntasks; k++) {
		struct dtask *t = &ctx->tasks[k];
		for (size_t i = 0; !t->zombie && i < t->mm->n_vmas; i++) {
			const Ferry__Vma *v = t->mm->vmas[i];
			if (!is_shmem(v) || v->ino != o->ino || v->dev != o->dev)
				continue;
			struct range_list w = { 0 };
			int tracked = 0, r = track_vma(ctx, t, v, &tracked, shift_add, &w);
			all &= tracked;
			if (r == 0 && tracked)
				for (size_t q = 0; q < w.n && r == 0; q++)
					r = range_add(&o->written, w.r[q].start - v->start + v->pgoff,
						      w.r[q].end - v->start + v->pgoff);
			ranges_free(&w);
			if (r < 0)
				return r;
		}
	}
	if (!all)
		return 0;
	if (!st->scanned) {
		st->scanned = 1;
		int r = scan_outsiders(ctx, st);
		if (r == 0)
			r = scan_tree_fds(ctx, st);
		if (r < 0)
			return fe_set(ctx->err, -r, "look for other users of shared memory");
	}
	for (size_t i = 0; i < st->nout; i++)
		if (st->outside[i][0] == o->dev && st->outside[i][1] == o->ino) {
			pr_info("shared memory object %llu is used outside the tree or through a descriptor: copied in full\n",
				(unsigned long long)o->ino);
			return 0;
		}
	if (!same_mappers(ctx, st, o))
		return 0;
	ranges_normalize(&o->written);
	o->tracked = 1;
	return 0;
}

static int obj_create(const struct dtask *t, const Ferry__Vma *v, struct shobj *o)
{
	memset(o, 0, sizeof(*o));
	o->dev = v->dev;
	o->ino = v->ino;
	o->hugetlb = !!(v->vmflags & VMF_HUGETLB);
	int fd = map_files_open(t->pid, v, O_RDONLY);
	if (fd < 0)
		return fd;
	struct stat sb;
	int r = fstat(fd, &sb) < 0 ? -errno : 0;
	o->size = sb.st_size;
	close(fd);
	return r;
}

/* The object's populated offsets: listed once it is protected (a pre-dump reads running tasks). */
static int obj_data(struct dump_ctx *ctx, const struct dtask *t, const Ferry__Vma *v, struct shobj *o)
{
	if (o->hugetlb)
		return data_by_pagemap(ctx, o, &o->data);
	int fd = map_files_open(t->pid, v, O_RDONLY);
	if (fd < 0)
		return fd;
	int r = data_by_seek(fd, o->size, &o->data);
	close(fd);
	return r;
}

static struct shobj *obj_get(struct dump_ctx *ctx, struct dtask *t, const Ferry__Vma *v, int *err)
{
	struct shmem_state *st = state(ctx);
	*err = st ? 0 : -ENOMEM;
	for (size_t i = 0; st && i < st->n; i++)
		if (st->objs[i].ino == v->ino && st->objs[i].dev == v->dev)
			return &st->objs[i];
	struct shobj *n = st ? realloc(st->objs, (st->n + 1) * sizeof(*n)) : NULL;
	if (!n) {
		*err = -ENOMEM;
		return NULL;
	}
	st->objs = n;
	struct shobj *o = &st->objs[st->n];
	if ((*err = obj_create(t, v, o)) < 0)
		return NULL;
	st->n++;
	if ((*err = shmem_track(ctx, st, o)) < 0 || (*err = obj_data(ctx, t, v, o)) < 0)
		return NULL;
	return o;
}

int shmem_scan_vma(struct dump_ctx *ctx, struct dtask *t, Ferry__Vma *v, struct range_list *out,
		   struct range_list *written, int *tracked)
{
	*tracked = 0;
	int r;
	struct shobj *o = obj_get(ctx, t, v, &r);
	if (!o)
		return r;
	v->has_shmem_id = v->has_shmem_size = 1;
	v->shmem_id = o->ino;
	v->shmem_size = o->size;
	uint64_t s = v->pgoff, e = v->pgoff + (v->end - v->start);
	int64_t delta = (int64_t)v->start - (int64_t)v->pgoff;
	struct range_list win = { 0 }, mine = { 0 };
	r = ranges_clip(&o->data, s, e, 0, &win);
	if (r == 0)
		r = ranges_subtract(&win, &o->claimed, &mine);
	for (size_t k = 0; r == 0 && k < mine.n; k++)
		r = range_add(out, mine.r[k].start + delta, mine.r[k].end + delta);
	if (r == 0 && (r = range_add(&o->claimed, s, e)) == 0)
		ranges_normalize(&o->claimed);
	if (r == 0 && o->tracked) {
		r = ranges_clip(&o->written, s, e, delta, written);
		*tracked = 1;
	}
	ranges_free(&win);
	ranges_free(&mine);
	return r;
}

void shmem_dump_free(struct dump_ctx *ctx)
{
	struct shmem_state *st = ctx->shmem;
	if (!st)
		return;
	for (size_t i = 0; i < st->n; i++) {
		ranges_free(&st->objs[i].data);
		ranges_free(&st->objs[i].claimed);
		ranges_free(&st->objs[i].written);
	}
	for (size_t i = 0; i < st->nprev; i++)
		img_free((ProtobufCMessage *)st->prev_mm[i]);
	free(st->prev_mm);
	free(st->prev_pid);
	free(st->prev_all);
	free(st->objs);
	free(st->outside);
	free(st);
	ctx->shmem = NULL;
}

/* The object's size: as dumped, or (older images) the furthest any task maps it. */
static uint64_t object_size(const struct restore_ctx *ctx, const Ferry__Vma *v)
{
	uint64_t size = v->shmem_size;
	for (size_t k = 0; k < ctx->ntasks; k++)
		for (size_t i = 0; ctx->tasks[k].mm && i < ctx->tasks[k].mm->n_vmas; i++) {
			const Ferry__Vma *w = ctx->tasks[k].mm->vmas[i];
			if (w->has_shmem_id && w->shmem_id == v->shmem_id && w->pgoff + (w->end - w->start) > size)
				size = w->pgoff + (w->end - w->start);
		}
	return size;
}

int shmem_restore_object(struct restore_ctx *ctx, const Ferry__Vma *v)
{
	int fd = files_kept(ctx, SHMEM_KEY(v->shmem_id));
	if (fd >= 0)
		return fd;
	uint64_t size = object_size(ctx, v);
	int flags = MAP_SHARED | MAP_ANONYMOUS;
	if (v->vmflags & VMF_HUGETLB) {
		unsigned shift = 0;
		for (uint64_t sz = (uint64_t)(v->page_kb ? v->page_kb : 2048) * 1024; sz > 1; sz >>= 1)
			shift++;
		flags |= MAP_HUGETLB | (int)(shift << MAP_HUGE_SHIFT);
	}
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED)
		return fe_set(ctx->err, errno, "create a %llu-byte shared memory object%s", (unsigned long long)size,
			      flags & MAP_HUGETLB ? " of huge pages" : "");
	char path[96];
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)p, (unsigned long)p + size);
	fd = open(path, O_RDWR | O_CLOEXEC);
	int e = errno;
	munmap(p, size);
	if (fd < 0)
		return fe_set(ctx->err, e, "open the shared memory object through %s", path);
	int r = files_keep(ctx, SHMEM_KEY(v->shmem_id), fd);
	if (r < 0) {
		close(fd);
		return fe_set(ctx->err, -r, "shared memory object");
	}
	return fd;
}
