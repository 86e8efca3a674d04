/* SPDX-License-Identifier: Apache-2.0 */
/*
 * eventfd: the 64-bit counter and EFD_SEMAPHORE, read from fdinfo at dump (no read, which would
 * consume the count) and replayed at restore by creating a zero eventfd and writing the count.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#define LOG_PREFIX "eventfd: "
#include "common/log.h"
#include "common/cleanup.h"
#include "files/files.h"

#define EVENTFD_MAX 0xfffffffffffffffeULL

static int eventfd_match(const struct fd_info *fi, const struct dump_opts *o)
{
	return strcmp(fi->link, "anon_inode:[eventfd]") == 0;
}

/* Parses a number field of fi's fdinfo in base; -ENOENT when absent. */
static int field_u64(const struct fd_info *fi, const char *key, int base, uint64_t *out)
{
	const char *v = fdinfo_field(fi, key);
	char *end;
	if (!v)
		return -ENOENT;
	errno = 0;
	*out = strtoull(v, &end, base);
	return errno || end == v ? -EIO : 0;
}

static int eventfd_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	Ferry__EventfdEntry *e = ARENA_NEW(&ctx->arena, Ferry__EventfdEntry);
	uint64_t count, sem = 0, id = 0;
	if (!e)
		return fe_set(ctx->err, ENOMEM, "eventfd entry");
	ferry__eventfd_entry__init(e);
	if (field_u64(fi, "eventfd-count", 16, &count) < 0)
		return fe_msg(ctx->err, EIO, "eventfd: no readable eventfd-count in fdinfo");
	/* eventfd-semaphore appeared in Linux 6.7; before it the flag cannot be seen. */
	if (field_u64(fi, "eventfd-semaphore", 10, &sem) == -ENOENT)
		pr_warn("eventfd: this kernel does not show EFD_SEMAPHORE; assuming it is off\n");
	field_u64(fi, "eventfd-id", 10, &id);
	e->has_ino = e->has_count = e->has_semaphore = e->has_id = 1;
	e->ino = fi->st.st_ino;
	e->count = count;
	e->semaphore = !!sem;
	e->id = (uint32_t)id;
	fe->eventfd = e;
	return 0;
}

static int eventfd_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	const Ferry__EventfdEntry *e = fe->eventfd;
	if (!e || !e->has_count)
		return fe_msg(err, EBADMSG, "files.img: eventfd file %u lacks its counter", fe->id);
	if (e->count > EVENTFD_MAX)
		return fe_msg(err, EBADMSG, "files.img: eventfd file %u has counter %#llx, above the maximum",
			      fe->id, (unsigned long long)e->count);
	int flags = EFD_CLOEXEC | EFD_NONBLOCK | (e->semaphore ? EFD_SEMAPHORE : 0);
	_cleanup_close_ int fd = eventfd(0, flags);
	if (fd < 0)
		return fe_set(err, errno, "create eventfd");
	/* eventfd(2) takes an unsigned int; a write adds the full 64-bit value. */
	if (e->count && write(fd, &e->count, sizeof(e->count)) != (ssize_t)sizeof(e->count))
		return fe_set(err, errno, "set eventfd counter to %llu", (unsigned long long)e->count);
	if (fcntl(fd, F_SETFL, fe->flags & O_NONBLOCK) < 0)
		return fe_set(err, errno, "set eventfd flags %#o", fe->flags);
	return TAKE_FD(fd);
}

const struct file_ops eventfd_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_EVENTFD, .name = "eventfd",
	.match = eventfd_match, .dump = eventfd_dump, .open = eventfd_open,
};
