/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Open namespace files (/proc/PID/ns/NAME, or from a pidfd's PIDFD_GET_*_NAMESPACE). ferry does
 * not restore namespaces yet: the restored tree lives in the restorer's, so a descriptor of a
 * namespace some task of the tree is in is reopened as that task's /proc/PID/ns/NAME once it
 * exists. A namespace no task of the tree is in (a foreign one) is refused until containers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define LOG_PREFIX "nsfd: "
#include "common/log.h"
#include "common/cleanup.h"
#include "files/files.h"

/* /proc/PID/ns entries, with the type name their link shows first ("pid:[…]" for both pid files). */
static const struct {
	const char *type, *name;
} ns_files[] = {
	{ "net", "net" }, { "uts", "uts" }, { "ipc", "ipc" }, { "pid", "pid" }, { "pid", "pid_for_children" },
	{ "user", "user" }, { "mnt", "mnt" }, { "cgroup", "cgroup" }, { "time", "time" },
	{ "time", "time_for_children" },
};

static int link_type(const char *link, size_t *len)
{
	for (size_t i = 0; i < ARRAY_SIZE(ns_files); i++) {
		size_t n = strlen(ns_files[i].type);
		if (strncmp(link, ns_files[i].type, n) == 0 && link[n] == ':' && link[n + 1] == '[') {
			*len = n;
			return 1;
		}
	}
	return 0;
}

static int nsfd_match(const struct fd_info *fi, const struct dump_opts *o)
{
	size_t n;
	return link_type(fi->link, &n);
}

static int nsfd_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	size_t n;
	link_type(fi->link, &n);
	for (size_t k = 0; k < ctx->ntasks; k++) {
		if (ctx->tasks[k].zombie)
			continue;
		for (size_t i = 0; i < ARRAY_SIZE(ns_files); i++) {
			char path[96];
			struct stat st;
			if (strncmp(ns_files[i].type, fi->link, n) != 0 || ns_files[i].type[n])
				continue;
			snprintf(path, sizeof(path), "/proc/%d/ns/%s", ctx->tasks[k].pid, ns_files[i].name);
			if (stat(path, &st) < 0 || st.st_ino != fi->st.st_ino || st.st_dev != fi->st.st_dev)
				continue;
			Ferry__NsfdEntry *e = ARENA_NEW(&ctx->arena, Ferry__NsfdEntry);
			if (!e)
				return fe_set(ctx->err, ENOMEM, "namespace entry");
			ferry__nsfd_entry__init(e);
			e->name = (char *)ns_files[i].name;
			e->pid = ctx->tasks[k].pid;
			e->has_ino = 1;
			e->ino = fi->st.st_ino;
			fe->nsfd = e;
			pr_debug("pid %d fd %d: %s, the %s namespace of pid %d\n", t->pid, fi->fd, fi->link, e->name, e->pid);
			return 0;
		}
	}
	return fe_msg(ctx->err, EOPNOTSUPP, "a namespace no task of the dumped tree is in: foreign namespaces "
		      "cannot be restored yet");
}

static int nsfd_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	const Ferry__NsfdEntry *e = fe->nsfd;
	int known = 0;
	for (size_t i = 0; e && i < ARRAY_SIZE(ns_files); i++)
		known |= strcmp(e->name, ns_files[i].name) == 0;
	if (!known || !files_task(ctx, e->pid))
		return fe_msg(err, EBADMSG, "files.img: namespace file %u is malformed", fe->id);
	char path[96];
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", e->pid, e->name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? fe_set(err, errno, "open %s", path) : fd;
}

const struct file_ops nsfd_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_NSFD, .name = "namespace", .phase = FILE_OPEN_LATE,
	.match = nsfd_match, .dump = nsfd_dump, .open = nsfd_open,
};
