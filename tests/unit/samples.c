/* SPDX-License-Identifier: Apache-2.0 */
/* Sample messages of every image kind (see samples.h). */
#include <string.h>
#include <xxhash.h>
#include <sys/mman.h>
#include <unistd.h>
#include "image/blob.h"
#include "image/pagestore.h"
#include "samples.h"

const char sample_ghost[] = "content of a deleted file\n";
const struct img_ident sample_ident = { { 0x5a, 0x4d, 0x50, 0x4c, 0x45, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 } };

static Ferry__Inventory inv = FERRY__INVENTORY__INIT;
static int32_t inv_pids[] = { SAMPLE_PID, SAMPLE_PID + 1 };

static Ferry__Pstree pstree = FERRY__PSTREE__INIT;
static Ferry__PstreeEntry pst_e = FERRY__PSTREE_ENTRY__INIT, *pst_ev[] = { &pst_e };
static int32_t pst_threads[] = { SAMPLE_PID, SAMPLE_PID + 1 };

static Ferry__TaskCore core = FERRY__TASK_CORE__INIT;
static Ferry__ThreadCore thr = FERRY__THREAD_CORE__INIT, *thrv[] = { &thr };
static Ferry__UserRegsX86 regs = FERRY__USER_REGS_X86__INIT;
static Ferry__SigAction sa = FERRY__SIG_ACTION__INIT, *sav[] = { &sa };
static Ferry__SigInfo si = FERRY__SIG_INFO__INIT, *siv[] = { &si };
static uint8_t si_raw[128] = { 10, 0, 0, 0, 0xab };
static Ferry__Rlimit rl = FERRY__RLIMIT__INIT, *rlv[] = { &rl };
static Ferry__Creds creds = FERRY__CREDS__INIT;
static uint32_t ids[] = { 1000, 1000, 1000, 1000 };
static Ferry__Rseq rseq = FERRY__RSEQ__INIT;

static Ferry__Mm mm = FERRY__MM__INIT;
static uint64_t auxv[] = { 6, 4096, 33, 0x7ffff7fc1000ULL };
static Ferry__Vma vma_a = FERRY__VMA__INIT, vma_f = FERRY__VMA__INIT, *vmav[] = { &vma_f, &vma_a };

static Ferry__FdTable fdt = FERRY__FD_TABLE__INIT;
static Ferry__FdEntry fd0 = FERRY__FD_ENTRY__INIT, fd1 = FERRY__FD_ENTRY__INIT, *fdv[] = { &fd0, &fd1 };
static Ferry__Files files = FERRY__FILES__INIT;
static Ferry__FileEntry fe0 = FERRY__FILE_ENTRY__INIT, fe1 = FERRY__FILE_ENTRY__INIT, *fev[] = { &fe0, &fe1 };

static Ferry__Pagemap pm = FERRY__PAGEMAP__INIT;
static Ferry__PagemapEntry pm0 = FERRY__PAGEMAP_ENTRY__INIT, pm1 = FERRY__PAGEMAP_ENTRY__INIT, *pmv[] = { &pm0, &pm1 };

static Ferry__DumpStats dst = FERRY__DUMP_STATS__INIT;
static Ferry__RestoreStats rst = FERRY__RESTORE_STATS__INIT;

static void init_core(void)
{
	regs.rip = SAMPLE_RIP;
	regs.rsp = 0x7ffc00001000ULL;
	regs.rax = 42;
	regs.eflags = 0x246;
	rseq.ptr = 0x7f0000001000ULL, rseq.len = 32, rseq.sig = 0x53053053;
	thr.tid = SAMPLE_PID, thr.regs = &regs, thr.sigmask = 1ULL << 9, thr.name = "sample";
	thr.rseq = &rseq;
	thr.has_xsave = 1, thr.xsave = (ProtobufCBinaryData){ 4, (uint8_t *)"\x01\x02\xfe\xff" };
	sa.signo = 10, sa.handler = 0x401000, sa.flags = 0x04000000, sa.restorer = 0x7f0000002000ULL;
	si.signo = 10, si.siginfo = (ProtobufCBinaryData){ sizeof(si_raw), si_raw };
	rl.resource = 7, rl.cur = 1024, rl.max = UINT64_MAX;
	creds.n_uid = creds.n_gid = 4, creds.uid = creds.gid = ids;
	creds.cap_bnd = 0x1ffffffffffULL;
	core.pid = SAMPLE_PID, core.comm = "sample";
	core.has_umask = 1, core.umask = 022;
	core.n_sigactions = 1, core.sigactions = sav;
	core.n_shared_pending = 1, core.shared_pending = siv;
	core.n_rlimits = 1, core.rlimits = rlv;
	core.creds = &creds;
	core.cwd = "/tmp";
	core.n_threads = 1, core.threads = thrv;
}

static void init_mm(void)
{
	mm.start_code = 0x400000, mm.end_code = 0x401000, mm.start_brk = mm.brk = 0x55550000ULL;
	mm.start_stack = 0x7ffc00002000ULL;
	mm.n_auxv = 4, mm.auxv = auxv;
	mm.exe_path = "/usr/bin/sample";
	vma_f.start = 0x400000, vma_f.end = 0x401000, vma_f.prot = 5;
	vma_f.kind = FERRY__VMA_KIND__VMA_FILE_PRIVATE, vma_f.path = "/usr/bin/sample";
	vma_f.has_ino = 1, vma_f.ino = 1234;
	vma_a.start = 0x7f0000000000ULL, vma_a.end = 0x7f0000003000ULL, vma_a.prot = 3;
	vma_a.kind = FERRY__VMA_KIND__VMA_ANON;
	mm.n_vmas = 2, mm.vmas = vmav;
}

static void init_rest(void)
{
	inv.format_major = FERRY_FORMAT_MAJOR, inv.ferry_version = "0.1.0";
	inv.kernel_release = "6.1.0", inv.root_pid = SAMPLE_PID;
	inv.n_pids = 2, inv.pids = inv_pids, inv.hostname = "host";
	inv.has_image_id = 1, inv.image_id = (ProtobufCBinaryData){ IMG_ID_LEN, (uint8_t *)sample_ident.id };
	pst_e.pid = pst_e.pgid = pst_e.sid = SAMPLE_PID, pst_e.ppid = 1;
	pst_e.n_threads = 2, pst_e.threads = pst_threads;
	pstree.n_tasks = 1, pstree.tasks = pst_ev;
	fe0.id = 1, fe0.kind = FERRY__FILE_KIND__FILE_REG, fe0.path = "/etc/hostname", fe0.flags = 0;
	fe0.has_pos = 1, fe0.pos = 3;
	fe1.id = 2, fe1.kind = FERRY__FILE_KIND__FILE_TTY, fe1.flags = 2;
	files.n_files = 2, files.files = fev;
	fd0.fd = 0, fd0.file_id = 2, fd1.fd = 3, fd1.file_id = 1, fd1.has_cloexec = 1, fd1.cloexec = 1;
	fdt.pid = SAMPLE_PID, fdt.n_fds = 2, fdt.fds = fdv;
	pm.pid = SAMPLE_PID, pm.total_pages = 3, pm.n_entries = 2, pm.entries = pmv;
	pm0.vaddr = 0x7f0000000000ULL, pm0.nr_pages = 2, pm1.vaddr = 0x7f0000003000ULL, pm1.nr_pages = 1;
	dst.has_total_us = 1, dst.total_us = 1500, dst.has_pages_written = 1, dst.pages_written = 3;
	rst.has_total_us = 1, rst.total_us = 900, rst.has_pages_restored = 1, rst.pages_restored = 3;
}

const ProtobufCMessage *sample_msg(enum img_kind kind)
{
	static int ready;
	if (!ready) {
		init_core(), init_mm(), init_rest();
		ready = 1;
	}
	switch (kind) {
	case IMG_INVENTORY: return &inv.base;
	case IMG_PSTREE: return &pstree.base;
	case IMG_CORE: return &core.base;
	case IMG_MM: return &mm.base;
	case IMG_FDS: return &fdt.base;
	case IMG_FILES: return &files.base;
	case IMG_PAGEMAP: return &pm.base;
	case IMG_STATS_DUMP: return &dst.base;
	case IMG_STATS_RESTORE: return &rst.base;
	default: return NULL;
	}
}

int sample_id(enum img_kind kind)
{
	return strchr(img_kind_get(kind)->file_fmt, '%') ? SAMPLE_PID : 0;
}

/* The page store matching the sample pagemap: fills it and sets the runs' checksums. */
static int write_pages(int dirfd, struct ferry_err *err)
{
	struct page_store ps;
	int r = pages_create(dirfd, SAMPLE_PID, &sample_ident, pm.total_pages, &ps, err);
	if (r < 0)
		return r;
	for (uint64_t i = 0; i < ps.npages; i++)
		memset(pages_slot(&ps, i), 'a' + (int)i, PS_PAGE);
	pm0.xxh3 = XXH3_64bits(pages_slot(&ps, 0), pm0.nr_pages * PS_PAGE);
	pm1.xxh3 = XXH3_64bits(pages_slot(&ps, pm0.nr_pages), pm1.nr_pages * PS_PAGE);
	return pages_commit(&ps, err);
}

int samples_write_all(int dirfd, struct ferry_err *err)
{
	sample_msg(IMG_INVENTORY);
	int r = write_pages(dirfd, err);
	for (int k = 1; k < IMG_KIND_MAX && r == 0; k++)
		if (sample_msg(k))
			r = img_write_msg(dirfd, &sample_ident, k, sample_id(k), sample_msg(k), err);
	struct img_sink local;
	img_sink_local(&local, dirfd);
	memcpy(local.ident, sample_ident.id, IMG_ID_LEN);
	int fd = memfd_create("sample", MFD_CLOEXEC);
	if (r == 0 && (fd < 0 || write(fd, sample_ghost, strlen(sample_ghost)) != (ssize_t)strlen(sample_ghost)))
		r = fe_set(err, errno, "sample ghost");
	if (r == 0)
		r = blob_write(&local, 1, fd, strlen(sample_ghost), "sample ghost", err);
	if (fd >= 0)
		close(fd);
	return r;
}
