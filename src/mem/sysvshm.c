/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SysV shared memory attached by the tree. Dump: each segment once (metadata from
 * /proc/sysvipc/shm, content read through /proc/PID/map_files, which does not attach it).
 * Restore: the segment is recreated with its old id (kernel.shm_next_id) and content before any
 * task exists — or, if a segment with that id, key and size survived the dump, refilled — and
 * each task attaches it where it was by an injected shmat() (read-only, executable, partly
 * unmapped or reprotected as it was). A segment marked for removal is
 * removed again once the tasks hold it; a failed restore removes what it created. A tree-level
 * object (engine/treeobj.h): its state lives in its slot of the dump or restore context.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>
#define LOG_PREFIX "shm: "
#ifndef SHM_LOCKED
#define SHM_LOCKED 02000
#endif
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "engine/treeobj.h"
#include "mem/mem.h"
#include "image/blob.h"

/* The dump's segments met so far. */
static Ferry__ShmImage *dump_img(struct dump_ctx *ctx)
{
	void **slot = treeobj_dump_slot(ctx, &sysv_tree_ops);
	if (!*slot && (*slot = ARENA_NEW(&ctx->arena, Ferry__ShmImage)))
		ferry__shm_image__init(*slot);
	return *slot;
}

/* The restore's: shm.img and which segments this restore created (removed if it fails). */
struct sysv_rst {
	Ferry__ShmImage *img;
	uint8_t *created;
};

static struct sysv_rst *rst_state(struct restore_ctx *ctx)
{
	return *treeobj_rst_slot(ctx, &sysv_tree_ops);
}

static int parse_segment(int shmid, Ferry__ShmSegment *s)
{
	_cleanup_free_ char *text = NULL;
	int r = read_file("/proc/sysvipc/shm", &text, NULL);
	if (r < 0)
		return r;
	for (char *line = strchr(text, '\n'); line && *line; line = strchr(line + 1, '\n')) {
		int key, id;
		unsigned mode, uid, gid;
		unsigned long long size;
		if (sscanf(line + 1, "%d %d %o %llu %*d %*d %*d %u %u", &key, &id, &mode, &size, &uid, &gid) == 6 &&
		    id == shmid) {
			s->shmid = id;
			s->key = key;
			s->mode = mode;
			s->size = size;
			s->has_uid = s->has_gid = 1;
			s->uid = uid;
			s->gid = gid;
			return 0;
		}
	}
	return -ENOENT;
}

int shm_dump_mapping(struct dump_ctx *ctx, struct dtask *t, const Ferry__Vma *v)
{
	Ferry__ShmImage *img = dump_img(ctx);
	if (!img)
		return fe_set(ctx->err, ENOMEM, "shm segments");
	for (size_t i = 0; i < img->n_segments; i++)
		if (img->segments[i]->shmid == (int32_t)v->shmid)
			return 0;
	Ferry__ShmSegment *s = ARENA_NEW(&ctx->arena, Ferry__ShmSegment);
	Ferry__ShmSegment **n = ARENA_ARRAY(&ctx->arena, Ferry__ShmSegment *, img->n_segments + 1);
	if (!s || !n)
		return fe_set(ctx->err, ENOMEM, "shm segment");
	ferry__shm_segment__init(s);
	int r = parse_segment((int)v->shmid, s);
	if (r < 0)
		return fe_set(ctx->err, r, "pid %d: SysV segment %llu mapped at %#llx", t->pid,
			      (unsigned long long)v->shmid, (unsigned long long)v->start);
	char path[96];
	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", t->pid, (unsigned long long)v->start,
		 (unsigned long long)v->end);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fe_set(ctx->err, errno, "pid %d: SysV segment %d", t->pid, s->shmid);
	char what[64];
	snprintf(what, sizeof(what), "SysV segment %d", s->shmid);
	s->has_ghost_id = 1;
	s->ghost_id = ++ctx->next_ghost_id;
	if ((r = blob_write(ctx->sink, s->ghost_id, fd, s->size, what, ctx->err)) < 0)	/* streamed, holes kept */
		return fe_wrap(ctx->err, r, "pid %d", t->pid);
	if (img->n_segments)
		memcpy(n, img->segments, img->n_segments * sizeof(*n));
	n[img->n_segments++] = s;
	img->segments = n;
	return 0;
}

static int sysv_dump_write(struct dump_ctx *ctx)
{
	const Ferry__ShmImage *img = *treeobj_dump_slot(ctx, &sysv_tree_ops);
	return img && img->n_segments ? img_write_msg_to(ctx->sink, IMG_SHM, 0, &img->base, ctx->err) : 0;
}

static int write_next_id(int id)
{
	char buf[32];
	_cleanup_close_ int fd = open("/proc/sys/kernel/shm_next_id", O_WRONLY | O_CLOEXEC);
	int n = snprintf(buf, sizeof(buf), "%d", id);
	return fd < 0 ? -errno : write_full(fd, buf, n);
}

/* The segment with s's id: reused if the one that is there is the same, else created. */
static int make_segment(struct restore_ctx *ctx, const Ferry__ShmSegment *s, int *created)
{
	struct shmid_ds ds;
	*created = 0;
	if (shmctl(s->shmid, IPC_STAT, &ds) == 0) {
		if (ds.shm_perm.__key != s->key || ds.shm_segsz != s->size)
			return fe_msg(ctx->err, EEXIST, "SysV shm id %d is taken by another segment (key %#x)", s->shmid,
				      ds.shm_perm.__key);
		return 0;
	}
	int r = write_next_id(s->shmid);
	if (r < 0)
		return fe_set(ctx->err, r, "choose SysV shm id %d (kernel.shm_next_id)", s->shmid);
	int id = shmget(s->key, s->size, (s->mode & 0777) | IPC_CREAT | IPC_EXCL);
	write_next_id(-1);
	if (id < 0)
		return fe_set(ctx->err, errno, "recreate SysV segment %d (key %#x)", s->shmid, s->key);
	if (id != s->shmid) {
		shmctl(id, IPC_RMID, NULL);
		return fe_msg(ctx->err, EEXIST, "SysV segment came back as id %d, not %d", id, s->shmid);
	}
	*created = 1;
	return 0;
}

static int fill_segment(struct restore_ctx *ctx, const Ferry__ShmSegment *s)
{
	void *p = shmat(s->shmid, NULL, 0);
	if (p == (void *)-1)
		return fe_set(ctx->err, errno, "attach SysV segment %d", s->shmid);
	/* Chunk by chunk, each checked first; pages never written stay unallocated. */
	int r = blob_read(&ctx->src, s->ghost_id, s->size, blob_put_mem, p, NULL, ctx->err);
	shmdt(p);
	if (r < 0)
		return r;
	struct shmid_ds ds;
	if (shmctl(s->shmid, IPC_STAT, &ds) == 0) {
		ds.shm_perm.uid = s->uid;
		ds.shm_perm.gid = s->gid;
		ds.shm_perm.mode = s->mode & 0777;
		shmctl(s->shmid, IPC_SET, &ds);
	}
	if ((s->mode & SHM_LOCKED) && shmctl(s->shmid, SHM_LOCK, NULL) < 0)
		return fe_set(ctx->err, errno, "lock SysV segment %d in memory (SHM_LOCK)", s->shmid);
	return 0;
}

/* Before any task exists: every segment, with its id and content. */
static int sysv_restore_create(struct restore_ctx *ctx)
{
	struct sysv_rst *st = calloc(1, sizeof(*st));
	if (!st)
		return fe_set(ctx->err, ENOMEM, "shm");
	*treeobj_rst_slot(ctx, &sysv_tree_ops) = st;
	int r = img_src_read_msg(&ctx->src, IMG_SHM, 0, (ProtobufCMessage **)&st->img, ctx->err);
	if (r == -ENOENT) {
		fe_clear(ctx->err);
		return 0;
	}
	if (r < 0)
		return r;
	st->created = calloc(st->img->n_segments + 1, 1);
	if (!st->created)
		return fe_set(ctx->err, ENOMEM, "shm");
	for (size_t i = 0; i < st->img->n_segments; i++) {
		const Ferry__ShmSegment *s = st->img->segments[i];
		int created;
		if (!s->has_ghost_id || s->size > (1ULL << 40))
			return fe_msg(ctx->err, EBADMSG, "shm.img: segment %d is malformed", s->shmid);
		if ((r = make_segment(ctx, s, &created)) < 0)
			return r;
		st->created[i] = (uint8_t)created;
		if ((r = fill_segment(ctx, s)) < 0)
			return r;
	}
	return 0;
}

static const Ferry__ShmSegment *find_segment(struct restore_ctx *ctx, uint64_t shmid)
{
	const struct sysv_rst *st = rst_state(ctx);
	for (size_t i = 0; st && st->img && i < st->img->n_segments; i++)
		if ((uint64_t)st->img->segments[i]->shmid == shmid)
			return st->img->segments[i];
	return NULL;
}

/* An attachment: the VMAs of one shmat() (same segment, same base address), i is the first. */
static int same_attach(const Ferry__Vma *a, const Ferry__Vma *b)
{
	return b->kind == FERRY__VMA_KIND__VMA_SYSV_SHM && b->shmid == a->shmid && b->start - b->pgoff == a->start - a->pgoff;
}

/*
 * One attachment, whole, at its base (shmat), then the parts the task had unmapped go and each
 * piece gets its protection (mprotect splits it as the task's own calls did). Read-only when
 * the attachment could never be written (no VM_MAYWRITE: SHM_RDONLY).
 */
static int attach_one(struct restore_ctx *ctx, struct rtask *t, size_t i)
{
	struct injector *inj = &t->threads[0].inj;
	const Ferry__Vma *v = t->mm->vmas[i];
	const Ferry__ShmSegment *s = find_segment(ctx, v->shmid);
	if (!s)
		return fe_msg(ctx->err, EBADMSG, "mm-%d.img: SysV segment %llu at %#llx is not in shm.img", t->pid,
			      (unsigned long long)v->shmid, (unsigned long long)v->start);
	uint64_t base = v->start - v->pgoff, size = (s->size + 4095) & ~4095ULL, at = base;
	int rdonly = v->has_vmflags ? !(v->vmflags & VMF_MAYWRITE) : !(v->prot & PROT_WRITE);
	int flags = (rdonly ? SHM_RDONLY : 0) | (v->prot & PROT_EXEC ? SHM_EXEC : 0), prot = rdonly ? PROT_READ : PROT_READ | PROT_WRITE;
	long ret;
	int r = RINJ(ctx, inj, &ret, "shmat", SYS_shmat, v->shmid, base, flags);
	if (r < 0)
		return fe_wrap(ctx->err, r, "attach SysV segment %llu at %#llx", (unsigned long long)v->shmid,
			       (unsigned long long)base);
	if ((uint64_t)ret != base)
		return fe_msg(ctx->err, EFAULT, "SysV segment landed at %#lx", ret);
	prot |= flags & SHM_EXEC ? PROT_EXEC : 0;
	for (size_t k = i; k < t->mm->n_vmas && r == 0; k++) {
		const Ferry__Vma *w = t->mm->vmas[k];
		if (!same_attach(v, w))
			continue;	/* another mapping in a hole the task made: mapped later */
		if (w->start > at)
			r = RINJ(ctx, inj, &ret, "unmap what the task unmapped of a SysV segment", SYS_munmap, at, w->start - at);
		if (r == 0 && (int)w->prot != prot)
			r = RINJ(ctx, inj, &ret, "protect a piece of a SysV segment", SYS_mprotect, w->start, w->end - w->start, w->prot);
		at = w->end;
	}
	if (r == 0 && at < base + size)
		r = RINJ(ctx, inj, &ret, "unmap what the task unmapped of a SysV segment", SYS_munmap, at, base + size - at);
	return r;
}

/*
 * Before anything else is mapped (a part the task unmapped may since hold another mapping): every
 * attachment of t not inherited from its parent (kept[i]).
 */
int shm_restore_attach_all(struct restore_ctx *ctx, struct rtask *t, const int *kept)
{
	for (size_t i = 0; i < t->mm->n_vmas; i++) {
		const Ferry__Vma *v = t->mm->vmas[i];
		int first = v->kind == FERRY__VMA_KIND__VMA_SYSV_SHM, inherited = 0;
		for (size_t k = 0; k < i && first; k++)
			first = !same_attach(v, t->mm->vmas[k]);
		if (!first)
			continue;
		for (size_t k = i; kept && k < t->mm->n_vmas; k++)
			inherited |= kept[k] && same_attach(v, t->mm->vmas[k]);
		int r = inherited ? 0 : attach_one(ctx, t, i);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Segments marked for removal go once the tasks hold them; a failed restore removes what it made. */
static void sysv_restore_finish(struct restore_ctx *ctx, int failed)
{
	struct sysv_rst *st = rst_state(ctx);
	if (!st)
		return;
	for (size_t i = 0; st->img && i < st->img->n_segments; i++) {
		const Ferry__ShmSegment *s = st->img->segments[i];
		if ((failed && st->created[i]) || (!failed && (s->mode & SHM_DEST)))
			shmctl(s->shmid, IPC_RMID, NULL);
	}
	img_free((ProtobufCMessage *)st->img);
	free(st->created);
	free(st);
	*treeobj_rst_slot(ctx, &sysv_tree_ops) = NULL;
}

const struct tree_obj_ops sysv_tree_ops = {
	.name = "SysV IPC",
	.dump_write = sysv_dump_write,
	.restore_before_fork = sysv_restore_create,
	.restore_finish = sysv_restore_finish,
};
