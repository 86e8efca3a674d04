/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pseudo-terminal pairs inside the tree: a /dev/ptmx master held by some task of the tree, and
 * descriptions of its /dev/pts/N slave. The pair's state travels in the master's entry: the
 * slave's termios, locked termios, window size, line discipline, packet mode, lock, exclusive
 * modes, stopped output, the owner and mode of /dev/pts/N, whether every slave was closed, and
 * the bytes queued in both directions. Restore opens a new /dev/ptmx (the pts number changes),
 * refills and configures it in ferry; slaves are opened with TIOCGPTPEER. A slave whose master was
 * closed ("/dev/pts/N (deleted)", hung up) is the slave of a new pair whose master is closed at
 * once. Controlling terminals are ctty.c's. A slave whose master is outside the tree is the
 * caller's terminal: chr.c (--shell-job).
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
#include "files/tty.h"

#define PTY_MAX_DATA (1u << 20)
#define KEY_MASTER(i) ((0x54ULL << 56) | (uint64_t)(i))
#define KEY_SLAVE(i) ((0x55ULL << 56) | (uint64_t)(i))
#define KEY_HUNG(id) ((0x56ULL << 56) | (uint64_t)(id))
#define KEY_CTTY(i) ((0x57ULL << 56) | (uint64_t)(i))

#define is_ptmx tty_is_ptmx
#define is_pts tty_is_pts
#define pts_index tty_pts_index
#define pts_rdev tty_pts_rdev

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

int tty_tree_holds(struct dump_ctx *ctx, int index, int want_master)
{
	for (size_t k = 0; k < ctx->ntasks; k++)
		if (!ctx->tasks[k].zombie && task_holds(ctx->tasks[k].pid, index, want_master))
			return 1;
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

static int can_write(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLOUT);
}

/*
 * Reads both queues of the pair (m: ferry's master copy, s: a slave of ferry's), then puts them
 * back. Output the slave cannot write once the master's queue is empty is stopped output.
 */
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
	p->has_to_slave = p->has_to_master = p->has_stopped = 1;
	p->to_slave = (ProtobufCBinaryData){ nin, in };
	p->to_master = (ProtobufCBinaryData){ nout, out };
	p->stopped = !can_write(s);
	if (p->stopped)
		tcflow(s, TCOON);	/* to put the slave's bytes back */
	/* the task keeps its bytes (-R, failure); refill also puts t0 back */
	int r2 = refill(m, s, &t0, &p->to_slave, &p->to_master);
	if (p->stopped)
		tcflow(s, TCOOFF);
	if (pkt)
		ioctl(m, TIOCPKT, &pkt);
	pr_debug("pts %u: %zu bytes queued to the slave, %zu to the master%s\n", p->index, nin, nout,
		 p->stopped ? ", output stopped" : "");
	return r < 0 ? r : r2;
}

static Ferry__PtyTermios *termios_entry(struct dump_ctx *ctx, const struct termios *tio)
{
	Ferry__PtyTermios *t = ARENA_NEW(&ctx->arena, Ferry__PtyTermios);
	uint8_t *cc = arena_memdup(&ctx->arena, tio->c_cc, NCCS);
	if (!t || !cc)
		return NULL;
	ferry__pty_termios__init(t);
	*t = (Ferry__PtyTermios){ .base = t->base, .iflag = tio->c_iflag, .oflag = tio->c_oflag, .cflag = tio->c_cflag,
		.lflag = tio->c_lflag, .has_line = 1, .line = tio->c_line, .has_cc = 1, .cc = { NCCS, cc },
		.has_ispeed = 1, .ispeed = tio->c_ispeed, .has_ospeed = 1, .ospeed = tio->c_ospeed };
	return t;
}

/* Through the master (termios ioctls on a master act on its slave), and /dev/pts/N's inode. */
static int dump_settings(struct dump_ctx *ctx, int m, Ferry__PtyEntry *p)
{
	struct termios tio, lck_tio;
	struct winsize ws;
	struct stat st;
	char path[64];
	int pkt = 0, lck = 0, excl = 0;
	if (tcgetattr(m, &tio) < 0 || ioctl(m, TIOCGWINSZ, &ws) < 0 || ioctl(m, TIOCGPKT, &pkt) < 0 ||
	    ioctl(m, TIOCGPTLCK, &lck) < 0 || ioctl(m, TIOCGLCKTRMIOS, &lck_tio) < 0 || ioctl(m, TIOCGEXCL, &excl) < 0)
		return -errno;
	Ferry__PtyWinsize *w = ARENA_NEW(&ctx->arena, Ferry__PtyWinsize);
	p->termios = termios_entry(ctx, &tio);
	p->locked_termios = termios_entry(ctx, &lck_tio);
	if (!p->termios || !p->locked_termios || !w)
		return -ENOMEM;
	ferry__pty_winsize__init(w);
	*w = (Ferry__PtyWinsize){ .base = w->base, .rows = ws.ws_row, .cols = ws.ws_col,
		.has_xpixel = 1, .xpixel = ws.ws_xpixel, .has_ypixel = 1, .ypixel = ws.ws_ypixel };
	p->winsize = w;
	p->has_packet = p->has_locked = p->has_master_excl = 1;
	p->packet = !!pkt;
	p->locked = !!lck;
	p->master_excl = !!excl;
	snprintf(path, sizeof(path), "/dev/pts/%u", p->index);
	if (stat(path, &st) == 0 && st.st_rdev == pts_rdev(p->index)) {
		p->has_slave_uid = p->has_slave_gid = p->has_slave_mode = 1;
		p->slave_uid = st.st_uid;
		p->slave_gid = st.st_gid;
		p->slave_mode = st.st_mode & 07777;
	}
	return 0;
}

/* The queues and the slave's own flags, through a slave of ferry's (opened even if locked or exclusive). */
static int dump_master_queues(struct dump_ctx *ctx, int m, Ferry__PtyEntry *p)
{
	if (p->locked)
		ioctl(m, TIOCSPTLCK, &(int){ 0 });
	int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC), e = errno;
	if (p->locked)
		ioctl(m, TIOCSPTLCK, &(int){ 1 });
	if (s < 0)
		return fe_set(ctx->err, e, "open the slave of pts %u to read its queue", p->index);
	int excl = 0, ld = 0, r;
	if (ioctl(s, TIOCGEXCL, &excl) < 0 || ioctl(s, TIOCGETD, &ld) < 0) {
		r = -errno;
		close(s);
		return fe_set(ctx->err, -r, "the flags of pts %u", p->index);
	}
	p->has_slave_excl = p->has_ldisc = 1;
	p->slave_excl = !!excl;
	p->ldisc = ld;
	if (ld != 0) {	/* another line discipline consumes what comes in: no queue to read back */
		close(s);
		return 0;
	}
	int fl = fcntl(m, F_GETFL);
	fcntl(m, F_SETFL, fl | O_NONBLOCK);	/* the task is stopped: it does not see this */
	r = dump_queues(ctx, m, s, p);
	fcntl(m, F_SETFL, fl);
	close(s);
	return r < 0 ? fe_set(ctx->err, -r, "the queued bytes of pts %u", p->index) : 0;
}

/* Every slave was closed after one was opened: the master reads EIO and polls POLLHUP. */
static int slaves_closed(int m)
{
	struct pollfd pfd = { .fd = m, .events = POLLIN };
	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP);
}

static int dump_master(struct dump_ctx *ctx, const struct fd_info *fi, Ferry__PtyEntry *p)
{
	p->has_other_closed = 1;
	p->other_closed = slaves_closed(fi->stolen);	/* before ferry opens a slave of its own */
	int r = dump_settings(ctx, fi->stolen, p);
	if (r < 0)
		return fe_set(ctx->err, -r, "read the state of pts %u", p->index);
	/*
	 * With no slave open, opening one to look would change what the master sees (POLLHUP, EIO
	 * once it closes) — unless every slave was closed already.
	 */
	if (!p->other_closed && !tty_tree_holds(ctx, p->index, 0))
		return 0;
	return dump_master_queues(ctx, fi->stolen, p);
}

/* A slave whose master was closed: hung up, its /dev/pts node gone. */
static int dump_hung_slave(struct dump_ctx *ctx, const struct fd_info *fi, Ferry__FileEntry *fe, Ferry__PtyEntry *p)
{
	const char *del = strstr(fi->link, " (deleted)");
	size_t len = del ? (size_t)(del - fi->link) : strlen(fi->link);
	fe->path = arena_memdup(&ctx->arena, fi->link, len + 1);
	if (fe->path)
		fe->path[len] = 0;
	p->has_hung_up = 1;
	p->hung_up = 1;
	return fe->path ? 0 : fe_set(ctx->err, ENOMEM, "pty entry");
}

static int pty_dump(struct dump_ctx *ctx, struct dtask *t, const struct fd_info *fi, Ferry__FileEntry *fe)
{
	int master = is_ptmx(fi->st.st_rdev);
	const char *v = fdinfo_field(fi, "tty-index");
	int index = !master ? pts_index(fi->st.st_rdev) : v ? atoi(v) : -1;
	int deleted = !master && strstr(fi->link, " (deleted)");
	struct termios tio;
	if (index < 0)
		return fe_msg(ctx->err, EIO, "%s: no tty-index in its fdinfo", fi->link);
	if (!master && !deleted && tcgetattr(fi->stolen, &tio) < 0 && errno == EIO)
		return fe_msg(ctx->err, EOPNOTSUPP, "a terminal that was hung up (vhangup) while its master lives: "
			      "not supported");
	if (!master && !deleted && !tty_tree_holds(ctx, index, 1)) {
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
	fe->has_rdev = fe->has_ino = 1;
	fe->rdev = fi->st.st_rdev;
	fe->ino = fi->st.st_ino;
	if (deleted)
		return dump_hung_slave(ctx, fi, fe, p);
	fe->path = arena_strdup(&ctx->arena, fi->link);
	return master ? dump_master(ctx, fi, p) : 0;
}

/* ---------------------------------------------------------------- restore */

const Ferry__FileEntry *tty_master_entry(const Ferry__Files *files, uint32_t index)
{
	for (size_t i = 0; i < files->n_files; i++) {
		const Ferry__FileEntry *f = files->files[i];
		if (f->kind == FERRY__FILE_KIND__FILE_PTY && f->pty && f->pty->master && f->pty->index == index)
			return f;
	}
	return NULL;
}

int tty_ctty_slave(struct restore_ctx *ctx, uint32_t index)
{
	return files_kept(ctx, KEY_CTTY(index));
}

int tty_keep_ctty_slave(struct restore_ctx *ctx, uint32_t index, int slave)
{
	int fd = fcntl(slave, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return -errno;
	if (files_keep(ctx, KEY_CTTY(index), fd) < 0) {
		close(fd);
		return -ENOMEM;
	}
	return 0;
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

/*
 * After the queued bytes went in: window size, stopped output (before packet mode, which would
 * report the stop), packet mode, locked termios, owner and mode of the new /dev/pts/N, exclusive
 * modes. The lock (TIOCSPTLCK) comes last, by injection: slaves open first.
 */
static int configure(int m, int s, int n, const Ferry__PtyEntry *p)
{
	char path[64];
	if (p->winsize) {
		struct winsize ws = { p->winsize->rows, p->winsize->cols, p->winsize->xpixel, p->winsize->ypixel };
		if (ioctl(m, TIOCSWINSZ, &ws) < 0)
			return -errno;
	}
	if (s >= 0 && p->stopped && tcflow(s, TCOOFF) < 0)
		return -errno;
	if (p->packet && ioctl(m, TIOCPKT, &(int){ 1 }) < 0)
		return -errno;
	if (p->locked_termios) {
		struct termios lt;
		memset(&lt, 0, sizeof(lt));
		get_termios(p->locked_termios, &lt);
		if (ioctl(m, TIOCSLCKTRMIOS, &lt) < 0)
			return -errno;
	}
	snprintf(path, sizeof(path), "/dev/pts/%d", n);
	if (p->has_slave_uid && p->has_slave_gid && chown(path, p->slave_uid, p->slave_gid) < 0)
		return -errno;
	if (p->has_slave_mode && chmod(path, p->slave_mode & 07777) < 0)
		return -errno;
	if (s >= 0 && p->slave_excl && ioctl(s, TIOCEXCL) < 0)
		return -errno;
	if (p->master_excl && ioctl(m, TIOCEXCL) < 0)
		return -errno;
	return 0;
}

/* Whether a slave of ferry's must be open while the pair is set up (and until every file is). */
static int slave_needed(const struct restore_ctx *ctx, const Ferry__PtyEntry *p)
{
	if (p->other_closed || p->slave_excl || p->ldisc || p->stopped || (p->has_to_slave && p->to_slave.len) ||
	    (p->has_to_master && p->to_master.len) || tty_is_ctty(ctx, p->index))
		return 1;
	for (size_t i = 0; i < ctx->files->n_files; i++) {
		const Ferry__FileEntry *f = ctx->files->files[i];
		if (f->kind == FERRY__FILE_KIND__FILE_PTY && f->pty && !f->pty->master && !f->pty->hung_up &&
		    f->pty->index == p->index)
			return 1;
	}
	return 0;
}

static int pair_setup(int m, int s, int n, const Ferry__PtyEntry *p)
{
	static const ProtobufCBinaryData none = { 0, NULL };
	struct termios tio;
	int ld = (int)p->ldisc, r;
	if (tcgetattr(m, &tio) < 0)
		return -errno;
	if (p->termios)
		get_termios(p->termios, &tio);
	if (s >= 0 && ld && ioctl(s, TIOCSETD, &ld) < 0)
		return -errno;
	if (s >= 0 && ((p->has_to_slave && p->to_slave.len) || (p->has_to_master && p->to_master.len)))
		r = refill(m, s, &tio, p->has_to_slave ? &p->to_slave : &none, p->has_to_master ? &p->to_master : &none);
	else
		r = tcsetattr(m, TCSANOW, &tio) < 0 ? -errno : 0;
	return r < 0 ? r : configure(m, s, n, p);
}

/* A new pair for master entry me: open /dev/ptmx, refill, configure; both ends go to the stash. */
static int pair_create(struct restore_ctx *ctx, const Ferry__FileEntry *me, struct ferry_err *err)
{
	const Ferry__PtyEntry *p = me->pty;
	int n = -1, r;
	if ((p->has_to_slave && p->to_slave.len > PTY_MAX_DATA) || (p->has_to_master && p->to_master.len > PTY_MAX_DATA))
		return fe_msg(err, EBADMSG, "files.img: pts %u carries too many queued bytes", p->index);
	_cleanup_close_ int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (m < 0)
		return fe_set(err, errno, "open /dev/ptmx for pts %u", p->index);
	if (ioctl(m, TIOCSPTLCK, &(int){ 0 }) < 0 || ioctl(m, TIOCGPTN, &n) < 0)
		return fe_set(err, errno, "unlock a new pty for pts %u", p->index);
	_cleanup_close_ int s = -1;
	if (slave_needed(ctx, p) && (s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)) < 0)
		return fe_set(err, errno, "open the slave of the new pty /dev/pts/%d", n);
	if ((r = pair_setup(m, s, n, p)) < 0)
		return fe_set(err, -r, "set up /dev/pts/%d as pts %u", n, p->index);
	pr_info("pts %u is restored as /dev/pts/%d (the number changes)\n", p->index, n);
	if (s >= 0 && tty_is_ctty(ctx, p->index) && (r = tty_keep_ctty_slave(ctx, p->index, s)) < 0)
		return fe_set(err, -r, "keep a slave of pts %u for its session", p->index);
	if (s >= 0 && (r = files_stash_put(ctx, KEY_SLAVE(p->index), s)) == 0)
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

/*
 * Hung-up slaves (their master was closed): every one of the same old pair is a slave of one new
 * pair whose master is closed right away, which hangs them up.
 */
static int open_hung(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	int fd = files_stash_take(ctx, KEY_HUNG(fe->id)), r = 0;
	if (fd >= 0)
		return set_flags(fd, fe, err);
	_cleanup_close_ int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0 || ioctl(m, TIOCSPTLCK, &(int){ 0 }) < 0)
		return fe_set(err, errno, "open /dev/ptmx for a hung-up pts");
	for (size_t i = 0; r == 0 && i < ctx->files->n_files; i++) {
		const Ferry__FileEntry *o = ctx->files->files[i];
		if (o->kind != FERRY__FILE_KIND__FILE_PTY || !o->pty || !o->pty->hung_up || o->pty->index != fe->pty->index ||
		    o->ino != fe->ino)
			continue;
		int s = ioctl(m, TIOCGPTPEER, (o->flags & O_ACCMODE) | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		if (s < 0 || files_stash_put(ctx, KEY_HUNG(o->id), s) < 0)
			r = fe_set(err, s < 0 ? errno : ENOMEM, "open a slave to hang up");
	}
	close(TAKE_FD(m));	/* hangs the slaves up */
	fd = r < 0 ? -1 : files_stash_take(ctx, KEY_HUNG(fe->id));
	return r < 0 ? r : fd < 0 ? fe_msg(err, EBADF, "hung-up pts %u", fe->pty->index) : set_flags(fd, fe, err);
}

static int pty_open(struct restore_ctx *ctx, const Ferry__FileEntry *fe, struct ferry_err *err)
{
	const Ferry__PtyEntry *p = fe->pty;
	if (!p)
		return fe_msg(err, EBADMSG, "files.img: pty file %u lacks its pty part", fe->id);
	if (p->hung_up && !p->master)
		return open_hung(ctx, fe, err);
	const Ferry__FileEntry *me = tty_master_entry(ctx->files, p->index);
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

static int pty_install(struct restore_ctx *ctx, struct rtask *t, const Ferry__FdEntry *e, const Ferry__FileEntry *fe)
{
	struct injector *inj = &t->threads[0].inj;
	long ret;
	if (!fe->pty->master || !fe->pty->locked)
		return 0;
	uint64_t at = inj_scratch_put(inj, 0, &(int){ 1 }, sizeof(int));
	int r = RINJ(ctx, inj, &ret, "lock the pty master (TIOCSPTLCK)", SYS_ioctl, e->fd, TIOCSPTLCK, at);
	return r < 0 ? fe_wrap(ctx->err, r, "fd %d", e->fd) : 0;
}

const struct file_ops pty_file_ops = {
	.kind = FERRY__FILE_KIND__FILE_PTY, .name = "pty",
	.match = pty_match, .dump = pty_dump, .open = pty_open, .install = pty_install,
};
