// SPDX-License-Identifier: Apache-2.0
// Established TCP connections (self-checking, runs ferry itself on a child): a child holds a listener and
// both ends of a loopback connection. `ferry dump -R` of the child must fail naming the connection
// (addresses, pid, fd) and leave the child running with the connection intact. `ferry dump --tcp-close`
// then succeeds; after `ferry restore -d` both ends read ECONNRESET once, then EOF, writes fail with EPIPE,
// and the listener (SO_REUSEADDR) accepts again on its port. The child talks to the test over UDP
// (restored too).
// Before zdtm_ready() the child is gone, so the runner's own dump of this test has nothing special.
#include "zdtm.h"
#include "zdtm_refuse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static int lsn, cli, srv, cu, pu;
static struct sockaddr_in a_lsn, a_cli, a_cu;
static pid_t child;

static int loopback(int type, struct sockaddr_in *a)
{
	socklen_t l = sizeof(*a);
	int fd = socket(AF_INET, type, 0);
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (void *)a, sizeof(*a)) < 0 || getsockname(fd, (void *)a, &l) < 0)
		zdtm_skip("socket: %m");
	return fd;
}

static void reply(const struct sockaddr_in *to, const char *fmt, int a, int b, int c)
{
	char msg[128];
	int n = snprintf(msg, sizeof(msg), fmt, a, b, c);
	sendto(cu, msg, n, 0, (const void *)to, sizeof(*to));
}

/* One end after --tcp-close: "recv errno, second recv result, send errno". */
static void probe(int fd, int *e1, int *r2, int *e3)
{
	char b[8];
	*e1 = recv(fd, b, sizeof(b), MSG_DONTWAIT) < 0 ? errno : 0;
	*r2 = recv(fd, b, sizeof(b), MSG_DONTWAIT);
	*e3 = send(fd, "z", 1, MSG_NOSIGNAL) < 0 ? errno : 0;
}

static __attribute__((noreturn)) void child_loop(void)
{
	for (;;) {
		char cmd[16] = "", b[4];
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		if (recvfrom(cu, cmd, sizeof(cmd) - 1, 0, (void *)&from, &fl) < 0)
			continue;
		if (!strcmp(cmd, "ping")) {
			int ok = write(cli, "x", 1) == 1 && read(srv, b, 1) == 1 && write(srv, "y", 1) == 1 &&
				 read(cli, b, 1) == 1 && b[0] == 'y';
			reply(&from, "ping %d", ok, 0, 0);
		} else if (!strcmp(cmd, "check")) {
			int e1, r2, e3;
			probe(cli, &e1, &r2, &e3);
			reply(&from, "cli %d %d %d", e1, r2, e3);
			probe(srv, &e1, &r2, &e3);
			reply(&from, "srv %d %d %d", e1, r2, e3);
		} else if (!strcmp(cmd, "exit")) {
			_exit(0);
		}
	}
}

static int ask(const char *cmd, char *out, size_t size)
{
	sendto(pu, cmd, strlen(cmd), 0, (void *)&a_cu, sizeof(a_cu));
	ssize_t n = recv(pu, out, size - 1, 0);
	out[n > 0 ? n : 0] = 0;
	return n > 0 ? 0 : -1;
}

static void start_child(void)
{
	struct sockaddr_in a_srv;
	struct timeval tv = { 5, 0 };
	int one = 1;
	lsn = socket(AF_INET, SOCK_STREAM, 0);
	/* the killed child's connections linger (TIME_WAIT) on the port: a restarted server needs this too */
	setsockopt(lsn, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a_lsn = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a_lsn);
	if (bind(lsn, (void *)&a_lsn, l) < 0 || getsockname(lsn, (void *)&a_lsn, &l) < 0 || listen(lsn, 4) < 0)
		zdtm_skip("listener: %m");
	cli = loopback(SOCK_STREAM, &a_cli);
	if (connect(cli, (void *)&a_lsn, sizeof(a_lsn)) < 0 || (srv = accept(lsn, NULL, NULL)) < 0)
		zdtm_skip("loopback connection: %m");
	cu = loopback(SOCK_DGRAM, &a_cu);
	pu = loopback(SOCK_DGRAM, &a_srv);
	setsockopt(pu, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	child = fork();
	if (child < 0)
		zdtm_skip("fork: %m");
	if (child == 0) {
		close(pu);
		child_loop();
	}
	close(lsn);
	close(cli);
	close(srv);
	close(cu);
}

/* The refused dump: its message names the connection; the child runs on with it intact. */
static void refused(void)
{
	char want[128], reply[128];
	snprintf(want, sizeof(want), "127.0.0.1:%d -> 127.0.0.1:%d (pid %d, fd %d", ntohs(a_cli.sin_port),
		 ntohs(a_lsn.sin_port), child, cli);
	zr_expect_refusal(child, "img-refused", NULL, want, "--tcp-close", NULL);
	zdtm_check(ask("ping", reply, sizeof(reply)) == 0 && !strcmp(reply, "ping 1"),
		   "connection broken after the refused dump: '%s'", reply);
}

static void closed(void)
{
	char pid[16], dir[PATH_MAX], reply[128], want[64];
	snprintf(pid, sizeof(pid), "%d", child);
	zdtm_path(dir, sizeof(dir), "img-closed");
	mkdir(dir, 0755);
	char *dump[] = { zr_ferry, "dump", "-t", pid, "-D", dir, "--tcp-close", "-v4", NULL };
	char *rst[] = { zr_ferry, "restore", "-D", dir, "-d", "-v4", NULL };
	int rc = zr_run_ferry("dump-closed.out", dump), st;
	if (rc != 0) {
		zdtm_fail("ferry dump --tcp-close exited %d (see dump-closed.out)", rc);
		kill(child, SIGKILL);
		waitpid(child, &st, 0);
		return;
	}
	waitpid(child, &st, 0);
	rc = zr_run_ferry("restore-closed.out", rst);
	zdtm_check(rc == 0, "ferry restore of the --tcp-close image exited %d (see restore-closed.out)", rc);
	if (rc != 0)
		return;
	snprintf(want, sizeof(want), "cli %d 0 %d", ECONNRESET, EPIPE);
	zdtm_check(ask("check", reply, sizeof(reply)) == 0 && !strcmp(reply, want), "client end: '%s', want '%s'",
		   reply, want);
	snprintf(want, sizeof(want), "srv %d 0 %d", ECONNRESET, EPIPE);
	ssize_t n = recv(pu, reply, sizeof(reply) - 1, 0);
	reply[n > 0 ? n : 0] = 0;
	zdtm_check(!strcmp(reply, want), "server end: '%s', want '%s'", reply, want);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	zdtm_check(connect(c, (void *)&a_lsn, sizeof(a_lsn)) == 0, "restored listener refuses connections: %m");
	close(c);
	ask("exit", reply, sizeof(reply));
	for (int i = 0; i < 100 && kill(child, 0) == 0; i++)
		usleep(20000);
}

int main(void)
{
	zdtm_init("inet_tcp_established");
	zr_find_ferry();
	start_child();
	refused();
	closed();
	close(pu);
	zdtm_ready();
	zdtm_wait_sigterm();
	zdtm_exit();
}
