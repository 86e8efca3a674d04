/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pseudo-terminal pairs inside the tree: a /dev/ptmx master held by some task of the tree, and
 * descriptions of its /dev/pts/N slave. The pair's state travels in the master's entry: the
 * slave's termios, window size, packet mode, lock, the bytes queued in both directions, and the
 * session that has it as controlling terminal with its foreground group. Restore opens a new
 * /dev/ptmx (the pts number changes), refills and configures it in ferry; slaves are opened with
 * TIOCGPTPEER; the session leader takes the slave as controlling terminal by injection.
 * A slave whose master is outside the tree is the caller's terminal: chr.c (--shell-job).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>
#define LOG_PREFIX "tty: "
#include "common/log.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "files/files.h"

#define PTY_MAX_DATA (1u << 20)
#define KEY_MASTER(i) ((0x54ULL << 56) | (uint64_t)(i))
#define KEY_SLAVE(i) ((0x55ULL << 56) | (uint64_t)(i))

static int is_ptmx(dev_t rdev)
{
	return major(rdev) == 5 && minor(rdev) == 2;
}

static int is_pts(dev_t rdev)
{
	return major(rdev) >= 136 && major(rdev) <= 143;
}

static int pts_index(dev_t rdev)
{
	return (int)((major(rdev) - 136) * 256 + minor(rdev));
}

static dev_t pts_rdev(int index)
{
	return makedev(136 + index / 256, index % 256);
}

static int pty_match(const struct fd_info *fi, const struct dump_opts *o)
{
	return S_ISCHR(fi->st.st_mode) && (is_ptmx(fi->st.st_rdev) || is_pts(fi->st.st_rdev));
}

/* ---------------------------------------------------------------- dump */

/* The pts index of a master fd of pid (-1 if fd is no pty master). */
static int master_index(pid_t pid, const char *fd)
{
	char path[320];
	_cleanup_free_ char *text = NULL;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", pid, fd);
	if (read_file(path, &text, NULL) < 0)
		return -1;
	const char *v = proc_field(text, "tty-index");
	return v ? atoi(v) : -1;
}

/* Whether pid holds the master (want_master) or a slave of pts index. */
static int task_holds(pid_t pid, int index, int want_master)
{
	char path[320];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	_cleanup_closedir_ DIR *d = opendir(path);
	for (struct dirent *de; d && (de = readdir(d));) {
		snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, de->d_name);
		if (de->d_name[0] == '.' || stat(path, &st) < 0 || !S_ISCHR(st.st_mode))
			continue;
		if (want_master ? is_ptmx(st.st_rdev) && master_index(pid, de->d_name) == index
				: st.st_rdev == pts_rdev(index))
			return 1;
	}
	return 0;
}

static int tree_holds(struct dump_ctx *ctx, int index, int want_master)
{
	for (size_t k = 0; k < ctx->ntasks; k++)
		if (!ctx->tasks[k].zombie && task_holds(ctx->tasks[k].pid, index, want_master))
			return 1;
	return 0;
}

/* The session inside the tree whose controlling terminal is pts index, with its foreground group. */
static int dump_ctty(struct dump_ctx *ctx, int index, Ferry__PtyEntry *p)
{
	for (size_t k = 0; k < ctx->ntasks; k++) {
		char path[64];
		_cleanup_free_ char *text = NULL;
		pid_t pid = ctx->tasks[k].pid;
		int ppid, pgrp, sid, tty_nr, tpgid;
		char state;
		if (ctx->tasks[k].zombie || read_file(PROC_PATH(path, pid, "stat"), &text, NULL) < 0)
			continue;
		const char *s = strrchr(text, ')');
		if (!s || sscanf(s + 2, "%c %d %d %d %d %d", &state, &ppid, &pgrp, &sid, &tty_nr, &tpgid) != 6)
			continue;
		if (sid != pid || (dev_t)(unsigned)tty_nr != pts_rdev(index))
			continue;
		if (!task_holds(pid, index, 0))
			return fe_msg(ctx->err, EOPNOTSUPP, "pid %d: its controlling terminal /dev/pts/%d is open in none "
				      "of its descriptors, which is not supported", pid, index);
		p->has_ctty_sid = p->has_fg_pgrp = 1;
		p->ctty_sid = pid;
		p->fg_pgrp = tpgid > 0 ? tpgid : pgrp;
		pr_debug("pts %d: controlling terminal of session %d, foreground group %d\n", index, pid, p->fg_pgrp);
	}
	return 0;
}

/* Reads what is readable on fd now (poll also pushes pending input to the line discipline). */
static int drain(int fd, uint8_t *buf, size_t cap, size_t *len)
{
	*len = 0;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & POLLIN))
			return 0;
		if (*len == cap)
			return -EFBIG;
		ssize_t n = read(fd, buf + *len, cap - *len);
		if (n < 0)
			return errno == EAGAIN || errno == EIO ? 0 : -errno;
		if (n == 0)
			return 0;
		*len += n;
	}
}

/* Writes all of buf to a non-blocking fd, waiting a little for room. */
static int push_all(int fd, const uint8_t *buf, size_t len)
{
	for (int tries = 0; len && tries < 200;) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno != EAGAIN)
			return -errno;
		if (n > 0) {
			buf += n;
			len -= n;
		} else {
			usleep(5000);
			tries++;
		}
	}
	return len ? -EAGAIN : 0;
}

static int inq(int fd)
{
	int n = 0;
	return ioctl(fd, FIONREAD, &n) < 0 ? -1 : n;
}

/*
 * Whether bytes can be queued again to a canonical-mode slave through canonical processing, which
 * keeps line boundaries (and a trailing partial line partial): none of them may be a character the
 * line discipline would act on again.
 */
static int canon_refill(const struct termios *t, const ProtobufCBinaryData *d)
{
	static const int special[] = { VERASE, VKILL, VEOF, VEOL, VEOL2, VWERASE, VREPRINT, VLNEXT };
	if (!(t->c_lflag & ICANON))
		return 0;
	for (size_t i = 0; i < d->len; i++) {
		if (!d->data[i])
			return 0;
		for (size_t k = 0; k < ARRAY_SIZE(special); k++)
			if (d->data[i] == t->c_cc[special[k]])
				return 0;
	}
	return 1;
}

/*
 * Queues to_slave (as if typed at the master) and to_master (as if written by the slave) with the
 * slave's termios made raw meanwhile, so nothing is echoed or translated twice, then puts back
 * final. m and s must be non-blocking.
 */
static int refill(int m, int s, const struct termios *final, const ProtobufCBinaryData *to_slave,
		  const ProtobufCBinaryData *to_master)
{
	struct termios raw = *final;
	raw.c_iflag = 0;
	raw.c_oflag &= ~OPOST;
	int canon = canon_refill(final, to_slave);
	raw.c_lflag = canon ? ICANON : 0;	/* else a partial line becomes readable */
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	if ((to_slave->len || to_master->len) && tcsetattr(s, TCSANOW, &raw) < 0)
		return -errno;
	int r = push_all(m, to_slave->data, to_slave->len);
	if (r == 0)
		r = push_all(s, to_master->data, to_master->len);
	for (int i = 0; r == 0 && i < 200; i++) {	/* let the line disciplines take the bytes in */
		struct pollfd p[2] = { { .fd = s, .events = POLLIN }, { .fd = m, .events = POLLIN } };
		poll(p, 2, 0);
		if ((canon || inq(s) >= (int)to_slave->len) && inq(m) >= (int)to_master->len)	/* poll flushed */
			break;
		usleep(5000);
	}
	if (tcsetattr(s, TCSANOW, final) < 0 && r == 0)
		r = -errno;
	return r;
}

/* Reads both queues of the pair (m: ferry's master copy, s: a slave of ferry's), then puts them back. */
static int dump_queues(struct dump_ctx *ctx, int m, int s, Ferry__PtyEntry *p)
{
	size_t cap = 256 << 10, nin = 0, nout = 0;
	uint8_t *in = arena_alloc(&ctx->arena, cap), *out = arena_alloc(&ctx->arena, cap);
	struct termios t0, t1;
	int pkt = 0, r;
	if (!in || !out)
		return -ENOMEM;
	if (tcgetattr(s, &t0) < 0)
		return -errno;
	t1 = t0;
	t1.c_lflag &= ~ICANON;	/* a partial canonical line is readable too */
	t1.c_cc[VMIN] = 1;
	t1.c_cc[VTIME] = 0;
	if (tcsetattr(s, TCSANOW, &t1) < 0)
		return -errno;
	if (ioctl(m, TIOCGPKT, &pkt) == 0 && pkt)
		ioctl(m, TIOCPKT, &(int){ 0 });	/* no status bytes in what is read */
	r = drain(s, in, cap, &nin);
	if (r == 0)
		r = drain(m, out, cap, &nout);
	p->has_to_slave = p->has_to_master = 1;
	p->to_slave = (ProtobufCBinaryData){ nin, in };
	p->to_master = (ProtobufCBinaryData){ nout, out };
	/* the task keeps its bytes (-R, failure); refill also puts t0 back */
	int r2 = refill(m, s, &t0, &p->to_slave, &p->to_master);
	if (pkt)
		ioctl(m, TIOCPKT, &pkt);
	pr_debug("pts %u: %zu bytes queued to the slave, %zu to the master\n", p->index, nin, nout);
	return r < 0 ? r : r2;
}

static int dump_settings(struct dump_ctx *ctx, int m, Ferry__PtyEntry *p)
{
	struct termios tio;
	struct winsize ws;
	int pkt = 0, lck = 0;
	if (tcgetattr(m, &tio) < 0 || ioctl(m, TIOCGWINSZ, &ws) < 0 || ioctl(m, TIOCGPKT, &pkt) < 0 ||
	    ioctl(m, TIOCGPTLCK, &lck) < 0)
		return -errno;
	Ferry__PtyTermios *t = ARENA_NEW(&ctx->arena, Ferry__PtyTermios);
	Ferry__PtyWinsize *w = ARENA_NEW(&ctx->arena, Ferry__PtyWinsize);
	uint8_t *cc = arena_memdup(&ctx->arena, tio.c_cc, NCCS);
	if (!t || !w || !cc)
		return -ENOMEM;
	ferry__pty_termios__init(t);
	*t = (Ferry__PtyTermios){ .base = t->base, .iflag = tio.c_iflag, .oflag = tio.c_oflag, .cflag = tio.c_cflag,
		.lflag = tio.c_lflag, .has_line = 1, .line = tio.c_line, .has_cc = 1, .cc = { NCCS, cc },
		.has_ispeed = 1, .ispeed = tio.c_ispeed, .has_ospeed = 1, .ospeed = tio.c_ospeed };
	ferry__pty_winsize__init(w);
	*w = (Ferry__PtyWinsize){ .base = w->base, .rows = ws.ws_row, .cols = ws.ws_col,
		.has_xpixel = 1, .xpixel = ws.ws_xpixel, .has_ypixel = 1, .ypixel = ws.ws_ypixel };
	p->termios = t;
	p->winsize = w;
	p->has_packet = p->has_locked = 1;
	p->packet = !!pkt;
	p->locked = !!lck;
	return 0;
}

/* The queues, through a slave of ferry's own (opened even if the pair is locked). */
static int dump_master_queues(struct dump_ctx *ctx, int m, Ferry__PtyEntry *p)
{
	if (p->locked)
		ioctl(m, TIOCSPTLCK, &(int){ 0 });
	int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC), e = errno;
	if (p->locked)
		ioctl(m, TIOCSPTLCK, &(int){ 1 });
	if (s < 0)
		return fe_set(ctx->err, e, "open the slave of pts %u to read its queue", p->index);
	int fl = fcntl(m, F_GETFL);
	fcntl(m, F_SETFL, fl | O_NONBLOCK);	/* the task is stopped: it does not see this */
	int r = dump_queues(ctx, m, s, p);
	fcntl(m, F_SETFL, fl);
	close(s);
	return r < 0 ? fe_set(ctx->err, -r, "the queued bytes of pts %u", p->index) : 0;
}

static int dump_master(struct dump_ctx *ctx, const struct fd_info *fi, Ferry__PtyEntry *p)
{
	int r = dump_settings(ctx, fi->stolen, p);
	if (r < 0)
		return fe_set(ctx->err, -r, "read the state of pts %u", p->index);
	if ((r = dump_ctty(ctx, p->index, p)) < 0)
		return r;
	if (!tree_holds(ctx, p->index, 0))
		return 0;	/* no slave open in the tree: its input queue is not read */
	return dump_master_queues(ctx, fi->stolen, p);
}

static int pty_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	int master = is_ptmx(fi->st.st_rdev);
	const char *v = fdinfo_field(fi, "tty-index");
	int index = !master ? pts_index(fi->st.st_rdev) : v ? atoi(v) : -1;
	if (index < 0)
		return fe_msg(ctx->err, EIO, "%s: no tty-index in its fdinfo", fi->link);
	if (!master && !tree_holds(ctx, index, 1)) {
		fe->kind = FERRY__FILE_KIND__FILE_TTY;	/* the caller's terminal: --shell-job's */
		return tty_file_ops.dump(ctx, t, fi, fe);
	}
	Ferry__PtyEntry *p = ARENA_NEW(&ctx->arena, Ferry__PtyEntry);
	if (!p)
		return fe_set(ctx->err, ENOMEM, "pty entry");
	ferry__pty_entry__init(p);
	p->index = index;
	p->master = master;
	fe->pty = p;
	fe->path = arena_strdup(&ctx->arena, fi->link);
	fe->has_rdev = 1;
	fe->rdev = fi->st.st_rdev;
	return master ? dump_master(ctx, fi, p) : 0;
}

/* ---------------------------------------------------------------- restore */

/* The master entry of pts index in the image, or NULL. */
static const Ferry__FileEntry *master_entry(const Ferry__Files *files, uint32_t index)
{
	for (size_t i = 0; i < files->n_files; i++) {
		const Ferry__FileEntry *f = files->files[i];
		if (f->kind == FERRY__FILE_KIND__FILE_PTY && f->pty && f->pty->master && f->pty->index == index)
			return f;
	}
	return NULL;
}

static void get_termios(const Ferry__PtyTermios *t, struct termios *tio)
{
	tio->c_iflag = t->iflag;
	tio->c_oflag = t->oflag;
	tio->c_cflag = t->cflag;
	tio->c_lflag = t->lflag;
	if (t->has_line)
		tio->c_line = t->line;
	if (t->has_cc)
		memcpy(tio->c_cc, t->cc.data, t->cc.len < NCCS ? t->cc.len : NCCS);
	if (t->has_ispeed)
		tio->c_ispeed = t->ispeed;
	if (t->has_ospeed)
		tio->c_ospeed = t->ospeed;
}

/* Window size and packet mode (the lock comes last, by injection: slaves must open first). */
static int configure(int m, const Ferry__PtyEntry *p)
{
	if (p->winsize) {
		struct winsize ws = { p->winsize->rows, p->winsize->cols, p->winsize->xpixel, p->winsize->ypixel };
		if (ioctl(m, TIOCSWINSZ, &ws) < 0)
			return -errno;
	}
	if (p->packet && ioctl(m, TIOCPKT, &(int){ 1 }) < 0)
		return -errno;
	return 0;
}

/* A new pair for master entry me: open /dev/ptmx, refill, configure; both ends go to the stash. */
static int pair_create(struct restore_ctx *ctx, const Ferry__FileEntry *me, struct ferry_err *err)
{
	const Ferry__PtyEntry *p = me->pty;
	static const ProtobufCBinaryData none = { 0, NULL };
	struct termios tio;
	int n = -1, r;
	if ((p->has_to_slave && p->to_slave.len > PTY_MAX_DATA) || (p->has_to_master && p->to_master.len > PTY_MAX_DATA))
		return fe_msg(err, EBADMSG, "files.img: pts %u carries too many queued bytes", p->index);
	_cleanup_close_ int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (m < 0)
		return fe_set(err, errno, "open /dev/ptmx for pts %u", p->index);
	if (ioctl(m, TIOCSPTLCK, &(int){ 0 }) < 0 || ioctl(m, TIOCGPTN, &n) < 0)
		return fe_set(err, errno, "unlock a new pty for pts %u", p->index);
	_cleanup_close_ int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (s < 0 || tcgetattr(s, &tio) < 0)
		return fe_set(err, errno, "open the slave of the new pty /dev/pts/%d", n);
	if (p->termios)
		get_termios(p->termios, &tio);
	r = refill(m, s, &tio, p->has_to_slave ? &p->to_slave : &none, p->has_to_master ? &p->to_master : &none);
	if (r == 0)
		r = configure(m, p);
	if (r < 0)
		return fe_set(err, -r, "set up /dev/pts/%d as pts %u", n, p->index);
	pr_info("pts %u is restored as /dev/pts/%d (the number changes)\n", p->index, n);
	if ((r = files_stash_put(ctx, KEY_SLAVE(p->index), s)) == 0)
		s = -1;	/* kept until every file is open, so the master never sees its slave closed */
	if (r == 0 && (r = files_stash_put(ctx, KEY_MASTER(p->index), m)) == 0)
		m = -1;
	return r < 0 ? fe_set(err, -r, "pts %u", p->index) : 0;
}

/* ferry's master of the pair (borrowed), or -1 when it is not created yet. */
static int anchor_fd(struct restore_ctx *ctx, const Ferry__FileEntry *me)
{
	int fd = files_master_fd(ctx, me->id);
	if (fd >= 0)
		return fd;
	fd = files_stash_take(ctx, KEY_MASTER(me->pty->index));
	if (fd >= 0 && files_stash_put(ctx, KEY_MASTER(me->pty->index), fd) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static int set_flags(int fd, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	if (fcntl(fd, F_SETFL, fe->flags & (O_NONBLOCK | O_APPEND)) < 0) {
		int e = errno;
		close(fd);
		return fe_set(err, e, "set flags %#o on %s", fe->flags, fe->path ? fe->path : "pty");
	}
	return fd;
}

static int pty_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	const Ferry__PtyEntry *p = fe->pty;
	if (!p)
		return fe_msg(err, EBADMSG, "files.img: pty file %u lacks its pty part", fe->id);
	const Ferry__FileEntry *me = master_entry(ctx->files, p->index);
	if (!me || (p->master && me != fe))
		return fe_msg(err, EBADMSG, "files.img: pts %u has %s master", p->index, me ? "a second" : "no");
	int r, anchor = anchor_fd(ctx, me);
	if (anchor < 0 && (r = pair_create(ctx, me, err)) < 0)
		return r;
	if (p->master) {
		int fd = files_stash_take(ctx, KEY_MASTER(p->index));
		return fd < 0 ? fe_msg(err, EBADF, "pts %u: its master is gone", p->index) : set_flags(fd, fe, err);
	}
	anchor = anchor_fd(ctx, me);
	int fd = ioctl(anchor, TIOCGPTPEER, (fe->flags & O_ACCMODE) | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return fe_set(err, errno, "open the slave of pts %u", p->index);
	return set_flags(fd, fe, err);
}

/* By injection in t: ioctl(fd, req, &val) (val NULL: arg 0); the ioctl's result in *ret. */
static int inj_ioctl(struct restore_ctx *ctx, struct rtask *t, int fd, unsigned long req, const int *val, long *ret)
{
	struct injector *inj = &t->threads[0].inj;
	uint64_t at = val ? inj_scratch_put(inj, 0, val, sizeof(*val)) : 0;
	return inj_syscall(inj, ret, SYS_ioctl, (const unsigned long[6]){ fd, req, at }, ctx->err);
}

/* The session leader takes the slave as its controlling terminal, then its foreground group. */
static int restore_ctty(struct restore_ctx *ctx, struct rtask *t, const Ferry__FdEntry *e, const Ferry__PtyEntry *mp)
{
	long ret;
	int r = inj_ioctl(ctx, t, e->fd, TIOCSCTTY, NULL, &ret);
	if (r < 0)
		return r;
	if (ret < 0)
		return fe_set(ctx->err, (int)-ret, "pid %d: make fd %d (pts %u) its controlling terminal", t->pid, e->fd,
			      mp->index);
	if (!mp->has_fg_pgrp || (r = inj_ioctl(ctx, t, e->fd, TIOCSPGRP, &mp->fg_pgrp, &ret)) < 0)
		return r;
	if (ret < 0)
		pr_warn("pid %d: pts %u: cannot make group %d the foreground: %s\n", t->pid, mp->index, mp->fg_pgrp,
			strerror((int)-ret));
	return 0;
}

static int pty_install(struct restore_ctx *ctx, struct rtask *t, const Ferry__FdEntry *e, const Ferry__FileEntry *fe)
{
	const Ferry__FileEntry *me = master_entry(ctx->files, fe->pty->index);
	long ret;
	if (fe->pty->master && fe->pty->locked) {
		int r = inj_ioctl(ctx, t, e->fd, TIOCSPTLCK, &(int){ 1 }, &ret);
		if (r < 0 || ret < 0)
			return r < 0 ? r : fe_set(ctx->err, (int)-ret, "pid %d: lock pty master fd %d", t->pid, e->fd);
	}
	if (!fe->pty->master && me && me->pty->has_ctty_sid && me->pty->ctty_sid == t->pid)
		return restore_ctty(ctx, t, e, me->pty);
	return 0;
}

const struct file_ops pty_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_PTY, .name = "pty",
	.match = pty_match, .dump = pty_dump, .open = pty_open, .install = pty_install,
};
