/* SPDX-License-Identifier: Apache-2.0 */
/* VMA layout: /proc/PID/maps at dump, injected mmap()/mprotect() at restore. */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#define LOG_PREFIX "vma: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "files/files.h"
#include "files/path.h"
#include "mem/mem.h"
#include "mem/shmem.h"

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

/* The name given with prctl(PR_SET_VMA_ANON_NAME): "NAME]" up to the last bracket. */
static int anon_name(struct dump_ctx *ctx, Ferry__Vma *v, const char *s)
{
	size_t n = strlen(s);
	if (!n || s[n - 1] != ']')
		return 0;
	v->anon_name = arena_memdup(&ctx->arena, s, n);
	if (!v->anon_name)
		return -ENOMEM;
	v->anon_name[n - 1] = 0;
	return 0;
}

static int classify(struct dump_ctx *ctx, struct dtask *t, Ferry__Vma *v, const char *perms, const char *path)
{
	int shared = perms[3] == 's';
	if (!*path || strncmp(path, "[anon:", 6) == 0) {
		v->kind = shared ? FERRY__VMA_KIND__VMA_SHARED_ANON : FERRY__VMA_KIND__VMA_ANON;
		return *path ? anon_name(ctx, v, path + 6) : 0;
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
			return anon_name(ctx, v, path + 12);
		}
		return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: mapping %s at %#llx is not supported by this version",
			      t->pid, path, (unsigned long long)v->start);
	}
	const char *del = strstr(path, " (deleted)");
	if ((shared && strcmp(path, "/dev/zero (deleted)") == 0) || strcmp(path, "/anon_hugepage (deleted)") == 0) {
		v->kind = shared ? FERRY__VMA_KIND__VMA_SHARED_ANON : FERRY__VMA_KIND__VMA_ANON;
		v->vmflags |= path[1] == 'a' ? VMF_HUGETLB : 0;	/* said by VmFlags too, not read by pre-dumps */
		return 0;
	}
	if (shared && strcmp(path, "/[aio] (deleted)") == 0) {	/* mem/aio.c */
		v->kind = FERRY__VMA_KIND__VMA_AIO_RING;
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

/* VmFlags mnemonics (/proc/PID/smaps) ferry restores, and those it cannot. */
static const struct { char name[3]; uint32_t bit; } vmflag_bits[] = {
	{ "dc", VMF_DONTFORK }, { "wf", VMF_WIPEONFORK }, { "dd", VMF_DONTDUMP }, { "hg", VMF_HUGEPAGE },
	{ "nh", VMF_NOHUGEPAGE }, { "mg", VMF_MERGEABLE }, { "lo", VMF_LOCKED }, { "lf", VMF_LOCKONFAULT },
	{ "gd", VMF_GROWSDOWN }, { "nr", VMF_NORESERVE }, { "ac", VMF_ACCOUNT }, { "dp", VMF_DROPPABLE },
	{ "ht", VMF_HUGETLB }, { "sr", VMF_SEQ_READ }, { "rr", VMF_RAND_READ }, { "sl", VMF_SEALED },
	{ "mw", VMF_MAYWRITE }, { "gu", VMF_MAYBE_GUARD },
};
static const struct { char name[3]; const char *what; } vmflag_refused[] = {
	{ "um", "registered with a userfaultfd (missing mode)" },
	{ "ui", "registered with a userfaultfd (minor mode)" },
	{ "ss", "a shadow stack" },
	{ "pf", "a PFN mapping of a device" },
	{ "io", "a mapping of device I/O memory" },
};

/* Parses a VmFlags value; *refused names the first flag ferry cannot restore (or stays NULL). */
static uint32_t parse_vmflags(const char *s, const char **refused)
{
	uint32_t bits = 0;
	for (; *s && *s != '\n'; s++) {
		if (s[0] == ' ' || !s[1] || s[1] == ' ' || s[1] == '\n')
			continue;
		for (size_t i = 0; i < ARRAY_SIZE(vmflag_bits); i++)
			if (s[0] == vmflag_bits[i].name[0] && s[1] == vmflag_bits[i].name[1])
				bits |= vmflag_bits[i].bit;
		for (size_t i = 0; i < ARRAY_SIZE(vmflag_refused) && !*refused; i++)
			if (s[0] == vmflag_refused[i].name[0] && s[1] == vmflag_refused[i].name[1])
				*refused = vmflag_refused[i].what;
		s++;
	}
	return bits;
}

/* One header line of smaps (the maps format) into a new Vma; *skip for [vsyscall]. */
static int parse_header(struct dump_ctx *ctx, struct dtask *t, const char *line, Ferry__Vma **out)
{
	unsigned long long s, e, off, ino;
	unsigned maj, min;
	char perms[5];
	int pos = 0;
	*out = NULL;
	if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n", &s, &e, perms, &off, &maj, &min, &ino, &pos) < 7)
		return fe_msg(ctx->err, EIO, "pid %d: cannot parse maps line \"%s\"", t->pid, line);
	Ferry__Vma *v = ARENA_NEW(&ctx->arena, Ferry__Vma);
	if (!v)
		return fe_set(ctx->err, ENOMEM, "pid %d: VMA list", t->pid);
	ferry__vma__init(v);
	v->start = s;
	v->end = e;
	v->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
		  (perms[2] == 'x' ? PROT_EXEC : 0);
	v->has_pgoff = 1;
	v->pgoff = off;
	int r = classify(ctx, t, v, perms, pos ? line + pos : "");
	if (r < 0 || v->kind == FERRY__VMA_KIND__VMA_VSYSCALL)
		return r;	/* a fixed kernel page, the same in every process */
	if (v->path || v->kind == FERRY__VMA_KIND__VMA_SHARED_ANON) {
		v->has_dev = v->has_ino = 1;
		v->dev = makedev(maj, min);
		v->ino = ino;
	}
	if (v->kind == FERRY__VMA_KIND__VMA_SYSV_SHM) {
		v->has_shmid = 1;
		v->shmid = ino;
	}
	*out = v;
	return 0;
}

/* What smaps says beyond the header: flags, huge page size, protection key. */
static int finish_vma(struct dump_ctx *ctx, struct dtask *t, Ferry__Vma *v, const char *refused, unsigned pkey,
		      unsigned page_kb)
{
	if (vma_is_kernel(v))
		return 0;
	if (refused)
		return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: the mapping at %#llx-%#llx%s%s is %s, which this version cannot checkpoint",
			      t->pid, (unsigned long long)v->start, (unsigned long long)v->end, v->path ? " of " : "",
			      v->path ? v->path : "", refused);
	if (pkey)
		return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: the mapping at %#llx-%#llx uses memory protection key %u (pkey_mprotect), which this version cannot checkpoint",
			      t->pid, (unsigned long long)v->start, (unsigned long long)v->end, pkey);
	if ((v->vmflags & VMF_HUGETLB) && page_kb > 4) {
		v->has_page_kb = 1;
		v->page_kb = page_kb;
	}
	return 0;
}

struct smaps_job {
	struct dump_ctx *ctx;
	size_t next;
	pthread_mutex_t lock;
	struct log_sink *log;	/* the dump's: workers log there too */
};

static void *smaps_worker(void *arg)
{
	struct smaps_job *j = arg;
	log_sink_use(j->log);
	for (;;) {
		pthread_mutex_lock(&j->lock);
		size_t k = j->next++;
		pthread_mutex_unlock(&j->lock);
		if (k >= j->ctx->ntasks)
			return NULL;
		struct dtask *t = &j->ctx->tasks[k];
		char fname[64];
		if (!t->zombie)
			t->smaps_err = read_file(PROC_PATH(fname, t->pid, "smaps"), &t->smaps, NULL);
	}
}

/*
 * smaps walks the page tables (and counts each page's mappers): ~25 ms per GiB mapped here, paid
 * for every task that maps a large shared area. The tree's are read in parallel, once.
 */
static void prefetch_smaps(struct dump_ctx *ctx)
{
	struct smaps_job j = { .ctx = ctx, .lock = PTHREAD_MUTEX_INITIALIZER, .log = log_sink_current() };
	pthread_t th[7];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t n = 0, want = cpus > 1 ? (size_t)cpus - 1 : 0;
	while (n < want && n < ARRAY_SIZE(th) && n + 1 < ctx->ntasks && pthread_create(&th[n], NULL, smaps_worker, &j) == 0)
		n++;
	smaps_worker(&j);
	for (size_t i = 0; i < n; i++)
		pthread_join(th[i], NULL);
}

/*
 * Layout and per-VMA state from /proc/PID/smaps (the maps lines plus VmFlags). A pre-dump only
 * copies memory and reads /proc/PID/maps: the flags travel in the dump that ends the chain.
 */
/* Containers: the mount each mapped file is on, and its path below that mount (informational). */
static void vma_mounts(struct dump_ctx *ctx, struct dtask *t)
{
	const Ferry__Vma *last = NULL;
	for (size_t i = 0; i < t->mm->n_vmas; i++) {
		Ferry__Vma *v = t->mm->vmas[i];
		struct statx sx;
		char path[96];
		if ((v->kind != FERRY__VMA_KIND__VMA_FILE_PRIVATE && v->kind != FERRY__VMA_KIND__VMA_FILE_SHARED) ||
		    v->deleted || !v->path || v->path[0] != '/')
			continue;
		if (last && !strcmp(last->path, v->path)) {	/* a file mapped in pieces */
			v->has_mnt_id = last->has_mnt_id;
			v->mnt_id = last->mnt_id;
			v->mnt_path = last->mnt_path;
			continue;
		}
		snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", t->pid, (unsigned long long)v->start,
			 (unsigned long long)v->end);
		if (statx(AT_FDCWD, path, 0, STATX_MNT_ID, &sx) == 0 && (sx.stx_mask & STATX_MNT_ID)) {
			v->has_mnt_id = 1;
			v->mnt_id = sx.stx_mnt_id;
			v->mnt_path = path_mount_rel(ctx, t->pid, v->mnt_id, v->path);
		}
		last = v;
	}
}

int vma_dump_layout(struct dump_ctx *ctx, struct dtask *t)
{
	char fname[64];
	_cleanup_free_ char *smaps = NULL;
	int r;
	if (ctx->opts->pre_dump) {
		r = read_file(PROC_PATH(fname, t->pid, "maps"), &smaps, NULL);
	} else {
		if (!t->smaps && !t->smaps_err)
			prefetch_smaps(ctx);
		smaps = TAKE_PTR(t->smaps);
		r = t->smaps_err;
		PROC_PATH(fname, t->pid, "smaps");
	}
	if (r < 0 || !smaps)
		return fe_set(ctx->err, r ? r : EIO, "read %s", fname);
	size_t cap = 64, n = 0;
	for (char *p = smaps; *p; p++)
		cap += *p == '\n' && ((p[1] >= '0' && p[1] <= '9') || (p[1] >= 'a' && p[1] <= 'f'));
	Ferry__Vma **vmas = ARENA_ARRAY(&ctx->arena, Ferry__Vma *, cap);
	if (!vmas)
		return fe_set(ctx->err, ENOMEM, "pid %d: VMA list", t->pid);
	Ferry__Vma *cur = NULL;
	const char *refused = NULL;
	unsigned pkey = 0, page_kb = 0;
	char *save = NULL;
	for (char *line = strtok_r(smaps, "\n", &save); line && r == 0; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] >= 'A' && line[0] <= 'Z') {
			if (!cur)
				continue;
			if (strncmp(line, "VmFlags:", 8) == 0)
				cur->vmflags |= parse_vmflags(line + 8, &refused);
			else if (sscanf(line, "KernelPageSize: %u", &page_kb) != 1)
				sscanf(line, "ProtectionKey: %u", &pkey);
			continue;
		}
		if (cur && (r = finish_vma(ctx, t, cur, refused, pkey, page_kb)) < 0)
			break;
		refused = NULL;
		pkey = page_kb = 0;
		if ((r = parse_header(ctx, t, line, &cur)) == 0 && cur) {
			cur->has_vmflags = !ctx->opts->pre_dump;
			vmas[n++] = cur;
		}
	}
	if (r == 0 && cur)
		r = finish_vma(ctx, t, cur, refused, pkey, page_kb);
	t->mm->vmas = vmas;
	t->mm->n_vmas = n;
	if (r == 0 && !ctx->opts->pre_dump)
		vma_mounts(ctx, t);
	return r;
}

int mm_validate(const Ferry__Mm *mm, int pid, struct ferry_err *err)
{
	uint64_t prev = 0;
	for (size_t i = 0; i < mm->n_vmas; i++) {
		const Ferry__Vma *v = mm->vmas[i];
		if (v->start % 4096 || v->end % 4096 || v->end <= v->start || v->start < prev ||
		    v->end > (1ULL << 57) || (v->prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) ||
		    (uint32_t)v->kind > FERRY__VMA_KIND__VMA_AIO_RING || (v->has_pgoff && v->pgoff % 4096) ||
		    ((v->kind == FERRY__VMA_KIND__VMA_FILE_PRIVATE || v->kind == FERRY__VMA_KIND__VMA_FILE_SHARED) &&
		     (!v->path || (v->path[0] != '/' && !v->has_file_id))))	/* file_id: an object (packet rings) */
			return fe_msg(err, EBADMSG, "mm-%d.img: VMA %zu (%#llx-%#llx) is malformed", pid, i,
				      (unsigned long long)v->start, (unsigned long long)v->end);
		prev = v->end;
	}
	for (size_t i = 0; i < mm->n_guards; i++)
		if (mm->guards[i]->start % 4096 || mm->guards[i]->end % 4096 || mm->guards[i]->end <= mm->guards[i]->start)
			return fe_msg(err, EBADMSG, "mm-%d.img: guard region %zu is malformed", pid, i);
	for (size_t i = 0; i < mm->n_aio; i++)
		if (mm->aio[i]->addr % 4096 || mm->aio[i]->len % 4096 || !mm->aio[i]->len || mm->aio[i]->len > (1ULL << 30))
			return fe_msg(err, EBADMSG, "mm-%d.img: AIO ring %zu is malformed", pid, i);
	return 0;
}

/* A shared file mapping may become writable (VM_MAYWRITE) only if the file was opened for writing. */
static int open_mode(const Ferry__Vma *v)
{
	if (v->kind != FERRY__VMA_KIND__VMA_FILE_SHARED)
		return O_RDONLY;
	if (v->has_vmflags)
		return v->vmflags & VMF_MAYWRITE ? O_RDWR : O_RDONLY;
	return v->prot & PROT_WRITE ? O_RDWR : O_RDONLY;
}

static int is_private(const Ferry__Vma *v)
{
	return v->kind == FERRY__VMA_KIND__VMA_ANON || v->kind == FERRY__VMA_KIND__VMA_HEAP ||
	       v->kind == FERRY__VMA_KIND__VMA_STACK || v->kind == FERRY__VMA_KIND__VMA_FILE_PRIVATE;
}

/*
 * The protection a VMA is mapped with: writable while its pages are filled, or when it was
 * charged for (VM_ACCOUNT, "ac"): a private mapping is charged once it has been writable.
 */
static int map_prot(const Ferry__Vma *v, int filled)
{
	int charged = (v->vmflags & VMF_ACCOUNT) && is_private(v) && !(v->vmflags & VMF_HUGETLB);
	return (int)v->prot | (filled || charged ? PROT_WRITE : 0);
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

struct open_cache {
	long fd;
	const char *path;
	int mode;
};

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif
#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif

/* mmap() flags for what VmFlags said: private or droppable, grows down, no reserve, huge pages. */
static int map_flags(const Ferry__Vma *v, int type)
{
	int flags = MAP_FIXED | type;
	if (v->has_vmflags ? (v->vmflags & VMF_GROWSDOWN) : v->kind == FERRY__VMA_KIND__VMA_STACK)
		flags |= MAP_GROWSDOWN;
	if ((v->vmflags & VMF_DROPPABLE) && (type & MAP_PRIVATE))
		flags = (flags & ~MAP_PRIVATE) | MAP_DROPPABLE;
	else if (v->vmflags & VMF_NORESERVE)
		flags |= MAP_NORESERVE;
	if ((v->vmflags & VMF_HUGETLB) && (type & MAP_ANONYMOUS)) {
		unsigned shift = 0;
		for (uint64_t sz = (uint64_t)(v->page_kb ? v->page_kb : 2048) * 1024; sz > 1; sz >>= 1)
			shift++;
		flags |= MAP_HUGETLB | (int)(shift << MAP_HUGE_SHIFT);
	}
	return flags;
}

/* An anon_vma of its own (one page faulted in and dropped): the kernel then never merges the VMA. */
static int give_anon_vma(struct restore_ctx *ctx, struct rtask *t, const Ferry__Vma *v)
{
	long ret;
	int r = RINJ(ctx, &t->threads[0].inj, &ret, "give the VMA its anon_vma", SYS_madvise, v->start, 4096,
		     MADV_POPULATE_WRITE);
	return r < 0 ? r : RINJ(ctx, &t->threads[0].inj, &ret, "drop that page", SYS_madvise, v->start, 4096, MADV_DONTNEED);
}

/* After mmap: THP advice (inherited by forked children), and the charge of an empty anon VMA. */
static int map_finish(struct restore_ctx *ctx, struct rtask *t, const Ferry__Vma *v, int prot, int filled)
{
	struct injector *inj = &t->threads[0].inj;
	uint64_t len = v->end - v->start;
	long ret;
	int r = 0;
	if (v->vmflags & (VMF_HUGEPAGE | VMF_NOHUGEPAGE))
		r = RINJ(ctx, inj, &ret, "THP advice", SYS_madvise, v->start, len,
			 v->vmflags & VMF_HUGEPAGE ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	if (r == 0 && v->anon_name) {	/* names keep VMAs apart as flags do, and are inherited */
		uint64_t at = inj_scratch_put(inj, 0, v->anon_name, strlen(v->anon_name) + 1);
		r = at ? RINJ(ctx, inj, &ret, "name the VMA", SYS_prctl, PR_SET_VMA, PR_SET_VMA_ANON_NAME, v->start, len, at)
		       : fe_msg(ctx->err, ENAMETOOLONG, "VMA name too long");
	}
	/* Made read-only while it has no anon_vma, an anonymous VMA would lose its charge ("ac"). */
	if (r == 0 && !filled && (prot & ~(int)v->prot) && is_private(v) && v->kind != FERRY__VMA_KIND__VMA_FILE_PRIVATE)
		r = give_anon_vma(ctx, t, v);
	/* VM_MAYBE_GUARD ("gu") stays once a guard region was installed, even after its removal. */
	if (r == 0 && (v->vmflags & VMF_MAYBE_GUARD)) {
		r = RINJ(ctx, inj, &ret, "mark the VMA as guarded", SYS_madvise, v->start, 4096, MADV_GUARD_INSTALL);
		if (r == 0)
			r = RINJ(ctx, inj, &ret, "mark the VMA as guarded", SYS_madvise, v->start, 4096, MADV_GUARD_REMOVE);
	}
	return r;
}

static int anon_private(const Ferry__Vma *v)
{
	return (v->kind == FERRY__VMA_KIND__VMA_ANON || v->kind == FERRY__VMA_KIND__VMA_HEAP ||
		v->kind == FERRY__VMA_KIND__VMA_STACK) && !(v->vmflags & (VMF_HUGETLB | VMF_DROPPABLE));
}

/*
 * Adjacent VMAs the image keeps apart that the kernel would merge as they are mapped (private
 * anonymous, same protection and map-time flags): a child forked from this task would then
 * inherit one VMA where it had two. The original kept them apart by their anon_vmas.
 */
static int would_merge(const Ferry__Vma *a, int fa, const Ferry__Vma *b, int fb)
{
	return a->end == b->start && anon_private(a) && anon_private(b) && map_prot(a, fa) == map_prot(b, fb) &&
	       (map_prot(b, fb) & PROT_WRITE) &&
	       ((a->vmflags ^ b->vmflags) & VMF_AT_MAP & ~VMF_MAYBE_GUARD) == 0 &&	/* "gu" does not keep VMAs apart */
	       !!a->anon_name == !!b->anon_name && (!a->anon_name || strcmp(a->anon_name, b->anon_name) == 0);
}

/*
 * Mapped with another protection (not merged at once), given an anon_vma of its own while a
 * flag that is not an access flag differs (else the kernel would share the neighbour's), then
 * brought to its own flags: two anon_vmas are never merged.
 */
static int map_apart(struct restore_ctx *ctx, struct rtask *t, const Ferry__Vma *v, int filled)
{
	struct injector *inj = &t->threads[0].inj;
	uint64_t len = v->end - v->start;
	int prot = map_prot(v, filled);
	long ret;
	int r = RINJ(ctx, inj, &ret, "mmap", SYS_mmap, v->start, len, prot ^ PROT_EXEC,
		     map_flags(v, MAP_PRIVATE | MAP_ANONYMOUS), -1, 0);
	if (r == 0 && (uint64_t)ret != v->start)
		r = fe_msg(ctx->err, EFAULT, "map %#llx landed at %#lx", (unsigned long long)v->start, ret);
	if (r == 0)
		r = RINJ(ctx, inj, &ret, "keep the VMA apart", SYS_madvise, v->start, len, MADV_DONTFORK);
	if (r == 0)
		r = give_anon_vma(ctx, t, v);
	if (r == 0)
		r = RINJ(ctx, inj, &ret, "keep the VMA apart", SYS_madvise, v->start, len, MADV_DOFORK);
	if (r == 0)
		r = RINJ(ctx, inj, &ret, "mprotect", SYS_mprotect, v->start, len, prot);
	if (r < 0)
		return fe_wrap(ctx->err, r, "map %#llx-%#llx", (unsigned long long)v->start, (unsigned long long)v->end);
	return map_finish(ctx, t, v, prot, filled);
}

/* A VMA of an object ferry holds (a memfd, a deleted file, shared memory): fetched, mapped, closed. */
static int map_fd(struct restore_ctx *ctx, struct rtask *t, const Ferry__Vma *v, int mine, int prot, int flags,
		  int filled)
{
	struct injector *inj = &t->threads[0].inj;
	long fd, ret;
	int r = files_fetch(ctx, inj, mine, &fd);
	if (r < 0)
		return r;
	r = RINJ(ctx, inj, &ret, "mmap", SYS_mmap, v->start, v->end - v->start, prot, flags, fd, v->pgoff);
	RINJ(ctx, inj, &(long){ 0 }, "close", SYS_close, fd);
	if (r < 0)
		return fe_wrap(ctx->err, r, "map %s at %#llx", v->path ? v->path : "shared memory", (unsigned long long)v->start);
	if ((uint64_t)ret != v->start)
		return fe_msg(ctx->err, EFAULT, "map %#llx landed at %#lx", (unsigned long long)v->start, ret);
	return map_finish(ctx, t, v, prot, filled);
}

/* A memfd or a deleted file: a descriptor of the object, writable if the mapping may write. */
static int map_object(struct restore_ctx *ctx, struct rtask *t, const Ferry__Vma *v, int prot, int flags, int filled)
{
	int writable = (flags & MAP_SHARED) && (open_mode(v) == O_RDWR || (prot & PROT_WRITE));
	int mine = files_object_for_mapping(ctx, v->file_id, writable, ctx->err);
	if (mine < 0)
		return mine;
	int r = map_fd(ctx, t, v, mine, prot, flags, filled);
	close(mine);
	return r;
}

static int map_one(struct restore_ctx *ctx, struct rtask *t, const Ferry__Vma *v, int filled,
		   struct open_cache *oc)
{
	struct injector *inj = &t->threads[0].inj;
	long fd = -1, ret;
	int r, prot = map_prot(v, filled);
	int flags;

	switch (v->kind) {
	case FERRY__VMA_KIND__VMA_SHARED_ANON:
		if (v->has_shmem_id) {
			int mine = shmem_restore_object(ctx, v);
			return mine < 0 ? mine : map_fd(ctx, t, v, mine, prot, map_flags(v, MAP_SHARED), filled);
		}
		flags = map_flags(v, MAP_SHARED | MAP_ANONYMOUS);
		break;
	case FERRY__VMA_KIND__VMA_FILE_PRIVATE:
	case FERRY__VMA_KIND__VMA_FILE_SHARED:
		flags = map_flags(v, v->kind == FERRY__VMA_KIND__VMA_FILE_SHARED ? MAP_SHARED : MAP_PRIVATE);
		if (v->has_file_id)
			return map_object(ctx, t, v, prot, flags, filled);
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
		return 0;	/* attached before the rest (shm_restore_attach_all) */
	case FERRY__VMA_KIND__VMA_AIO_RING:
		return 0;	/* made by io_setup() once the layout is in place (mem/aio.c) */
	default:
		flags = map_flags(v, MAP_PRIVATE | MAP_ANONYMOUS);
	}
	r = RINJ(ctx, inj, &ret, "mmap", SYS_mmap, v->start, v->end - v->start, prot, flags, fd, v->pgoff);
	if (r < 0)
		return fe_wrap(ctx->err, r, "map %#llx-%#llx%s%s", (unsigned long long)v->start,
			       (unsigned long long)v->end, v->path ? " of " : "", v->path ? v->path : "");
	if ((uint64_t)ret != v->start)
		return fe_msg(ctx->err, EFAULT, "map %#llx landed at %#lx", (unsigned long long)v->start, ret);
	return map_finish(ctx, t, v, prot, filled);
}

int vma_same(const Ferry__Vma *a, const Ferry__Vma *b)
{
	return a->start == b->start && a->end == b->end && a->kind == b->kind && a->pgoff == b->pgoff &&
	       !!a->path == !!b->path && (!a->path || strcmp(a->path, b->path) == 0) &&
	       (a->vmflags & VMF_AT_MAP) == (b->vmflags & VMF_AT_MAP) && a->shmem_id == b->shmem_id &&
	       !!a->anon_name == !!b->anon_name && (!a->anon_name || strcmp(a->anon_name, b->anon_name) == 0);
}

int vma_is_kernel(const Ferry__Vma *v)
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
	int r = shm_restore_attach_all(ctx, t, kept), prev_filled = 0, prev_own = 1;
	for (size_t i = 0; i < t->mm->n_vmas && r == 0; i++) {
		const Ferry__Vma *v = t->mm->vmas[i], *prev = i ? t->mm->vmas[i - 1] : NULL;
		int filled = vma_filled(t, v, &cursor);
		if (filled && !vma_has_pages(v))
			return fe_msg(ctx->err, EBADMSG, "pagemap-%d.img: pages saved for %#llx, a VMA that holds none",
				      t->pid, (unsigned long long)v->start);
		int apart = prev && would_merge(prev, prev_filled, v, filled);
		prev_filled = filled;
		if (vma_is_kernel(v))
			continue;
		if (kept && kept[i]) {
			prev_own = 1;
			if (map_prot(v, filled) & ~(kept[i] - 1))
				r = RINJ(ctx, &t->threads[0].inj, &ret, "mprotect", SYS_mprotect, v->start,
					 v->end - v->start, map_prot(v, filled));
			continue;
		}
		if (apart && !prev_own)
			r = give_anon_vma(ctx, t, prev);
		if (r == 0)
			r = apart ? map_apart(ctx, t, v, filled) : map_one(ctx, t, v, filled, &oc);
		prev_own = apart;
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
		if (vma_is_kernel(v) || v->kind == FERRY__VMA_KIND__VMA_AIO_RING)
			continue;
		int mapped = kept && kept[i] ? (kept[i] - 1) | map_prot(v, filled) : map_prot(v, filled);
		if (mapped == (int)v->prot || v->kind == FERRY__VMA_KIND__VMA_SYSV_SHM)
			continue;
		int r = RINJ(ctx, &t->threads[0].inj, &ret, "mprotect", SYS_mprotect, v->start, v->end - v->start, v->prot);
		if (r < 0)
			return fe_wrap(ctx->err, r, "protect %#llx", (unsigned long long)v->start);
	}
	return 0;
}

#ifndef SYS_mseal
#define SYS_mseal 462
#endif

/* madvise() advice that fork does not carry or that must come after the tree is forked. */
static const struct { uint32_t bit; int advice; const char *what; } late_advice[] = {
	{ VMF_DONTFORK, MADV_DONTFORK, "MADV_DONTFORK" }, { VMF_WIPEONFORK, MADV_WIPEONFORK, "MADV_WIPEONFORK" },
	{ VMF_DONTDUMP, MADV_DONTDUMP, "MADV_DONTDUMP" }, { VMF_MERGEABLE, MADV_MERGEABLE, "MADV_MERGEABLE" },
	{ VMF_SEQ_READ, MADV_SEQUENTIAL, "MADV_SEQUENTIAL" }, { VMF_RAND_READ, MADV_RANDOM, "MADV_RANDOM" },
};

/* Whether any of mm's guard regions lies in v. */
static int holds_guard(const Ferry__Mm *mm, const Ferry__Vma *v)
{
	for (size_t i = 0; i < mm->n_guards; i++)
		if (mm->guards[i]->start < v->end && mm->guards[i]->end > v->start)
			return 1;
	return 0;
}

/* Whether the VMA of task pid that starts at start is locked now (VmFlags "lo" in its smaps). */
static int locked_now(pid_t pid, uint64_t start)
{
	char fname[64], head[32];
	_cleanup_free_ char *smaps = NULL;
	if (read_file(PROC_PATH(fname, pid, "smaps"), &smaps, NULL) < 0 || !smaps)
		return 0;
	snprintf(head, sizeof(head), "%llx-", (unsigned long long)start);
	for (char *l = smaps; l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (strncmp(l, head, strlen(head)) != 0)
			continue;
		char *f = strstr(l, "\nVmFlags:");
		const char *refused = NULL;
		return f && (parse_vmflags(f + 9, &refused) & VMF_LOCKED);
	}
	return 0;
}

/*
 * mlock() of a VMA that holds guard regions locks it, then fails with ENOMEM when populating
 * reaches a guard page (the program that made it saw the same error). The lock is taken if
 * smaps says so; otherwise (RLIMIT_MEMLOCK, say) the error stands.
 */
static int lock_one(struct restore_ctx *ctx, struct rtask *t, const Ferry__Vma *v)
{
	long ret;
	int r = RINJ(ctx, &t->threads[0].inj, &ret, "mlock", SYS_mlock2, v->start, v->end - v->start,
		     v->vmflags & VMF_LOCKONFAULT ? MLOCK_ONFAULT : 0);
	if (r == -ENOMEM && holds_guard(t->mm, v) && locked_now(t->threads[0].inj.tid, v->start)) {
		fe_clear(ctx->err);
		r = 0;
	}
	return r;
}

static int flags_one(struct restore_ctx *ctx, struct rtask *t, const Ferry__Vma *v)
{
	struct injector *inj = &t->threads[0].inj;
	uint64_t len = v->end - v->start;
	long ret;
	int r = 0;
	for (size_t k = 0; k < ARRAY_SIZE(late_advice) && r == 0; k++)
		if ((v->vmflags & late_advice[k].bit) &&
		    !(late_advice[k].bit == VMF_WIPEONFORK && (v->vmflags & VMF_DROPPABLE)) &&
		    !(late_advice[k].bit == VMF_DONTDUMP && (v->vmflags & VMF_DROPPABLE)))
			r = RINJ(ctx, inj, &ret, late_advice[k].what, SYS_madvise, v->start, len, late_advice[k].advice);
	/* Secret memory is locked by nature (and mlock() on it fails). */
	int secret = v->path && strcmp(v->path, "/secretmem (deleted)") == 0;
	if (r == 0 && (v->vmflags & VMF_LOCKED) && !secret)
		r = lock_one(ctx, t, v);
	return r < 0 ? fe_wrap(ctx->err, r, "VMA %#llx-%#llx", (unsigned long long)v->start,
				(unsigned long long)v->end) : 0;
}

/*
 * The per-VMA state restored once every task exists (fork would not carry it, or it would hide
 * VMAs from children forked at restore): advice, locks and guard regions; with sealed != 0 only
 * the seals (mseal), which come last since a sealed VMA cannot be changed any more.
 */
int vma_restore_flags(struct restore_ctx *ctx, struct rtask *t, int sealed)
{
	struct injector *inj = &t->threads[0].inj;
	long ret;
	int r = 0;
	/* Guards first: the kernel refuses MADV_GUARD_INSTALL on a VMA already mlock()ed (EINVAL). */
	for (size_t i = 0; !sealed && i < t->mm->n_guards && r == 0; i++) {
		const Ferry__PageRange *g = t->mm->guards[i];
		r = RINJ(ctx, inj, &ret, "install a guard region", SYS_madvise, g->start, g->end - g->start,
			 MADV_GUARD_INSTALL);
	}
	for (size_t i = 0; i < t->mm->n_vmas && r == 0; i++) {
		const Ferry__Vma *v = t->mm->vmas[i];
		if (vma_is_kernel(v) || v->kind == FERRY__VMA_KIND__VMA_AIO_RING)
			continue;
		if (!sealed)
			r = flags_one(ctx, t, v);
		else if (v->vmflags & VMF_SEALED)
			r = RINJ(ctx, inj, &ret, "mseal", SYS_mseal, v->start, v->end - v->start, 0);
	}
	return r;
}
