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
#include "engine/treeobj.h"
#include "transform/transform.h"

#define CHAIN_MAX_DEPTH 64

struct chain_task {
	int pid;
	Ferry__Pagemap *pm;
	struct page_store ps;
	uint64_t *store_idx;	/* per entry: its first page in the store (stored runs only) */
};

struct chain {
	char dir[PATH_MAX];
	struct img_src src;
	Ferry__Inventory *inv;
	struct chain_task *tasks;	/* sorted by pid */
	size_t ntasks;
	struct chain *parent;
	int meta_only;		/* pagemaps only: the parent of a dump being made (its pages may be remote) */
};

static int load_task(struct chain *c, int pid, struct ferry_err *err)
{
	struct chain_task *ct = &c->tasks[c->ntasks];
	char name[64];
	memset(ct, 0, sizeof(*ct));
	ct->pid = pid;
	ct->ps.fd = -1;
	int r = img_src_read_msg(&c->src, IMG_PAGEMAP, pid, (ProtobufCMessage **)&ct->pm, err);
	if (r == -ENOENT) {	/* a zombie, or a task the parent image did not have */
		fe_clear(err);
		return 0;
	}
	if (r == 0 && ct->pm->pid != pid)
		r = fe_msg(err, EBADMSG, "pagemap-%d.img: holds the pagemap of pid %d", pid, ct->pm->pid);
	if (r == 0)
		r = pagemap_validate(ct->pm, err);
	if (r == 0 && !c->meta_only) {
		int fd = img_src_fd(&c->src, img_name(name, sizeof(name), IMG_PAGES, pid), err);
		r = fd < 0 ? fd : pages_open_fd(fd, pid, ct->pm, &c->src.ident, &ct->ps, err);
	}
	if (r == 0 && !(ct->store_idx = calloc(ct->pm->n_entries + 1, sizeof(uint64_t))))
		r = fe_set(err, ENOMEM, "chain");
	if (r < 0) {
		pages_close(&ct->ps);
		img_free((ProtobufCMessage *)ct->pm);
		return fe_wrap(err, r, "parent image %s", c->dir);
	}
	uint64_t idx = 0;
	for (size_t i = 0; i < ct->pm->n_entries; i++) {
		ct->store_idx[i] = idx;
		if (!(ct->pm->entries[i]->flags & PM_IN_PARENT))
			idx += ct->pm->entries[i]->nr_pages;
	}
	c->ntasks++;
	return 0;
}

static int cmp_task(const void *a, const void *b)
{
	const struct chain_task *x = a, *y = b;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* The parent directory rel (absolute, or relative to dir) into out (PATH_MAX bytes). */
static int parent_path(char *out, const char *dir, const char *rel)
{
	int n = snprintf(out, PATH_MAX, "%s%s%s", rel[0] == '/' ? "" : dir, rel[0] == '/' ? "" : "/", rel);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* The parent's identity must be the one the child recorded when it was made. */
static int check_parent(const struct chain *c, const Ferry__Inventory *child, struct ferry_err *err)
{
	char a[2 * IMG_ID_LEN + 1], b[2 * IMG_ID_LEN + 1];
	if (!child || !child->has_parent_image_id)
		return 0;
	if (child->parent_image_id.len != IMG_ID_LEN)
		return fe_msg(err, EBADMSG, "inventory.img: malformed parent image id");
	if (!memcmp(child->parent_image_id.data, c->src.ident.id, IMG_ID_LEN))
		return 0;
	return fe_msg(err, EBADMSG, "parent image %s is image %s, not the image %s this one was made from",
		      c->dir, img_ident_str(&c->src.ident, a), img_ident_str((const void *)child->parent_image_id.data, b));
}

/* The rest of a level whose source is open: inventory, pagemaps (and stores), its own parent. */
static int open_level(struct chain *c, const Ferry__Inventory *child, int depth, struct ferry_err *err)
{
	if (depth > CHAIN_MAX_DEPTH)
		return fe_msg(err, ELOOP, "image chain deeper than %d (a loop?) at %s", CHAIN_MAX_DEPTH, c->dir);
	int r = img_src_read_msg(&c->src, IMG_INVENTORY, 0, (ProtobufCMessage **)&c->inv, err);
	if (r == -ENOENT)
		r = fe_msg(err, ENOENT, "parent image %s is missing or incomplete (no inventory.img)", c->dir);
	if (r == 0)
		r = check_parent(c, child, err);
	if (r == 0 && c->inv->n_pids > IMG_MAX_TASKS)
		r = fe_msg(err, EBADMSG, "parent image %s: %zu tasks, more than %d", c->dir, c->inv->n_pids, IMG_MAX_TASKS);
	if (r == 0 && !(c->tasks = calloc(c->inv->n_pids + 1, sizeof(*c->tasks))))
		r = fe_set(err, ENOMEM, "chain");
	for (size_t i = 0; r == 0 && i < c->inv->n_pids; i++)
		r = load_task(c, c->inv->pids[i], err);
	if (r < 0)
		return r;
	qsort(c->tasks, c->ntasks, sizeof(*c->tasks), cmp_task);
	for (size_t i = 1; i < c->ntasks; i++)
		if (c->tasks[i].pid == c->tasks[i - 1].pid)
			return fe_msg(err, EBADMSG, "%s/inventory.img: pid %d appears twice", c->dir, c->tasks[i].pid);
	if (!c->inv->parent_dir)
		return 0;
	char up[PATH_MAX];
	if (parent_path(up, c->dir, c->inv->parent_dir) < 0)
		return fe_msg(err, ENAMETOOLONG, "%s: the parent image's path is too long", c->dir);
	if (!(c->parent = calloc(1, sizeof(*c->parent))))
		return fe_set(err, ENOMEM, "chain");
	c->parent->src.dirfd = -1;
	snprintf(c->parent->dir, sizeof(c->parent->dir), "%s", up);
	c->parent->meta_only = c->meta_only;
	if ((r = img_src_open_like(&c->parent->src, &c->src, up, err)) < 0)
		return fe_msg(err, -r, "parent image %s is missing or incomplete (%s)", up, strerror(-r));
	return open_level(c->parent, c->inv, depth + 1, err);
}

int chain_open(const struct img_src *src, const Ferry__Inventory *inv, struct chain **out, struct ferry_err *err)
{
	*out = NULL;
	if (!inv->parent_dir)
		return 0;
	struct chain *c = calloc(1, sizeof(*c));
	if (!c)
		return fe_set(err, ENOMEM, "chain");
	c->src.dirfd = -1;
	int r = parent_path(c->dir, src->dir, inv->parent_dir) < 0 ?
		fe_msg(err, ENAMETOOLONG, "%s: the parent image's path is too long", src->dir) : 0;
	if (r == 0 && (r = img_src_open_like(&c->src, src, c->dir, err)) < 0)
		r = fe_msg(err, -r, "parent image %s is missing or incomplete (%s)", c->dir, strerror(-r));
	if (r == 0)
		r = open_level(c, inv, 1, err);
	if (r < 0) {
		chain_close(c);
		return r;
	}
	*out = c;
	return 0;
}

int chain_open_dir(const char *dir, const char *key_file, struct chain **out, struct ferry_err *err)
{
	*out = NULL;
	struct chain *c = calloc(1, sizeof(*c));
	if (!c)
		return fe_set(err, ENOMEM, "chain");
	snprintf(c->dir, sizeof(c->dir), "%s", dir);
	c->src.dirfd = -1;
	c->meta_only = 1;
	int r = img_src_open(&c->src, dir, err);
	if (r == 0)
		r = transform_src_attach(&c->src, key_file, err);
	if (r == 0)
		r = open_level(c, NULL, 1, err);
	if (r < 0) {
		chain_close(c);
		return r;
	}
	*out = c;
	return 0;
}

const struct img_ident *chain_ident(const struct chain *c)
{
	return &c->src.ident;
}

const struct img_src *chain_src(const struct chain *c)
{
	return &c->src;
}

struct chain *chain_parent(const struct chain *c)
{
	return c->parent;
}

const char *chain_dir(const struct chain *c)
{
	return c->dir;
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
		img_src_close(&c->src);
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
	struct chain_task key = { .pid = pid };
	return bsearch(&key, c->tasks, c->ntasks, sizeof(*c->tasks), cmp_task);
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


/* ---------------------------------------------------------------- the tree-level object */

/* A dump with --prev-images-dir reads which pages its parent holds from it. */
static int chain_tree_dump_begin(struct dump_ctx *ctx)
{
	char prev[4096];
	const char *pp = dump_prev_path(ctx, prev, sizeof(prev));
	if (!pp)
		return 0;
	int r = chain_open_dir(pp, ctx->opts->transform ? ctx->opts->transform->key_file : NULL, &ctx->prev, ctx->err);
	return r < 0 ? fe_wrap(ctx->err, r, "--prev-images-dir %s", ctx->opts->prev_dir) : 0;
}

static void chain_tree_dump_end(struct dump_ctx *ctx, int ok)
{
	chain_close(ctx->prev);
	ctx->prev = NULL;
}

static int count_piece(const struct chain_piece *p, void *arg)
{
	return 0;
}

/* The parent images: opened, every store verified, every run left to them resolvable. */
static int chain_tree_verify(struct restore_ctx *ctx)
{
	int r = chain_open(&ctx->src, ctx->inv, &ctx->chain, ctx->err);
	if (r == 0)
		r = chain_verify_pages(ctx->chain, ctx->err);
	for (size_t k = 0; r == 0 && k < ctx->ntasks; k++) {
		const Ferry__Pagemap *pm = ctx->tasks[k].pagemap;
		for (size_t i = 0; pm && r == 0 && i < pm->n_entries; i++)
			if (pm->entries[i]->flags & PM_IN_PARENT)
				r = chain_resolve(ctx->chain, ctx->tasks[k].pid, pm->entries[i]->vaddr,
						  pm->entries[i]->nr_pages * PS_PAGE, count_piece, NULL, ctx->err);
	}
	return r;
}

const struct tree_obj_ops chain_tree_ops = {
	.name = "image chain",
	.dump_begin = chain_tree_dump_begin,
	.dump_end = chain_tree_dump_end,
	.restore_verify = chain_tree_verify,
};
