/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ferry image verify` and `ferry image merge`. Verify reads every file of an image and of every
 * parent in its chain through an image source (decoded with the key, when encoded), checks each
 * one's header, checksum, identity and owner, runs restore's own structural checks and page
 * verification, and resolves every page left to a parent. Merge writes a self-contained copy
 * with every page resolved, encoded as the original was.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/cleanup.h"
#include "common/hash.h"
#include "common/safefile.h"
#include "common/util.h"
#include "engine/chain.h"
#include "image/blob.h"
#include "transform/codec.h"
#include "transform/transform.h"

int verify_files(struct img_src *src, struct ferry_err *err)
{
	char **names = NULL;
	size_t n = 0;
	int r = img_src_list(src, &names, &n, err);
	for (size_t i = 0; r == 0 && i < n; i++) {
		enum img_kind kind;
		int id;
		ProtobufCMessage *m = NULL;
		if (img_parse_name(names[i], &kind, &id) < 0)
			r = fe_msg(err, EBADMSG, "%s is not the name of an image file", names[i]);
		else if (kind == IMG_PAGES)
			continue;	/* with its pagemap */
		else if (kind == IMG_GHOST)	/* every chunk of the content */
			r = blob_read(src, (uint32_t)id, UINT64_MAX, NULL, NULL, NULL, err);
		else
			r = img_src_read_msg(src, kind, id, &m, err);
		img_free(m);
	}
	if (names)
		img_src_names_free(names, n);
	return r;
}

struct counts {
	uint64_t stored, in_parent;
};

static int count_piece(const struct chain_piece *p, void *arg)
{
	*(uint64_t *)arg += p->len / PS_PAGE;
	return 0;
}

/* One task's pagemap, counted; with check, its store verified and its in-parent runs resolved. */
static int verify_task_pages(struct img_src *src, struct chain *c, int pid, int check, struct counts *n,
			     struct ferry_err *err)
{
	Ferry__Pagemap *pm = NULL;
	struct page_store ps = { .fd = -1 };
	char name[64];
	int r = img_src_read_msg(src, IMG_PAGEMAP, pid, (ProtobufCMessage **)&pm, err);
	if (r == -ENOENT) {	/* a zombie */
		fe_clear(err);
		return 0;
	}
	if (r == 0 && check && (r = pagemap_validate(pm, err)) == 0) {
		int fd = img_src_fd(src, img_name(name, sizeof(name), IMG_PAGES, pid), err);
		r = fd < 0 ? fd : pages_open_fd(fd, pid, pm, &src->ident, &ps, err);
		if (r == 0)
			r = pages_verify(&ps, pm, err);
	}
	for (size_t k = 0; r == 0 && k < pm->n_entries; k++) {
		const Ferry__PagemapEntry *e = pm->entries[k];
		if (!(e->flags & PM_IN_PARENT))
			n->stored += e->nr_pages;
		else if (check)
			r = chain_resolve(c, pid, e->vaddr, e->nr_pages * PS_PAGE, count_piece, &n->in_parent, err);
		else
			n->in_parent += e->nr_pages;
	}
	pages_close(&ps);
	img_free((ProtobufCMessage *)pm);
	return r;
}

/* The image itself: a dump gets every check restore makes; a pre-dump its pages and chain. */
static int verify_top(struct img_src *src, const Ferry__Inventory *inv, struct chain *c, struct counts *n,
		      struct ferry_err *err)
{
	int r = inv->pre_dump ? chain_verify_pages(c, err) : restore_check_image(src, err);
	for (size_t i = 0; r == 0 && i < inv->n_pids; i++)
		r = verify_task_pages(src, c, inv->pids[i], inv->pre_dump, n, err);
	return r;
}

int chain_verify(const char *dir, const char *key_file, FILE *out, struct ferry_err *err)
{
	struct img_src src;
	Ferry__Inventory *inv = NULL;
	struct chain *c = NULL;
	struct counts n = { 0 };
	int depth = 0;
	int r = img_src_open(&src, dir, err);
	if (r == 0)
		r = transform_src_attach(&src, key_file, err);
	if (r == 0 && (r = img_src_read_msg(&src, IMG_INVENTORY, 0, (ProtobufCMessage **)&inv, err)) == -ENOENT)
		r = fe_msg(err, ENOENT, "%s holds no complete image (inventory.img is missing)", dir);
	if (r == 0)
		r = verify_files(&src, err);
	if (r == 0)
		r = chain_open(&src, inv, &c, err);
	for (struct chain *l = c; r == 0 && l; l = chain_parent(l), depth++)
		if ((r = verify_files((struct img_src *)chain_src(l), err)) < 0)
			fe_wrap(err, r, "parent image %s", chain_dir(l));
	if (r == 0)
		r = verify_top(&src, inv, c, &n, err);
	if (r == 0)
		fprintf(out, "%s: %s, %zu task(s), %llu pages stored, %llu in %d parent image(s): OK\n", dir,
			inv->pre_dump ? "pre-dump" : "dump", inv->n_pids, (unsigned long long)n.stored,
			(unsigned long long)n.in_parent, depth);
	chain_close(c);
	img_free((ProtobufCMessage *)inv);
	img_src_close(&src);
	return r;
}

/* ---------------------------------------------------------------- merge */

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

/* The data of run e into buf: from the image's own store or, if in parent, through the chain. */
static int run_data(struct chain *c, const struct page_store *own, uint64_t *own_idx, int pid,
		    const Ferry__PagemapEntry *e, uint8_t *buf, struct ferry_err *err)
{
	size_t len = e->nr_pages * PS_PAGE;
	if (e->flags & PM_IN_PARENT) {
		struct merge_read m = { buf, e->vaddr, 0 };
		int r = chain_resolve(c, pid, e->vaddr, len, read_piece, &m, err);
		return r < 0 ? r : m.err ? fe_set(err, m.err, "read a parent image") : 0;
	}
	int r = pread_full(own->fd, buf, len, PS_HDR_SIZE + *own_idx * PS_PAGE);
	*own_idx += e->nr_pages;
	return r < 0 ? fe_set(err, r, "read pages-%d.img", pid) : 0;
}

/* One task's pages, every run resolved, into a fresh store and pagemap. */
static int merge_task(struct img_src *src, struct img_sink *sink, struct chain *c, int pid, struct ferry_err *err)
{
	Ferry__Pagemap *pm = NULL;
	struct page_store own = { .fd = -1 }, ps = { .fd = -1 };
	char name[64];
	_cleanup_free_ uint8_t *buf = aligned_alloc(PS_PAGE, PS_RUN_MAX_PAGES * PS_PAGE);
	int r = img_src_read_msg(src, IMG_PAGEMAP, pid, (ProtobufCMessage **)&pm, err);
	if (r == -ENOENT) {
		fe_clear(err);
		return 0;
	}
	int fd = r < 0 ? r : img_src_fd(src, img_name(name, sizeof(name), IMG_PAGES, pid), err);
	if (r == 0 && (r = fd) >= 0 && (r = pages_open_fd(fd, pid, pm, &src->ident, &own, err)) == 0)
		r = pages_verify(&own, pm, err);
	uint64_t total = 0, own_idx = 0, idx = 0;
	for (size_t i = 0; r == 0 && i < pm->n_entries; i++)
		total += pm->entries[i]->nr_pages;
	if (r == 0 && !buf)
		r = fe_set(err, ENOMEM, "merge");
	if (r == 0 && (r = pages_create_to(sink, pid, total, &ps, err)) == 0) {
		for (size_t i = 0; r == 0 && i < pm->n_entries; i++) {
			Ferry__PagemapEntry *e = pm->entries[i];
			if ((r = run_data(c, &own, &own_idx, pid, e, buf, err)) < 0)
				break;
			e->flags = 0;
			e->has_flags = 0;
			e->xxh3 = XXH3_64bits(buf, e->nr_pages * PS_PAGE);
			r = pages_write(&ps, idx, buf, e->nr_pages, err);
			idx += e->nr_pages;
		}
		r = r == 0 ? pages_commit(&ps, err) : (pages_abort(&ps), r);
	}
	pm->total_pages = total;
	if (r == 0)
		r = img_write_msg_to(sink, IMG_PAGEMAP, pid, &pm->base, err);
	pages_close(&own);
	img_free((ProtobufCMessage *)pm);
	return r;
}

struct copy_out {
	struct img_sink *sink;
	struct img_out *o;
};

static int emit_out(void *arg, const void *buf, size_t len, struct ferry_err *err)
{
	struct copy_out *c = arg;
	return c->sink->ops->write(c->o, buf, len, err);
}

/* A file as it decodes, through the output sink (encoded again there if the image is). */
static int copy_file(struct img_src *src, struct img_sink *sink, const char *name, struct ferry_err *err)
{
	struct copy_out c = { .sink = sink };
	int r = sink->ops->begin(sink, name, 0, &c.o, err);
	if (r < 0)
		return r;
	if ((r = img_src_stream(src, name, emit_out, &c, err)) < 0) {
		sink->ops->abort(c.o);
		return r;
	}
	return sink->ops->commit(c.o, err);
}

/* The encoding of the merged image: what the original's files have. */
static int encoding_of(struct img_src *src, char **names, size_t n, enum compress_alg *alg, int *enc,
		       struct ferry_err *err)
{
	uint32_t flags = 0;
	for (size_t i = 0; i < n; i++) {
		struct img_hdr h;
		int r = img_src_encoded(src, names[i], &h, NULL, err);
		if (r < 0)
			return r;
		flags |= r ? h.flags : 0;
	}
	*alg = flags & TF_FLAG_ZSTD ? COMPRESS_ZSTD : flags & TF_FLAG_LZ4 ? COMPRESS_LZ4 : COMPRESS_NONE;
	*enc = !!(flags & TF_FLAG_AES256GCM);
	return 0;
}

static int skip_in_merge(const char *name)
{
	enum img_kind k;
	int id;
	return img_parse_name(name, &k, &id) < 0 || k == IMG_INVENTORY || k == IMG_PAGEMAP || k == IMG_PAGES ||
	       k == IMG_TRACK || k == IMG_STATS_RESTORE;
}

static int merge_into(struct img_src *src, Ferry__Inventory *inv, struct chain *c, struct img_sink *s,
		      char **names, size_t n, struct ferry_err *err)
{
	int r = 0;
	for (size_t i = 0; r == 0 && i < n; i++)
		if (!skip_in_merge(names[i]) && (r = copy_file(src, s, names[i], err)) == 0 && fault_point("merge-write"))
			r = fe_msg(err, EIO, "fault injected after writing %s", names[i]);
	for (size_t i = 0; r == 0 && i < inv->n_pids; i++)
		if ((r = merge_task(src, s, c, inv->pids[i], err)) == 0 && fault_point("merge-write"))
			r = fe_msg(err, EIO, "fault injected after merging the pages of pid %d", inv->pids[i]);
	if (r < 0)
		return r;
	/* Last: the inventory makes it whole, now without a parent. */
	char *parent = inv->parent_dir;
	inv->parent_dir = NULL;
	inv->has_parent_image_id = 0;
	r = img_write_msg_to(s, IMG_INVENTORY, 0, &inv->base, err);
	inv->parent_dir = parent;
	return r;
}

static int merge_to(struct img_src *src, Ferry__Inventory *inv, struct chain *c, const char *out,
		    const char *key_file, struct ferry_err *err)
{
	char **names = NULL;
	size_t n = 0;
	struct transform_opts to = { .key_file = key_file };
	int enc = 0, ofd = -1;
	struct img_sink local, *s = &local;
	int r = img_src_list(src, &names, &n, err);
	if (r == 0)
		r = encoding_of(src, names, n, &to.compress, &enc, err);
	if (r == 0 && (r = ofd = safe_dir_open(out, 1, err)) >= 0)
		r = img_sink_local_open(&local, ofd, err);
	if (r < 0) {
		img_src_names_free(names, n);
		if (ofd >= 0)
			close(ofd);
		return r;
	}
	memcpy(local.ident, src->ident.id, IMG_ID_LEN);
	if (!enc)
		to.key_file = NULL;
	if ((to.key_file || to.compress) && (r = transform_sink_wrap(&local, &to, &s, err)) < 0)
		s = &local;
	if (r == 0)
		r = merge_into(src, inv, c, s, names, n, err);
	if (s != &local)
		s->ops->close(s, r == 0, err);
	struct ferry_err e2 = { 0 };
	int rc = local.ops->close(&local, r == 0, r == 0 ? err : &e2);
	img_src_names_free(names, n);
	close(ofd);
	return r < 0 ? r : rc;
}

int chain_merge(const char *dir, const char *out, const char *key_file, struct ferry_err *err)
{
	struct img_src src;
	Ferry__Inventory *inv = NULL;
	struct chain *c = NULL;
	int r = img_src_open(&src, dir, err);
	if (r == 0)
		r = transform_src_attach(&src, key_file, err);
	if (r == 0 && (r = img_src_read_msg(&src, IMG_INVENTORY, 0, (ProtobufCMessage **)&inv, err)) == -ENOENT)
		r = fe_msg(err, ENOENT, "%s holds no complete image (inventory.img is missing)", dir);
	if (r == 0)	/* every file is checked before any is copied */
		r = verify_files(&src, err);
	if (r == 0)
		r = chain_open(&src, inv, &c, err);
	if (r == 0)
		r = chain_verify_pages(c, err);
	if (r == 0)
		r = merge_to(&src, inv, c, out, key_file, err);
	chain_close(c);
	img_free((ProtobufCMessage *)inv);
	img_src_close(&src);
	return r;
}
