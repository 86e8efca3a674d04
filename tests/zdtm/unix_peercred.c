// SPDX-License-Identifier: Apache-2.0
// Who made a unix connection, as SO_PEERCRED and SO_PEERGROUPS report it after restore: a socketpair made by
// a child (sharing our descriptor table) with other uid, gid and groups, which then exited; a listener
// listen()ed by another such child; connections to it made by a third child with yet other credentials —
// one accepted before the dump, one still pending (accepted after restore); a datagram pair made by us.
// Every end reports the same pid (of a process long gone), uid, gid and groups as before the dump.
#include "zdtm.h"

#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

enum { PAIR0, PAIR1, LSN, ACC, ACC_CLI, PEND_CLI, DG0, DG1, N };
static const char *names[N] = { "pair end 0", "pair end 1", "listener", "accepted", "accepted's client",
				"pending client", "dgram pair 0", "dgram pair 1" };
static int fds[N];
static struct ucred creds[N];
static gid_t groups[N][8];
static socklen_t ngroups[N];
static struct sockaddr_un addr;
static socklen_t alen;
static struct ucred pend_cred;

struct job {
	int what;
	uid_t uid;
	gid_t gid;
};

/* In a child sharing our table: take other credentials, then make sockets for the parent. */
static int child(void *arg)
{
	struct job *j = arg;
	gid_t g[2] = { j->gid + 100, j->gid + 200 };
	if (syscall(SYS_setgroups, 2, g) < 0 || syscall(SYS_setresgid, j->gid, j->gid, j->gid) < 0 ||
	    syscall(SYS_setresuid, j->uid, j->uid, j->uid) < 0)
		return 1;
	int sv[2];
	switch (j->what) {
	case 0:
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
			return 2;
		fds[PAIR0] = sv[0], fds[PAIR1] = sv[1];
		return 0;
	case 1:
		return listen(fds[LSN], 8) < 0 ? 3 : 0;
	case 2:
		return connect(fds[ACC_CLI], (void *)&addr, alen) < 0 || connect(fds[PEND_CLI], (void *)&addr, alen) < 0 ? 4 : 0;
	}
	return 5;
}

static pid_t run(int what, uid_t uid, gid_t gid)
{
	static char stack[65536] __attribute__((aligned(16)));
	struct job j = { what, uid, gid };
	pid_t p = clone(child, stack + sizeof(stack), CLONE_FILES | CLONE_VM | SIGCHLD, &j);
	int st;
	if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st))
		zdtm_skip("child %d failed: %m, status %d", what, st);
	return p;
}

static void record(int i)
{
	socklen_t l = sizeof(creds[i]);
	getsockopt(fds[i], SOL_SOCKET, SO_PEERCRED, &creds[i], &l);
	ngroups[i] = sizeof(groups[i]);
	if (getsockopt(fds[i], SOL_SOCKET, SO_PEERGROUPS, groups[i], &ngroups[i]) < 0)
		ngroups[i] = 0;
}

static void check(int fd, const struct ucred *want, const gid_t *g, socklen_t ng, const char *what)
{
	struct ucred c;
	gid_t gr[8];
	socklen_t l = sizeof(c), gl = sizeof(gr);
	getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &l);
	zdtm_check(c.pid == want->pid && c.uid == want->uid && c.gid == want->gid,
		   "%s: SO_PEERCRED pid %d uid %d gid %d, was pid %d uid %d gid %d", what, c.pid, c.uid, c.gid, want->pid,
		   want->uid, want->gid);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, gr, &gl) < 0)
		gl = 0;
	zdtm_check(gl == ng && !memcmp(gr, g, gl), "%s: SO_PEERGROUPS differ (%u bytes, were %u)", what, gl, ng);
}

int main(void)
{
	zdtm_init("unix_peercred");
	pid_t maker = run(0, 1001, 2001);
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "ferry-peercred-%d", getpid());
	alen = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(addr.sun_path + 1);
	fds[LSN] = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(fds[LSN], (void *)&addr, alen) < 0)
		zdtm_skip("bind: %m");
	pid_t listener = run(1, 1002, 2002);
	fds[ACC_CLI] = socket(AF_UNIX, SOCK_STREAM, 0);
	fds[PEND_CLI] = socket(AF_UNIX, SOCK_STREAM, 0);
	pid_t connector = run(2, 1003, 2003);
	fds[ACC] = accept(fds[LSN], NULL, NULL);
	int sv[2];
	if (fds[ACC] < 0 || socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0)
		zdtm_skip("accept/socketpair: %m");
	fds[DG0] = sv[0], fds[DG1] = sv[1];
	for (int i = 0; i < N; i++)
		record(i);
	if (creds[PAIR0].pid != maker || creds[LSN].pid != listener || creds[ACC].pid != connector)
		zdtm_skip("this kernel records other pids (%d %d %d)", creds[PAIR0].pid, creds[LSN].pid, creds[ACC].pid);
	pend_cred = creds[ACC];	/* the pending connection was made by the same child */
	zdtm_ready();
	zdtm_wait_sigterm();
	for (int i = 0; i < N; i++)
		check(fds[i], &creds[i], groups[i], ngroups[i], names[i]);
	int pend = accept(fds[LSN], NULL, NULL);
	zdtm_check(pend >= 0, "the pending connection is not there after restore: %m");
	if (pend >= 0)
		check(pend, &pend_cred, groups[ACC], ngroups[ACC], "the pending connection, accepted now");
	zdtm_exit();
}
