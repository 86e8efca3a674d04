/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Controlling terminals. A process's controlling terminal is its own (tty_nr in /proc/PID/stat),
 * held in no descriptor; it is acquired by a session leader and inherited by every child forked
 * after that. So restore gives a session leader its terminal right after the leader exists, before
 * its children are forked from it (they inherit it as they did); later, once process groups
 * exist, the leader sets the terminal's foreground group, and a member that had given up the
 * terminal (TIOCNOTTY) gives it up again. The terminal is a pty pair of the tree (ferry keeps one
 * of its slaves for this) or a terminal reopened by path (a vt, a serial line). A terminal outside
 * the tree (the caller's) is --shell-job's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#define LOG_PREFIX "ctty: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "files/files.h"
#include "files/tty.h"

/* tty_nr and tpgid of /proc/PID/stat. */
int tty_read_ctty(pid_t pid, dev_t *tty, int *tpgid)
{
	char path[64];
	_cleanup_free_ char *text = NULL;
	int r = read_file(PROC_PATH(path, pid, "stat"), &text, NULL);
	if (r < 0)
		return r;
	const char *s = strrchr(text, ')');
	int ppid, pgrp, sid, nr;
	char state;
	if (!s || sscanf(s + 2, "%c %d %d %d %d %d", &state, &ppid, &pgrp, &sid, &nr, tpgid) != 6)
		return -EIO;
	*tty = (dev_t)(unsigned)nr;
	return 0;
}

struct dev_search {
	dev_t rdev;
	char *link;
};

static int opened_dev(pid_t pid, int fd, const char *path, const struct stat *st, void *arg)
{
	struct dev_search *s = arg;
	char *link = NULL;
	if (!S_ISCHR(st->st_mode) || st->st_rdev != s->rdev || read_link(path, &link) < 0)
		return 0;
	if (link[0] == '/' && !strstr(link, " (deleted)")) {
		s->link = link;
		return 1;
	}
	free(link);
	return 0;
}

/* A path of character device rdev: a descriptor of the tree that opened it, or a /dev node. */
static int tty_path(struct dump_ctx *ctx, dev_t rdev, char **out)
{
	char path[64];
	struct stat st;
	struct dev_search s = { rdev, NULL };
	if (files_tree_walk(ctx, opened_dev, &s)) {
		*out = arena_strdup(&ctx->arena, s.link);
		free(s.link);
		return *out ? 0 : -ENOMEM;
	}
	unsigned maj = major(rdev), min = minor(rdev);
	if (maj == 4)
		snprintf(path, sizeof(path), min < 64 ? "/dev/tty%u" : "/dev/ttyS%u", min < 64 ? min : min - 64);
	if (maj != 4 || stat(path, &st) < 0 || st.st_rdev != rdev)
		return -ENOENT;
	*out = arena_strdup(&ctx->arena, path);
	return *out ? 0 : -ENOMEM;
}

static int pgrp_in_tree(const struct dump_ctx *ctx, pid_t pgid)
{
	for (size_t k = 0; k < ctx->ntasks; k++)
		if (ctx->tasks[k].pstree->pgid == pgid)
			return 1;
	return 0;
}

/* A session leader's terminal: a pty of the tree, or one reopened by path. */
static int dump_leader(struct dump_ctx *ctx, struct dtask *t, dev_t tty, int tpgid)
{
	Ferry__FdTable *f = t->fds;
	if (tty_is_pts(tty) && !tty_tree_holds(ctx, tty_pts_index(tty), 1)) {
		if (ctx->opts->shell_job)
			return 0;	/* the caller's terminal */
		return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: its controlling terminal /dev/pts/%d is a terminal "
			      "outside the tree: dump with --shell-job", t->pid, tty_pts_index(tty));
	}
	if (!tty_is_pts(tty)) {
		int r = tty_path(ctx, tty, &f->ctty_path);
		if (r < 0)
			return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: its controlling terminal (%u:%u) has no path to "
				      "reopen it by", t->pid, major(tty), minor(tty));
	}
	f->has_ctty_rdev = 1;
	f->ctty_rdev = tty;
	if (tpgid > 0 && pgrp_in_tree(ctx, tpgid)) {
		f->has_ctty_fg_pgrp = 1;
		f->ctty_fg_pgrp = tpgid;
	} else if (tpgid > 0) {
		pr_warn("pid %d: the foreground group %d of its terminal is not in the tree; its own group will be\n",
			t->pid, tpgid);
	}
	pr_debug("pid %d: controlling terminal %u:%u%s%s, foreground group %d\n", t->pid, major(tty), minor(tty),
		 f->ctty_path ? " at " : "", f->ctty_path ? f->ctty_path : "", tpgid);
	return 0;
}

int tty_dump_ctty(struct dump_ctx *ctx, struct dtask *t)
{
	dev_t tty;
	int tpgid, r = tty_read_ctty(t->pid, &tty, &tpgid);
	if (r < 0)
		return fe_set(ctx->err, -r, "pid %d: read its controlling terminal", t->pid);
	pid_t sid = t->pstree->sid;
	if (sid == t->pid)
		return tty ? dump_leader(ctx, t, tty, tpgid) : 0;
	t->fds->has_ctty_rdev = 1;	/* a member: inherits its leader's terminal, or gave it up */
	t->fds->ctty_rdev = tty;
	if (tty && tty_is_pts(tty) && tty_tree_holds(ctx, tty_pts_index(tty), 1) && !files_in_tree(ctx, sid, 0))
		return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: its controlling terminal /dev/pts/%d belongs to session %d, "
			      "whose leader is not in the dumped tree", t->pid, tty_pts_index(tty), sid);
	return 0;
}

/* ---------------------------------------------------------------- restore */

int tty_is_ctty(const struct restore_ctx *ctx, uint32_t index)
{
	for (size_t k = 0; k < ctx->ntasks; k++) {
		const struct rtask *t = &ctx->tasks[k];
		if (!t->zombie && t->fds && t->pstree->sid == t->pid && t->fds->has_ctty_rdev &&
		    t->fds->ctty_rdev == tty_pts_rdev(index))
			return 1;
	}
	return 0;
}

/*
 * A descriptor of leader l's terminal in t (*remote), by fetching ferry's slave or opening the
 * path; 1 when l's terminal is not one ferry restores.
 */
static int ctty_fd(struct restore_ctx *ctx, struct rtask *t, const struct rtask *l, long *remote)
{
	const Ferry__FdTable *f = l->fds;
	struct injector *inj = &t->threads[0].inj;
	if (tty_is_pts(f->ctty_rdev)) {
		int s = tty_ctty_slave(ctx, tty_pts_index(f->ctty_rdev));
		if (s < 0)
			return tty_master_entry(ctx->files, tty_pts_index(f->ctty_rdev)) ?
			       fe_msg(ctx->err, EBADF, "pts %d: no slave kept", tty_pts_index(f->ctty_rdev)) : 1;
		return files_fetch(ctx, inj, s, remote);
	}
	if (!f->ctty_path)
		return 1;
	size_t len = strlen(f->ctty_path) + 1;
	uint64_t at = len < 1024 ? inj_scratch_put(inj, 1024, f->ctty_path, len) : 0;
	if (!at)
		return fe_msg(ctx->err, ENAMETOOLONG, "terminal path %s", f->ctty_path);
	int r = RINJ(ctx, inj, remote, "open the terminal", SYS_open, at, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	return r < 0 ? fe_wrap(ctx->err, r, "%s", f->ctty_path) : 0;
}

/* ioctl(fd of l's terminal, req, arg) in t; *val (if val) is put in t's memory first. */
static int ctty_ioctl(struct restore_ctx *ctx, struct rtask *t, const struct rtask *l, unsigned long req,
		      const char *what, const int *val)
{
	struct injector *inj = &t->threads[0].inj;
	long fd, ret;
	int r = ctty_fd(ctx, t, l, &fd);
	if (r != 0)
		return r < 0 ? r : 0;
	uint64_t at = val ? inj_scratch_put(inj, 0, val, sizeof(*val)) : 0;
	r = RINJ(ctx, inj, &ret, what, SYS_ioctl, fd, req, at);
	RINJ(ctx, inj, &ret, "close", SYS_close, fd);
	return r;
}

static int leads_with_tty(const struct rtask *t)
{
	return t->fds && t->pstree->sid == t->pid && t->fds->has_ctty_rdev && t->fds->ctty_rdev;
}

int tty_restore_ctty(struct restore_ctx *ctx, struct rtask *t)
{
	if (!leads_with_tty(t))
		return 0;
	int r = ctty_ioctl(ctx, t, t, TIOCSCTTY, "take its controlling terminal (TIOCSCTTY)", NULL);
	return r < 0 ? fe_wrap(ctx->err, r, "pid %d", t->pid) : 0;
}

int tty_restore_ctty_late(struct restore_ctx *ctx, struct rtask *t)
{
	int r = 0;
	if (leads_with_tty(t) && t->fds->has_ctty_fg_pgrp && t->fds->ctty_fg_pgrp != t->pstree->pgid)
		r = ctty_ioctl(ctx, t, t, TIOCSPGRP, "set the foreground group (TIOCSPGRP)", &t->fds->ctty_fg_pgrp);
	const struct rtask *l = t->pstree->sid != t->pid ? files_task(ctx, t->pstree->sid) : NULL;
	/* a member forked after its leader took the terminal had it; one without it gave it up */
	if (r == 0 && l && !l->zombie && leads_with_tty(l) && t->fds->has_ctty_rdev && !t->fds->ctty_rdev)
		r = ctty_ioctl(ctx, t, l, TIOCNOTTY, "give up the controlling terminal (TIOCNOTTY)", NULL);
	return r < 0 ? fe_wrap(ctx->err, r, "pid %d", t->pid) : 0;
}
