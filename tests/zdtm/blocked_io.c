// SPDX-License-Identifier: Apache-2.0
// Threads blocked in I/O when dumped, each completing after restore once its peer acts: accept() on a
// unix listener with nothing queued; recv() on a unix datagram socket; a 1 MiB write() into a full pipe
// (the kernel may return it short at the dump, as after any stop: the writer goes on with the rest);
// read() on a FIFO; connect() to a unix listener whose backlog is full; read() on a raw pty slave.
// After restore none has returned before its peer acts (the writer may have returned short), and each
// then gets exactly what its peer sent: the accepted and the connected sockets are one connection,
// the pipe carries the 1 MiB pattern whole and in order.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pty.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#define BIG (1 << 20)
enum { ACCEPT, RECV, WRITE, FIFO, CONNECT, PTY, N };
static const char *names[N] = { "accept", "recv", "write", "fifo read", "connect", "pty read" };

static int lsn, dg[2], pp[2], fifo_r, fifo_w, full_lsn, pend_cl, cl, ptm, pts;
static struct sockaddr_un full_addr;
static volatile int started[N], done[N];
static long result[N];
static int errs[N];
static char got[N][16];
static unsigned char *pattern;

static void *worker(void *arg)
{
	int i = (int)(long)arg;
	long r = -1;
	started[i] = 1;
	switch (i) {
	case ACCEPT: r = accept(lsn, NULL, NULL); break;
	case RECV: r = recv(dg[0], got[i], sizeof(got[i]), 0); break;
	case WRITE:
		for (size_t off = 0; off < BIG;) {
			ssize_t n = write(pp[1], pattern + off, BIG - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				r = -1;
				break;
			}
			off += n;
			r = off;
		}
		break;
	case FIFO: r = read(fifo_r, got[i], sizeof(got[i])); break;
	case CONNECT: r = connect(cl, (struct sockaddr *)&full_addr, sizeof(full_addr)); break;
	case PTY: r = read(pts, got[i], sizeof(got[i])); break;
	}
	errs[i] = r < 0 ? errno : 0;
	result[i] = r;
	__atomic_store_n(&done[i], 1, __ATOMIC_SEQ_CST);
	while (!zdtm_sigterm_received())
		usleep(10000);
	return NULL;
}

static int wait_done(int i)
{
	for (int k = 0; k < 500 && !done[i]; k++)
		usleep(10000);
	return done[i];
}

static void setup(void)
{
	char path[4096];
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	lsn = socket(AF_UNIX, SOCK_STREAM, 0);
	zdtm_path(a.sun_path, sizeof(a.sun_path), "lsn.sock");
	if (lsn < 0 || bind(lsn, (struct sockaddr *)&a, sizeof(a)) || listen(lsn, 4))
		zdtm_skip("listener: %m");
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) || pipe(pp))
		zdtm_skip("pairs: %m");
	fcntl(pp[1], F_SETPIPE_SZ, 65536);
	zdtm_path(path, sizeof(path), "fifo");
	if (mkfifo(path, 0600) || (fifo_r = open(path, O_RDONLY | O_NONBLOCK)) < 0 || (fifo_w = open(path, O_WRONLY)) < 0)
		zdtm_skip("fifo: %m");
	fcntl(fifo_r, F_SETFL, 0);
	full_lsn = socket(AF_UNIX, SOCK_STREAM, 0);
	full_addr.sun_family = AF_UNIX;
	zdtm_path(full_addr.sun_path, sizeof(full_addr.sun_path), "full.sock");
	if (bind(full_lsn, (struct sockaddr *)&full_addr, sizeof(full_addr)) || listen(full_lsn, 0))
		zdtm_skip("full listener: %m");
	pend_cl = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	connect(pend_cl, (struct sockaddr *)&full_addr, sizeof(full_addr));	/* fills the backlog of 0 (1 slot) */
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (connect(probe, (struct sockaddr *)&full_addr, sizeof(full_addr)) == 0 || errno != EAGAIN)
		zdtm_skip("the backlog does not fill (%m)");
	close(probe);
	cl = socket(AF_UNIX, SOCK_STREAM, 0);
	struct termios t;
	if (openpty(&ptm, &pts, NULL, NULL, NULL) || tcgetattr(pts, &t))
		zdtm_skip("pty: %m");
	cfmakeraw(&t);
	tcsetattr(pts, TCSANOW, &t);
	pattern = malloc(BIG);
	zdtm_fill(pattern, BIG, 42);
}

int main(void)
{
	zdtm_init("blocked_io");
	setup();
	pthread_t th[N];
	for (long i = 0; i < N; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	for (int i = 0; i < N; i++)
		while (!started[i])
			usleep(1000);
	usleep(200000);
	for (int i = 0; i < N; i++)
		zdtm_check(!done[i], "%s returned before the dump (%ld, %s)", names[i], result[i], strerror(errs[i]));
	zdtm_ready();
	zdtm_wait_sigterm();

	usleep(200000);
	for (int i = 0; i < N; i++)
		zdtm_check(!done[i], "%s returned on its own after restore (%ld, %s)", names[i], result[i],
			   strerror(errs[i]));
	/* the peers act */
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	zdtm_path(a.sun_path, sizeof(a.sun_path), "lsn.sock");
	zdtm_check(connect(c, (struct sockaddr *)&a, sizeof(a)) == 0, "connect to the listener: %m");
	zdtm_check(send(dg[1], "dgram", 5, 0) == 5, "send: %m");
	unsigned char *in = malloc(BIG);
	size_t off = 0;
	while (off < BIG) {
		ssize_t n = read(pp[0], in + off, BIG - off);
		if (n <= 0)
			break;
		off += n;
	}
	zdtm_check(off == BIG && !memcmp(in, pattern, BIG), "the pipe carried %zu bytes%s", off,
		   off == BIG ? ", not the pattern" : "");
	zdtm_check(write(fifo_w, "fifo", 4) == 4, "fifo write: %m");
	int acc = accept(full_lsn, NULL, NULL);	/* makes room: the blocked connect goes through */
	zdtm_check(acc >= 0, "accept on the full listener: %m");
	zdtm_check(write(ptm, "pty", 3) == 3, "master write: %m");
	for (int i = 0; i < N; i++)
		zdtm_check(wait_done(i), "%s never returned", names[i]);
	zdtm_check(result[ACCEPT] >= 0, "accept: %s", strerror(errs[ACCEPT]));
	if (result[ACCEPT] >= 0) {
		char b[4] = "";
		zdtm_check(write(c, "ok", 2) == 2 && read((int)result[ACCEPT], b, 2) == 2 && !memcmp(b, "ok", 2),
			   "the accepted socket is not the connection");
	}
	zdtm_check(result[RECV] == 5 && !memcmp(got[RECV], "dgram", 5), "recv: %ld", result[RECV]);
	zdtm_check(result[WRITE] == BIG, "write: %ld (%s)", result[WRITE], strerror(errs[WRITE]));
	zdtm_check(result[FIFO] == 4 && !memcmp(got[FIFO], "fifo", 4), "fifo read: %ld", result[FIFO]);
	zdtm_check(result[CONNECT] == 0, "connect: %ld (%s)", result[CONNECT], strerror(errs[CONNECT]));
	zdtm_check(result[PTY] == 3 && !memcmp(got[PTY], "pty", 3), "pty read: %ld", result[PTY]);
	zdtm_exit();
}
