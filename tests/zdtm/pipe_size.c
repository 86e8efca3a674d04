// SPDX-License-Identifier: Apache-2.0
// Pipe capacity and per-end flags: a 256 KiB pipe holding 200000 bytes with O_NONBLOCK on the write end
// only (the read end blocks), and a packet-mode (O_DIRECT) pipe. After restore: same capacity, same
// flags on each end, same bytes, and the write end reports EAGAIN exactly when the pipe is full.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define CAP (256 * 1024)
#define NDATA 200000
static unsigned char data[NDATA], got[CAP];
static int big[2], pkt[2];
static int fl[4];

static void setup(void)
{
	zdtm_fill(data, NDATA, 7);
	if (pipe(big) < 0 || pipe2(pkt, O_DIRECT) < 0)
		zdtm_skip("pipe: %m");
	if (fcntl(big[1], F_SETPIPE_SZ, CAP) != CAP)
		zdtm_skip("F_SETPIPE_SZ %d: %m", CAP);
	fcntl(big[1], F_SETFL, O_NONBLOCK);
	if (write(big[1], data, NDATA) != NDATA)
		zdtm_skip("write: %m");
	fl[0] = fcntl(big[0], F_GETFL);
	fl[1] = fcntl(big[1], F_GETFL);
	fl[2] = fcntl(pkt[0], F_GETFL);
	fl[3] = fcntl(pkt[1], F_GETFL);
}

static void verify(void)
{
	int fds[4] = { big[0], big[1], pkt[0], pkt[1] }, n = -1;
	const char *names[4] = { "big read end", "big write end", "packet read end", "packet write end" };

	for (int i = 0; i < 4; i++) {
		int v = fcntl(fds[i], F_GETFL);
		zdtm_check(v == fl[i], "%s: F_GETFL %#o, want %#o", names[i], v, fl[i]);
	}
	n = fcntl(big[0], F_GETPIPE_SZ);
	zdtm_check(n == CAP, "capacity %d, want %d", n, CAP);
	zdtm_check(ioctl(big[0], FIONREAD, &n) == 0 && n == NDATA, "pipe holds %d bytes, want %d", n, NDATA);
	/* fill it to the brim: exactly CAP - NDATA more bytes fit (our data fills whole pages) */
	ssize_t w, room = 0;
	while ((w = write(big[1], got, 4096)) > 0)
		room += w;
	zdtm_check(w < 0 && errno == EAGAIN, "non-blocking write end: %m");
	zdtm_check(room >= CAP - NDATA - 4096, "only %zd bytes fitted after the data (want ~%d)", room, CAP - NDATA);
	ssize_t t = 0, r;
	while (t < NDATA && (r = read(big[0], got + t, NDATA - t)) > 0)
		t += r;
	zdtm_check(t == NDATA && !memcmp(got, data, NDATA), "data differs after restore (%zd bytes read)", t);
	/* packet mode: two writes come out as two reads */
	zdtm_check(write(pkt[1], "ab", 2) == 2 && write(pkt[1], "cde", 3) == 3, "packet write: %m");
	zdtm_check(read(pkt[0], got, 100) == 2 && read(pkt[0], got, 100) == 3, "packet pipe lost its boundaries");
}

int main(void)
{
	zdtm_init("pipe_size");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	verify();
	zdtm_exit();
}
