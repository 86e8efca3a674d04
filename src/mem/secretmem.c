/* SPDX-License-Identifier: Apache-2.0 */
/*
 * memfd_secret(2) memory is off the kernel's direct map: neither /proc/PID/mem, nor
 * process_vm_readv(), nor read(2) reach it, and it cannot be reopened (/proc/PID/fd or map_files).
 * Only the task that maps it can read it: at dump, an injected pwrite() copies it from the task's
 * own mapping into a memfd that ferry lends the task, and the content goes from that memfd into
 * the blob store. At restore ferry makes the object with memfd_secret(), fills it from the blob
 * store through a mapping of its own, and hands the same descriptor out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#define LOG_PREFIX "secretmem: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "image/blob.h"
#include "mem/mem.h"

#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif

int secretmem_read(struct dump_ctx *ctx, struct dtask *t, uint64_t addr, size_t len, int copy, uint64_t off)
{
	long pidfd = -1, remote = -1, ret;
	int r = DINJ(ctx, t, &pidfd, "pidfd_open(ferry)", SYS_pidfd_open, getpid(), 0);
	if (r == 0)
		r = DINJ(ctx, t, &remote, "borrow ferry's buffer", SYS_pidfd_getfd, pidfd, copy, 0);
	if (r == 0)
		r = DINJ(ctx, t, &ret, "copy out secret memory", SYS_pwrite64, remote, addr, len, off);
	if (r == 0 && (size_t)ret != len)
		r = fe_msg(ctx->err, EIO, "pid %d: %ld of %zu bytes of secret memory copied", t->pid, ret, len);
	if (remote >= 0)
		DINJ(ctx, t, &ret, "close", SYS_close, remote);
	if (pidfd >= 0)
		DINJ(ctx, t, &ret, "close", SYS_close, pidfd);
	return r;
}

int secretmem_read_fd(struct dump_ctx *ctx, struct dtask *t, int fd, size_t len, int copy)
{
	if (!len)
		return 0;
	long addr, ret;
	int r = DINJ(ctx, t, &addr, "map secret memory", SYS_mmap, 0, len, PROT_READ, MAP_SHARED, fd, 0);
	if (r < 0)
		return r;
	r = secretmem_read(ctx, t, (uint64_t)addr, len, copy, 0);
	int r2 = DINJ(ctx, t, &ret, "unmap secret memory", SYS_munmap, addr, len);
	return r < 0 ? r : r2;
}

int secretmem_create(struct restore_ctx *ctx, uint32_t blob_id, uint64_t size, struct ferry_err *err)
{
	int fd = (int)syscall(SYS_memfd_secret, O_CLOEXEC);
	if (fd < 0)
		return fe_set(err, errno, "memfd_secret");
	if (ftruncate(fd, (off_t)size) < 0) {
		int e = errno;
		close(fd);
		return fe_set(err, e, "size secret memory");
	}
	void *p = size ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : NULL;
	if (p == MAP_FAILED) {
		int e = errno;
		close(fd);
		return fe_set(err, e, "map secret memory");
	}
	int r = blob_read(&ctx->src, blob_id, size, size ? blob_put_mem : NULL, p, NULL, err);
	if (p)
		munmap(p, size);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}
