// SPDX-License-Identifier: Apache-2.0
// A failed dump must not have eaten the connections a unix listener has not accepted: ferry reads them by
// accepting them, which no program can undo, so it does that only as the dump's very last step before the
// inventory. A child holds a listener with two pending connections (a client still held that sent data, and
// one that sent data and closed); `ferry dump` (not -R: the tree would die) of the child is made to fail at
// every stage after the sockets object ran (FERRY_FAULT): each failed dump exits 1, the child runs on
// untraced, and accept() still returns both connections with their data (and the second one's end of file).
// A fault after the connections were accepted (writing their image, or the inventory after it) cannot give
// the one whose client lives back: the failure must say loudly that 1 connection is lost, naming the
// listener's pid and fd, and that client sees its connection closed; the one whose client had closed is made
// again by ferry: the child accepts it with its data and end of file, and nothing else. Then this process itself holds a pending connection whose
// client sent data and a pipe (SCM_RIGHTS) it closed since: after the runner's dump and restore, accept()
// returns it with the data, and the pipe still holds what was written into it (unix-pending.img carries the
// pipe, which files.img does not know).
#include "zdtm.h"
#include "zdtm_refuse.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static struct sockaddr_un la;
static socklen_t lal;
static int lsn = -1, kept = -1;

static socklen_t abstract(struct sockaddr_un *a, const char *name, int pid)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	return offsetof(struct sockaddr_un, sun_path) + 1 + snprintf(a->sun_path + 1, 100, "ferry-pfail-%s-%d", name, pid);
}

static int client(const char *data)
{
	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (const void *)&la, lal) < 0 || send(c, data, strlen(data), 0) != (ssize_t)strlen(data))
		return -1;
	return c;
}

/* Reads exactly want (then end of file when eof) from a connection accepted now; 1 if so. */
static int take(const char *want, int eof)
{
	char b[64];
	struct pollfd p = { .fd = lsn, .events = POLLIN };
	int a = poll(&p, 1, 0) == 1 ? accept(lsn, NULL, NULL) : -1;
	if (a < 0)
		return 0;
	ssize_t n = recv(a, b, sizeof(b), MSG_DONTWAIT);
	int ok = n == (ssize_t)strlen(want) && !memcmp(b, want, n) && (!eof || recv(a, b, sizeof(b), MSG_DONTWAIT) == 0);
	close(a);
	return ok;
}

/* The child: 'p' makes two pending connections, 'a' accepts them, 'l' checks they were lost. */
static void child(int rd, int wr)
{
	char cmd, data[32], bye[32];
	int n = 0;
	lal = abstract(&la, "child", getpid());
	lsn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lsn < 0 || bind(lsn, (void *)&la, lal) < 0 || listen(lsn, 8) < 0 || write(wr, &lsn, sizeof(lsn)) != sizeof(lsn))
		_exit(3);
	while (read(rd, &cmd, 1) == 1) {
		int ok = 1;
		if (cmd == 'p')
			n++;
		snprintf(data, sizeof(data), "data-%d", n);
		snprintf(bye, sizeof(bye), "bye-%d", n);
		if (cmd == 'p') {
			int gone = client(bye);
			ok = (kept = client(data)) >= 0 && gone >= 0;
			close(gone);
		} else if (cmd == 'a') {
			ok = take(bye, 1) && take(data, 0) && !take("", 0);
			close(kept);
		} else if (cmd == 'l') {
			char b[8];
			ssize_t r = recv(kept, b, sizeof(b), MSG_DONTWAIT);
			ok = take(bye, 1) && !take("", 0) && (r == 0 || (r < 0 && errno == ECONNRESET));
			close(kept);
		}
		if (write(wr, &ok, sizeof(ok)) != sizeof(ok))
			_exit(2);
	}
	_exit(0);
}

static pid_t kid;
static int down, up;

static int ask(char cmd)
{
	int ok = 0;
	if (write(down, &cmd, 1) != 1 || read(up, &ok, sizeof(ok)) != sizeof(ok))
		return -1;
	return ok;
}

/* One failed dump with the fault; lost: whether the fault comes after the connections were accepted. */
static void one(const char *fault, int lost)
{
	char img[PATH_MAX], log[128], spid[16], out[8192] = "", want[64];
	zdtm_check(ask('p') == 1, "%s: the child could not make its pending connections", fault);
	snprintf(spid, sizeof(spid), "%d", kid);
	snprintf(log, sizeof(log), "fault-%s.out", fault);
	zdtm_path(img, sizeof(img), fault);
	mkdir(img, 0755);
	char *args[] = { zr_ferry, "dump", "-t", spid, "-D", img, NULL };
	setenv("FERRY_FAULT", fault, 1);
	int rc = zr_run_ferry(log, args);
	unsetenv("FERRY_FAULT");
	zdtm_read_file(zdtm_path(img, sizeof(img), log), out, sizeof(out));
	zdtm_check(rc == 1, "%s: ferry dump exited %d, want 1: %s", fault, rc, out);
	zr_check_alive(fault, kid);
	if (!lost) {
		zdtm_check(!strstr(out, "lost"), "%s: a dump that failed before accepting says connections were lost: %s",
			   fault, out);
		zdtm_check(ask('a') == 1, "%s: after the failed dump the listener no longer accepts both pending "
			   "connections with their data", fault);
		return;
	}
	snprintf(want, sizeof(want), "pid %d: fd %d", kid, lsn);
	zdtm_check(strstr(out, want) && strstr(out, "1 connection(s) it had not accepted are lost"),
		   "%s: the failure does not say that 1 connection of '%s' is lost: %s", fault, want, out);
	zdtm_check(strstr(out, "made again by ferry"), "%s: the failure does not say the closed client's connection "
		   "was made again: %s", fault, out);
	zdtm_check(ask('l') == 1, "%s: after the failed dump the listener does not accept exactly the closed client's "
		   "connection with its data, or the living client's connection is not closed", fault);
}

static int pend_sk, pipe_w;

/* This process: a pending connection whose client sent data and a pipe it no longer holds. */
static void setup_self(void)
{
	int p[2], c;
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	lal = abstract(&la, "self", getpid());
	pend_sk = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (pend_sk < 0 || bind(pend_sk, (void *)&la, lal) < 0 || listen(pend_sk, 4) < 0 || pipe(p) < 0 ||
	    write(p[1], "in the pipe", 11) != 11 || (c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(c, (void *)&la, lal) < 0)
		zdtm_skip("setup: %m");
	struct iovec iov = { "with a pipe", 11 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &p[0], sizeof(int));
	if (sendmsg(c, &mh, 0) != 11)
		zdtm_skip("sendmsg: %m");
	close(p[0]);
	close(c);
	pipe_w = p[1];
}

static void check_self(void)
{
	char b[32], cbuf[CMSG_SPACE(sizeof(int))];
	struct pollfd p = { .fd = pend_sk, .events = POLLIN };
	int a = poll(&p, 1, 0) == 1 ? accept(pend_sk, NULL, NULL) : -1, fd = -1;
	zdtm_check(a >= 0, "no pending connection to accept after restore");
	struct iovec iov = { b, sizeof(b) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	ssize_t n = a < 0 ? -1 : recvmsg(a, &mh, MSG_DONTWAIT);
	struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
	if (cm && cm->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	zdtm_check(n == 11 && !memcmp(b, "with a pipe", 11), "pending connection data: %zd bytes '%.*s'", n,
		   (int)(n > 0 ? n : 0), b);
	zdtm_check(fd >= 0, "the pipe sent on the pending connection did not come with its data");
	zdtm_check(fd < 0 || (read(fd, b, sizeof(b)) == 11 && !memcmp(b, "in the pipe", 11)),
		   "the pipe in flight lost its data");
	zdtm_check(fd < 0 || (write(pipe_w, "x", 1) == 1 && read(fd, b, 1) == 1 && b[0] == 'x'),
		   "the pipe in flight is not the one this process writes into");
	zdtm_check(a < 0 || recv(a, b, sizeof(b), MSG_DONTWAIT) == 0, "the client closed: want end of file");
}

int main(void)
{
	static const char *const before[] = { "dump-after-objects", "dump-after-pages", "pages-enospc",
					      "image-write", "dump-after-write-images" };
	static const char *const after[] = { "dump-pending-accepted", "dump-before-inventory" };
	int d[2], u[2], st;
	zdtm_init("unix_pending_fail");
	zr_find_ferry();
	if (pipe(d) < 0 || pipe(u) < 0)
		zdtm_skip("pipe: %m");
	fflush(NULL);
	if ((kid = fork()) == 0) {
		close(d[1]);
		close(u[0]);
		child(d[0], u[1]);
	}
	close(d[0]);
	close(u[1]);
	down = d[1];
	up = u[0];
	if (read(up, &lsn, sizeof(lsn)) != sizeof(lsn))
		zdtm_fail("the child could not listen");
	for (size_t i = 0; i < sizeof(before) / sizeof(before[0]); i++)
		one(before[i], 0);
	for (size_t i = 0; i < sizeof(after) / sizeof(after[0]); i++)
		one(after[i], 1);
	kill(kid, SIGKILL);
	waitpid(kid, &st, 0);
	close(down);
	close(up);
	setup_self();
	zdtm_ready();
	zdtm_wait_sigterm();
	check_self();
	zdtm_exit();
}
