/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image chains: an image made with --prev-images-dir keeps only the pages written since its
 * parent; runs flagged PM_IN_PARENT are found in the parent image, or further up. A chain is
 * opened and every page store in it verified before anything is restored from it.
 */
#include <dirent.h>
#include <errno.h>
#include "common/hash.h"
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/cleanup.h"
#include "common/safefile.h"
#include "common/util.h"
#include "engine/chain.h"
#include "image/show.h"

#define CHAIN_MAX_DEPTH 64

struct chain_task {
	int pid;
	Ferry__Pagemap *pm;
	struct page_store ps;
	uint64_t *store_idx;	/* per entry: its first page in the store (stored runs only) */
};

struct chain {
	char dir[PATH_MAX];
	int dirfd;
	Ferry__Inventory *inv;
	struct chain_task *tasks;
	size_t ntasks;
	struct chain *parent;
	int meta_only;		/* pagemaps only: the parent of a dump being made (its pages may be remote) */
};

static int load_task(struct chain *c, int pid, struct ferry_err *err)
{
	struct chain_task *ct = &c->tasks[c->ntasks];
	memset(ct, 0, sizeof(*ct));
	ct->pid = pid;
	ct->ps.fd = -1;
	int r = img_read_msg(c->dirfd, IMG_PAGEMAP, pid, (ProtobufCMessage **)&ct->pm, err);
	if (r == -ENOENT) {	/* a zombie, or a task the parent image did not have */
		fe_clear(err);
		return 0;
	}
	if (r == 0)
		r = pagemap_validate(ct->pm, err);
	if (r == 0 && !c->meta_only)
		r = pages_open(c->dirfd, pid, ct->pm, &ct->ps, err);
	if (r < 0) {
		img_free((ProtobufCMessage *)ct->pm);
		return fe_wrap(err, r, "parent image %s", c->dir);
	}
	ct->store_idx = calloc(ct->pm->n_entries + 1, sizeof(uint64_t));
	if (!ct->store_idx)
		return fe_set(err, ENOMEM, "chain");
	uint64_t idx = 0;
	for (size_t i = 0; i < ct->pm->n_entries; i++) {
		ct->store_idx[i] = idx;
		if (!(ct->pm->entries[i]->flags & PM_IN_PARENT))
			idx += ct->pm->entries[i]->nr_pages;
	}
	c->ntasks++;
	return 0;
}

static int open_level(const char *path, int depth, int meta_only, struct chain **out, struct ferry_err *err)
{
	if (depth > CHAIN_MAX_DEPTH)
		return fe_msg(err, ELOOP, "image chain deeper than %d (a loop?) at %s", CHAIN_MAX_DEPTH, path);
	struct chain *c = calloc(1, sizeof(*c));
	if (!c)
		return fe_set(err, ENOMEM, "chain");
	snprintf(c->dir, sizeof(c->dir), "%s", path);
	c->meta_only = meta_only;
	c->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = c->dirfd < 0 ? fe_set(err, errno, "parent image %s", path) : 0;
	if (r == 0)
		r = img_read_msg(c->dirfd, IMG_INVENTORY, 0, (ProtobufCMessage **)&c->inv, err);
	if (r == -ENOENT)
		r = fe_msg(err, ENOENT, "parent image %s is missing or incomplete (no inventory.img)", path);
	if (r == 0 && !(c->tasks = calloc(c->inv->n_pids + 1, sizeof(*c->tasks))))
		r = fe_set(err, ENOMEM, "chain");
	for (size_t i = 0; r == 0 && i < c->inv->n_pids; i++)
		r = load_task(c, c->inv->pids[i], err);
	if (r == 0 && c->inv->parent_dir) {
		char up[PATH_MAX];
		snprintf(up, sizeof(up), "%s%s%s", c->inv->parent_dir[0] == '/' ? "" : path,
			 c->inv->parent_dir[0] == '/' ? "" : "/", c->inv->parent_dir);
		r = open_level(up, depth + 1, meta_only, &c->parent, err);
	}
	if (r < 0) {
		chain_close(c);
		return r;
	}
	*out = c;
	return 0;
}

int chain_open(int dirfd, const char *dir, const Ferry__Inventory *inv, struct chain **out, struct ferry_err *err)
{
	*out = NULL;
	if (!inv->parent_dir)
		return 0;
	char up[PATH_MAX];
	snprintf(up, sizeof(up), "%s%s%s", inv->parent_dir[0] == '/' ? "" : dir, inv->parent_dir[0] == '/' ? "" : "/",
		 inv->parent_dir);
	return open_level(up, 1, 0, out, err);
}

void chain_close(struct chain *c)
{
	while (c) {
		struct chain *up = c->parent;
		for (size_t i = 0; i < c->ntasks; i++) {
			pages_close(&c->tasks[i].ps);
			img_free((ProtobufCMessage *)c->tasks[i].pm);
			free(c->tasks[i].store_idx);
		}
		free(c->tasks);
		img_free((ProtobufCMessage *)c->inv);
		if (c->dirfd >= 0)
			close(c->dirfd);
		free(c);
		c = up;
	}
}

int chain_verify_pages(struct chain *c, struct ferry_err *err)
{
	for (; c; c = c->parent)
		for (size_t i = 0; i < c->ntasks; i++) {
			int r = pages_verify(&c->tasks[i].ps, c->tasks[i].pm, err);
			if (r < 0)
				return fe_wrap(err, r, "parent image %s", c->dir);
		}
	return 0;
}

static struct chain_task *find_task(struct chain *c, int pid)
{
	for (size_t i = 0; i < c->ntasks; i++)
		if (c->tasks[i].pid == pid)
			return &c->tasks[i];
	return NULL;
}

/* The first run of pm that ends after vaddr. */
static size_t first_run_after(const Ferry__Pagemap *pm, uint64_t vaddr)
{
	size_t lo = 0, hi = pm->n_entries;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (pm->entries[mid]->vaddr + pm->entries[mid]->nr_pages * PS_PAGE <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int chain_cover(struct chain *c, int pid, uint64_t start, uint64_t end,
		int (*fn)(void *arg, uint64_t s, uint64_t e, int held), void *arg)
{
	struct chain_task *ct = c ? find_task(c, pid) : NULL;
	uint64_t at = start;
	int r = 0;
	/* A run flagged in-parent was found in the parents when its image was made: held. */
	for (size_t i = ct ? first_run_after(ct->pm, start) : 0; ct && i < ct->pm->n_entries && at < end && r == 0; i++) {
		uint64_t es = ct->pm->entries[i]->vaddr, ee = es + ct->pm->entries[i]->nr_pages * PS_PAGE;
		if (es >= end)
			break;
		if (es > at && (r = fn(arg, at, es, 0)) < 0)
			break;
		at = es > at ? es : at;
		r = fn(arg, at, ee < end ? ee : end, 1);
		at = ee < end ? ee : end;
	}
	return r == 0 && at < end ? fn(arg, at, end, 0) : r;
}

int chain_page_hashes(struct chain *c, int pid, uint64_t vaddr, uint64_t n, uint64_t *out)
{
	struct chain_task *ct = c ? find_task(c, pid) : NULL;
	uint64_t at = vaddr, end = vaddr + n * PS_PAGE;
	for (size_t i = ct ? first_run_after(ct->pm, vaddr) : 0; ct && i < ct->pm->n_entries && at < end; i++) {
		const Ferry__PagemapEntry *e = ct->pm->entries[i];
		if (e->vaddr > at || e->n_page_xxh3 != e->nr_pages)
			return -ENOENT;
		for (; at < end && at < e->vaddr + e->nr_pages * PS_PAGE; at += PS_PAGE)
			*out++ = e->page_xxh3[(at - e->vaddr) / PS_PAGE];
	}
	return at < end ? -ENOENT : 0;
}

int chain_resolve(struct chain *c, int pid, uint64_t vaddr, uint64_t len,
		  int (*fn)(const struct chain_piece *p, void *arg), void *arg, struct ferry_err *err)
{
	struct chain_task *ct = c ? find_task(c, pid) : NULL;
	if (!ct)
		return fe_msg(err, ENOENT, "pages of pid %d at %#llx are in no parent image", pid, (unsigned long long)vaddr);
	const Ferry__Pagemap *pm = ct->pm;
	uint64_t end = vaddr + len, at = vaddr;
	for (size_t i = first_run_after(pm, vaddr); i < pm->n_entries && at < end; i++) {
		const Ferry__PagemapEntry *e = pm->entries[i];
		uint64_t es = e->vaddr, ee = e->vaddr + e->nr_pages * PS_PAGE;
		if (es > at)
			break;	/* a hole */
		uint64_t ov_end = ee < end ? ee : end;
		int r;
		if (e->flags & PM_IN_PARENT) {
			r = chain_resolve(c->parent, pid, at, ov_end - at, fn, arg, err);
		} else {
			struct chain_piece p = { ct->ps.fd, at, ov_end - at,
						 PS_HDR_SIZE + (ct->store_idx[i] + (at - es) / PS_PAGE) * PS_PAGE };
			r = fn(&p, arg);
		}
		if (r < 0)
			return r;
		at = ov_end;
	}
	if (at < end)
		return fe_msg(err, ENOENT, "page of pid %d at %#llx is missing from the parent image %s", pid,
			      (unsigned long long)at, c->dir);
	return 0;
}

static int count_piece(const struct chain_piece *p, void *arg)
{
	*(uint64_t *)arg += p->len;
	return 0;
}

/* Checks every file of one image; prints a line per problem; 0 or the first error. */
static int verify_files(const char *dir, FILE *out, struct ferry_err *err)
{
	FILE *null = fopen("/dev/null", "w");
	int r = img_show_dir(dir, null ? null : out, err);
	if (null)
		fclose(null);
	return r;
}

int chain_verify(const char *dir, FILE *out, struct ferry_err *err)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fe_set(err, errno, "%s", dir);
	Ferry__Inventory *inv = NULL;
	int r = img_read_msg(dfd, IMG_INVENTORY, 0, (ProtobufCMessage **)&inv, err);
	if (r == -ENOENT)
		return fe_msg(err, ENOENT, "%s holds no complete image (inventory.img is missing)", dir);
	if (r < 0 || (r = verify_files(dir, out, err)) < 0) {
		img_free((ProtobufCMessage *)inv);
		return r;
	}
	struct chain *c = NULL;
	r = chain_open(dfd, dir, inv, &c, err);
	uint64_t pages = 0, parent_pages = 0;
	for (size_t i = 0; r == 0 && i < inv->n_pids; i++) {
		Ferry__Pagemap *pm = NULL;
		struct page_store ps = { .fd = -1 };
		int rr = img_read_msg(dfd, IMG_PAGEMAP, inv->pids[i], (ProtobufCMessage **)&pm, err);
		if (rr == -ENOENT) {
			fe_clear(err);
			continue;
		}
		r = rr < 0 ? rr : pages_open(dfd, inv->pids[i], pm, &ps, err);
		if (r == 0)
			r = pages_verify(&ps, pm, err);
		for (size_t k = 0; r == 0 && k < pm->n_entries; k++) {
			const Ferry__PagemapEntry *e = pm->entries[k];
			if (e->flags & PM_IN_PARENT)
				r = chain_resolve(c, inv->pids[i], e->vaddr, e->nr_pages * PS_PAGE, count_piece, &parent_pages, err);
			else
				pages += e->nr_pages;
		}
		pages_close(&ps);
		img_free((ProtobufCMessage *)pm);
	}
	if (r == 0)
		r = chain_verify_pages(c, err);
	if (r == 0) {
		int depth = 0;
		for (struct chain *l = c; l; l = l->parent)
			depth++;
		fprintf(out, "%s: %s, %zu task(s), %llu pages stored, %llu in %d parent image(s): OK\n", dir,
			inv->pre_dump ? "pre-dump" : "dump", inv->n_pids, (unsigned long long)pages,
			(unsigned long long)(parent_pages / PS_PAGE), depth);
	}
	chain_close(c);
	img_free((ProtobufCMessage *)inv);
	return r;
}

struct merge_read {
	uint8_t *buf;
	uint64_t base;
	int err;
};

static int read_piece(const struct chain_piece *p, void *arg)
{
	struct merge_read *m = arg;
	int r = pread_full(p->store_fd, m->buf + (p->vaddr - m->base), p->len, (off_t)p->file_off);
	return r < 0 ? (m->err = r) : 0;
}

/* One task's pages, every run resolved, into a fresh store and pagemap under out. */
static int merge_task(int dfd, int ofd, struct chain *c, int pid, struct ferry_err *err)
{
	Ferry__Pagemap *pm = NULL;
	struct page_store own = { .fd = -1 }, ps = { .fd = -1 };
	_cleanup_free_ uint8_t *buf = aligned_alloc(PS_PAGE, PS_RUN_MAX_PAGES * PS_PAGE);
	int r = img_read_msg(dfd, IMG_PAGEMAP, pid, (ProtobufCMessage **)&pm, err);
	if (r == -ENOENT) {
		fe_clear(err);
		return 0;
	}
	if (r < 0 || (r = pages_open(dfd, pid, pm, &own, err)) < 0 || (r = pages_verify(&own, pm, err)) < 0)
		goto out;
	uint64_t total = 0;
	for (size_t i = 0; i < pm->n_entries; i++)
		total += pm->entries[i]->nr_pages;
	struct img_sink sink;
	img_sink_local(&sink, ofd);
	if ((r = pages_create_to(&sink, pid, total, &ps, err)) < 0)
		goto out;
	uint64_t own_idx = 0, idx = 0;
	for (size_t i = 0; r == 0 && i < pm->n_entries; i++) {
		Ferry__PagemapEntry *e = pm->entries[i];
		size_t len = e->nr_pages * PS_PAGE;
		if (!buf) {
			r = fe_set(err, ENOMEM, "merge");
			break;
		}
		if (e->flags & PM_IN_PARENT) {
			struct merge_read m = { buf, e->vaddr, 0 };
			r = chain_resolve(c, pid, e->vaddr, len, read_piece, &m, err);
			if (r == 0 && m.err)
				r = fe_set(err, m.err, "read a parent image");
		} else {
			r = pread_full(own.fd, buf, len, PS_HDR_SIZE + own_idx * PS_PAGE);
			own_idx += e->nr_pages;
			if (r < 0)
				fe_set(err, r, "read pages-%d.img", pid);
		}
		if (r == 0) {
			e->flags = 0;
			e->has_flags = 0;
			e->xxh3 = XXH3_64bits(buf, len);
			r = pages_write(&ps, idx, buf, e->nr_pages, err);
			idx += e->nr_pages;
		}
	}
	pm->total_pages = total;
	if (r == 0)
		r = pages_commit(&ps, err);
	else
		pages_abort(&ps);
	if (r == 0)
		r = img_write_msg(ofd, IMG_PAGEMAP, pid, &pm->base, err);
out:
	pages_close(&own);
	img_free((ProtobufCMessage *)pm);
	return r;
}

static int copy_file(int dfd, int ofd, const char *name, struct ferry_err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r = read_file_at(dfd, name, &data, &len);
	if (r < 0)
		return fe_set(err, r, "read %s", name);
	struct img_sink sink;
	img_sink_local(&sink, ofd);
	return img_sink_write_file(&sink, name, data, len, NULL, 0, err);
}

int chain_merge(const char *dir, const char *out, struct ferry_err *err)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return fe_set(err, errno, "%s", dir);
	_cleanup_close_ int ofd = safe_dir_open(out, 1, err);
	if (ofd < 0)
		return ofd;
	int r;
	Ferry__Inventory *inv = NULL;
	struct chain *c = NULL;
	r = img_read_msg(dfd, IMG_INVENTORY, 0, (ProtobufCMessage **)&inv, err);
	if (r == -ENOENT)
		return fe_msg(err, ENOENT, "%s holds no complete image (inventory.img is missing)", dir);
	if (r == 0)
		r = chain_open(dfd, dir, inv, &c, err);
	if (r == 0)
		r = chain_verify_pages(c, err);
	_cleanup_closedir_ DIR *d = r == 0 ? fdopendir(dup(dfd)) : NULL;
	struct dirent *de;
	while (r == 0 && d && (de = readdir(d))) {
		const struct img_kind_desc *k = img_kind_by_name(de->d_name);
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.' || l < 5 || strcmp(de->d_name + l - 4, ".img") || !k ||
		    k->kind == IMG_INVENTORY || k->kind == IMG_PAGEMAP || k->kind == IMG_PAGES || k->kind == IMG_TRACK)
			continue;
		r = copy_file(dfd, ofd, de->d_name, err);
	}
	for (size_t i = 0; r == 0 && i < inv->n_pids; i++)
		r = merge_task(dfd, ofd, c, inv->pids[i], err);
	if (r == 0) {	/* last: the inventory makes it whole, now without a parent */
		inv->parent_dir = NULL;
		r = img_write_msg(ofd, IMG_INVENTORY, 0, &inv->base, err);
	}
	chain_close(c);
	if (inv)
		inv->parent_dir = NULL;
	img_free((ProtobufCMessage *)inv);
	return r;
}

int chain_open_dir(const char *dir, struct chain **out, struct ferry_err *err)
{
	*out = NULL;
	return open_level(dir, 1, 1, out, err);
}
