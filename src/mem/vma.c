/* SPDX-License-Identifier: Apache-2.0 */
/* VMA layout: /proc/PID/maps at dump, injected mmap()/mprotect() at restore. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#define LOG_PREFIX "vma: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "files/files.h"
#include "mem/mem.h"

int vma_has_pages(const Ferry__Vma *v)
{
	switch (v->kind) {
	case FERRY__VMA_KIND__VMA_ANON:
	case FERRY__VMA_KIND__VMA_HEAP:
	case FERRY__VMA_KIND__VMA_STACK:
	case FERRY__VMA_KIND__VMA_SHARED_ANON:
	case FERRY__VMA_KIND__VMA_FILE_PRIVATE:
		return 1;
	default:
		return 0;
	}
}

static int classify(struct dump_ctx *ctx, struct dtask *t, Ferry__Vma *v, const char *perms, const char *path)
{
	int shared = perms[3] == 's';
	if (!*path || strncmp(path, "[anon:", 6) == 0) {
		v->kind = shared ? FERRY__VMA_KIND__VMA_SHARED_ANON : FERRY__VMA_KIND__VMA_ANON;
		return 0;
	}
	static const struct { const char *name; Ferry__VmaKind kind; } special[] = {
		{ "[heap]", FERRY__VMA_KIND__VMA_HEAP }, { "[stack]", FERRY__VMA_KIND__VMA_STACK },
		{ "[vdso]", FERRY__VMA_KIND__VMA_VDSO }, { "[vvar]", FERRY__VMA_KIND__VMA_VVAR },
		{ "[vvar_vclock]", FERRY__VMA_KIND__VMA_VVAR_VCLOCK }, { "[vsyscall]", FERRY__VMA_KIND__VMA_VSYSCALL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(special); i++)
		if (strcmp(path, special[i].name) == 0) {
			v->kind = special[i].kind;
			return 0;
		}
	if (path[0] == '[') {
		if (strncmp(path, "[anon_shmem:", 12) == 0) {
			v->kind = FERRY__VMA_KIND__VMA_SHARED_ANON;
			return 0;
		}
		return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: mapping %s at %#llx is not supported by this version",
			      t->pid, path, (unsigned long long)v->start);
	}
	const char *del = strstr(path, " (deleted)");
	if (shared && strcmp(path, "/dev/zero (deleted)") == 0) {
		v->kind = FERRY__VMA_KIND__VMA_SHARED_ANON;
		return 0;
	}
	if (strncmp(path, "/memfd:", 7) == 0) {	/* resolved to its memfd object by mm_dump */
		v->kind = shared ? FERRY__VMA_KIND__VMA_FILE_SHARED : FERRY__VMA_KIND__VMA_FILE_PRIVATE;
		v->path = arena_strdup(&ctx->arena, path);
		v->has_deleted = v->deleted = 1;
		return 0;
	}
	if (strncmp(path, "/SYSV", 5) == 0 && shared) {	/* the inode is the shmid */
		v->kind = FERRY__VMA_KIND__VMA_SYSV_SHM;
		v->path = arena_strdup(&ctx->arena, path);
		return 0;
	}
	v->kind = shared ? FERRY__VMA_KIND__VMA_FILE_SHARED : FERRY__VMA_KIND__VMA_FILE_PRIVATE;
	v->path = arena_strdup(&ctx->arena, path);
	if (del)	/* its content travels as a file object (mm_dump resolves it) */
		v->has_deleted = v->deleted = 1;
	return 0;
}

int vma_dump_layout(struct dump_ctx *ctx, struct dtask *t)
{
	char fname[64];
	_cleanup_free_ char *maps = NULL;
	int r = read_file(PROC_PATH(fname, t->pid, "maps"), &maps, NULL);
	if (r < 0)
		return fe_set(ctx->err, r, "read %s", fname);
	size_t cap = 64, n = 0;
	for (char *p = maps; *p; p++)
		cap += *p == '\n';
	Ferry__Vma **vmas = ARENA_ARRAY(&ctx->arena, Ferry__Vma *, cap);
	if (!vmas)
		return fe_set(ctx->err, ENOMEM, "pid %d: VMA list", t->pid);
	char *save = NULL;
	for (char *line = strtok_r(maps, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long s, e, off, ino;
		unsigned maj, min;
		char perms[5];
		int pos = 0;
		if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n", &s, &e, perms, &off, &maj, &min, &ino, &pos) < 7)
			return fe_msg(ctx->err, EIO, "pid %d: cannot parse maps line \"%s\"", t->pid, line);
		Ferry__Vma *v = ARENA_NEW(&ctx->arena, Ferry__Vma);
		ferry__vma__init(v);
		v->start = s;
		v->end = e;
		v->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
			  (perms[2] == 'x' ? PROT_EXEC : 0);
		v->has_pgoff = 1;
		v->pgoff = off;
		r = classify(ctx, t, v, perms, pos ? line + pos : "");
		if (r < 0)
			return r;
		if (v->kind == FERRY__VMA_KIND__VMA_VSYSCALL)
			continue;	/* a fixed kernel page, the same in every process */
		if (v->path) {
			v->has_dev = v->has_ino = 1;
			v->dev = makedev(maj, min);
			v->ino = ino;
		}
		if (v->kind == FERRY__VMA_KIND__VMA_SYSV_SHM) {
			v->has_shmid = 1;
			v->shmid = ino;
		}
		vmas[n++] = v;
	}
	t->mm->vmas = vmas;
	t->mm->n_vmas = n;
	return 0;
}

int mm_validate(const Ferry__Mm *mm, int pid, struct ferry_err *err)
{
	uint64_t prev = 0;
	for (size_t i = 0; i < mm->n_vmas; i++) {
		const Ferry__Vma *v = mm->vmas[i];
		if (v->start % 4096 || v->end % 4096 || v->end <= v->start || v->start < prev ||
		    v->end > (1ULL << 57) || (v->prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) ||
		    (uint32_t)v->kind > FERRY__VMA_KIND__VMA_SYSV_SHM || (v->has_pgoff && v->pgoff % 4096) ||
		    ((v->kind == FERRY__VMA_KIND__VMA_FILE_PRIVATE || v->kind == FERRY__VMA_KIND__VMA_FILE_SHARED) &&
		     (!v->path || (v->path[0] != '/' && !v->has_file_id))))	/* file_id: an object (packet rings) */
			return fe_msg(err, EBADMSG, "mm-%d.img: VMA %zu (%#llx-%#llx) is malformed", pid, i,
				      (unsigned long long)v->start, (unsigned long long)v->end);
		prev = v->end;
	}
	return 0;
}

static int open_mode(const Ferry__Vma *v)
{
	return (v->kind == FERRY__VMA_KIND__VMA_FILE_SHARED && (v->prot & PROT_WRITE)) ? O_RDWR : O_RDONLY;
}

/* Opens a mapped file inside the task; checks it is still the file that was mapped. */
static int open_remote(struct restore_ctx *ctx, struct rtask *t, const Ferry__Vma *v, long *fd)
{
	struct injector *inj = &t->threads[0].inj;
	struct stat st;
	if (stat(v->path, &st) < 0)
		return fe_set(ctx->err, errno, "mapped file %s (at %#llx)", v->path, (unsigned long long)v->start);
	if (v->has_ino && st.st_ino != v->ino)
		return fe_msg(ctx->err, ESTALE, "mapped file %s changed since the dump (inode %llu, was %llu)",
			      v->path, (unsigned long long)st.st_ino, (unsigned long long)v->ino);
	uint64_t at = inj_scratch_put(inj, 0, v->path, strlen(v->path) + 1);
	if (!at)
		return fe_msg(ctx->err, ENAMETOOLONG, "path too long: %s", v->path);
	return RINJ(ctx, inj, fd, v->path, SYS_open, at, open_mode(v) | O_CLOEXEC);
}

/*
 * Whether any saved page falls in v. Only those VMAs are mapped writable while filling: a VMA
 * mapped writable once is charged for (VM_ACCOUNT) and would then merge with neighbours that
 * the original kept apart.
 */
static int vma_filled(const struct rtask *t, const Ferry__Vma *v, size_t *cursor)
{
	const Ferry__Pagemap *pm = t->pagemap;
	while (*cursor < pm->n_entries && pm->entries[*cursor]->vaddr < v->start)
		(*cursor)++;
	return *cursor < pm->n_entries && pm->entries[*cursor]->vaddr < v->end;
}

/* Maps one VMA, writable while its pages are filled; the caller reprotects afterwards. */
/* A VMA of an object ferry created (a memfd, a deleted file): the task fetches it, maps it, closes it. */
static int map_object(struct restore_ctx *ctx, struct rtask *t, const Ferry__Vma *v, int prot, int flags)
{
	struct injector *inj = &t->threads[0].inj;
	int mine = files_object_for_mapping(ctx, v->file_id, (flags & MAP_SHARED) && (prot & PROT_WRITE), ctx->err);
	if (mine < 0)
		return mine;
	long fd, ret;
	int r = files_fetch(ctx, inj, mine, &fd);
	close(mine);
	if (r < 0)
		return r;
	r = RINJ(ctx, inj, &ret, "mmap", SYS_mmap, v->start, v->end - v->start, prot, flags, fd, v->pgoff);
	RINJ(ctx, inj, &(long){ 0 }, "close", SYS_close, fd);
	if (r < 0)
		return fe_wrap(ctx->err, r, "map %s at %#llx", v->path, (unsigned long long)v->start);
	return (uint64_t)ret == v->start ? 0 : fe_msg(ctx->err, EFAULT, "map %#llx landed at %#lx",
						      (unsigned long long)v->start, ret);
}

struct open_cache {
	long fd;
	const char *path;
	int mode;
};

static int map_one(struct restore_ctx *ctx, struct rtask *t, const Ferry__Vma *v, int filled,
		   struct open_cache *oc)
{
	struct injector *inj = &t->threads[0].inj;
	long fd = -1, ret;
	int r, prot = v->prot | (filled ? PROT_WRITE : 0);
	int flags = MAP_FIXED;

	switch (v->kind) {
	case FERRY__VMA_KIND__VMA_SHARED_ANON:
		flags |= MAP_SHARED | MAP_ANONYMOUS;
		break;
	case FERRY__VMA_KIND__VMA_STACK:
		flags |= MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN;
		break;
	case FERRY__VMA_KIND__VMA_FILE_PRIVATE:
	case FERRY__VMA_KIND__VMA_FILE_SHARED:
		flags |= v->kind == FERRY__VMA_KIND__VMA_FILE_SHARED ? MAP_SHARED : MAP_PRIVATE;
		if (v->has_file_id)
			return map_object(ctx, t, v, prot, flags);
		if (!oc->path || strcmp(oc->path, v->path) || oc->mode != open_mode(v)) {
			if (oc->fd >= 0)
				RINJ(ctx, inj, &ret, "close", SYS_close, oc->fd);
			oc->fd = -1;
			oc->path = NULL;
			r = open_remote(ctx, t, v, &oc->fd);
			if (r < 0)
				return r;
			oc->path = v->path;
			oc->mode = open_mode(v);
		}
		fd = oc->fd;
		break;
	case FERRY__VMA_KIND__VMA_SYSV_SHM:
		return shm_restore_attach(ctx, t, v);
	default:
		flags |= MAP_PRIVATE | MAP_ANONYMOUS;
	}
	r = RINJ(ctx, inj, &ret, "mmap", SYS_mmap, v->start, v->end - v->start, prot, flags, fd, v->pgoff);
	if (r < 0)
		return fe_wrap(ctx->err, r, "map %#llx-%#llx%s%s", (unsigned long long)v->start,
			       (unsigned long long)v->end, v->path ? " of " : "", v->path ? v->path : "");
	if ((uint64_t)ret != v->start)
		return fe_msg(ctx->err, EFAULT, "map %#llx landed at %#lx", (unsigned long long)v->start, ret);
	return 0;
}

int vma_same(const Ferry__Vma *a, const Ferry__Vma *b)
{
	return a->start == b->start && a->end == b->end && a->kind == b->kind && a->pgoff == b->pgoff &&
	       !!a->path == !!b->path && (!a->path || strcmp(a->path, b->path) == 0);
}

static int is_kernel_vma(const Ferry__Vma *v)
{
	return v->kind == FERRY__VMA_KIND__VMA_VDSO || v->kind == FERRY__VMA_KIND__VMA_VVAR ||
	       v->kind == FERRY__VMA_KIND__VMA_VVAR_VCLOCK || v->kind == FERRY__VMA_KIND__VMA_VSYSCALL;
}

/*
 * Maps every VMA not inherited from the parent (kept[i] == 0; kept == NULL: none is). An
 * inherited VMA that is about to be filled is only made writable; kept[i] is its prot + 1.
 */
int vma_restore_map_all(struct restore_ctx *ctx, struct rtask *t, const int *kept)
{
	struct open_cache oc = { .fd = -1 };
	long ret;
	size_t cursor = 0;
	int r = 0;
	for (size_t i = 0; i < t->mm->n_vmas && r == 0; i++) {
		const Ferry__Vma *v = t->mm->vmas[i];
		int filled = vma_filled(t, v, &cursor);
		if (filled && !vma_has_pages(v))
			return fe_msg(ctx->err, EBADMSG, "pagemap-%d.img: pages saved for %#llx, a VMA that holds none",
				      t->pid, (unsigned long long)v->start);
		if (is_kernel_vma(v))
			continue;
		if (kept && kept[i]) {
			if (filled && !((kept[i] - 1) & PROT_WRITE))
				r = RINJ(ctx, &t->threads[0].inj, &ret, "mprotect", SYS_mprotect, v->start,
					 v->end - v->start, v->prot | PROT_WRITE);
			continue;
		}
		r = map_one(ctx, t, v, filled, &oc);
	}
	if (oc.fd >= 0)
		RINJ(ctx, &t->threads[0].inj, &ret, "close", SYS_close, oc.fd);
	return r;
}

int vma_restore_protect_all(struct restore_ctx *ctx, struct rtask *t, const int *kept)
{
	size_t cursor = 0;
	for (size_t i = 0; i < t->mm->n_vmas; i++) {
		const Ferry__Vma *v = t->mm->vmas[i];
		long ret;
		int filled = vma_filled(t, v, &cursor);
		int changed = kept && kept[i] && !is_kernel_vma(v) && (int)v->prot != kept[i] - 1;
		if (!changed && (!filled || (v->prot & PROT_WRITE)))
			continue;
		int r = RINJ(ctx, &t->threads[0].inj, &ret, "mprotect", SYS_mprotect, v->start, v->end - v->start, v->prot);
		if (r < 0)
			return fe_wrap(ctx->err, r, "protect %#llx", (unsigned long long)v->start);
	}
	return 0;
}
