/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signalfd: the set of signals it accepts ("sigmask:" in fdinfo) and its flags. The signals
 * themselves are pending on the task and travel with it (task/signals.c), so a signal queued
 * before the dump is read from the restored signalfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#define LOG_PREFIX "signalfd: "
#include "common/log.h"
#include "common/cleanup.h"
#include "files/files.h"

static int signalfd_match(const struct fd_info *fi, const struct dump_opts *o)
{
	return strcmp(fi->link, "anon_inode:[signalfd]") == 0;
}

static int signalfd_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	const char *v = fdinfo_field(fi, "sigmask");
	char *end;
	if (!v)
		return fe_msg(ctx->err, EIO, "signalfd: no sigmask in fdinfo");
	errno = 0;
	uint64_t mask = strtoull(v, &end, 16);
	if (errno || end == v)
		return fe_msg(ctx->err, EIO, "signalfd: unreadable sigmask in fdinfo");
	Ferry__SignalfdEntry *s = ARENA_NEW(&ctx->arena, Ferry__SignalfdEntry);
	if (!s)
		return fe_set(ctx->err, ENOMEM, "signalfd entry");
	ferry__signalfd_entry__init(s);
	s->has_ino = s->has_sigmask = 1;
	s->ino = fi->st.st_ino;
	s->sigmask = mask;
	fe->signalfd = s;
	return 0;
}

static int signalfd_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	const Ferry__SignalfdEntry *s = fe->signalfd;
	sigset_t set;
	if (!s || !s->has_sigmask)
		return fe_msg(err, EBADMSG, "files.img: signalfd file %u lacks its mask", fe->id);
	/* The kernel's layout (bit N-1 is signal N) directly: sigaddset() refuses glibc's own 32 and 33. */
	sigemptyset(&set);
	memcpy(&set, &s->sigmask, sizeof(s->sigmask));
	int flags = SFD_CLOEXEC | ((fe->flags & O_NONBLOCK) ? SFD_NONBLOCK : 0);
	int fd = signalfd(-1, &set, flags);
	if (fd < 0)
		return fe_set(err, errno, "create signalfd for mask %#llx", (unsigned long long)s->sigmask);
	return fd;
}

const struct file_ops signalfd_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_SIGNALFD, .name = "signalfd",
	.match = signalfd_match, .dump = signalfd_dump, .open = signalfd_open,
};
