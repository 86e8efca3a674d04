// SPDX-License-Identifier: Apache-2.0
// A process tree: children and a grandchild at their PIDs with parent links, a child in its own
// session, a process group with a member, a zombie with its exit status, and memory that
// children still share copy-on-write with the parent next to pages they changed.
#include "zdtm.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define AREA (16 << 20)
#define PG 4096

static char *area;
static volatile sig_atomic_t go;

static void on_term(int s) { go = 1; }

static int verify_area(int changed_by_me)
{
	for (size_t off = 0; off < AREA; off += PG) {
		unsigned char want = (unsigned char)(off / PG);
		if (changed_by_me && (off / PG) % 2 == 0)
			want = (unsigned char)~want;
		if ((unsigned char)area[off] != want)
			return 0;
	}
	return 1;
}

/* A child: waits for SIGTERM from the parent, checks its own view, exits 0 when all is right. */
static int child_main(pid_t want_ppid, int change, int own_session, pid_t want_pgid)
{
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	if (change)
		for (size_t off = 0; off < AREA; off += 2 * PG)
			area[off] = (char)~(unsigned char)(off / PG);
	if (own_session)
		setsid();
	while (!go)
		pause();
	int ok = getppid() == want_ppid && verify_area(change);
	ok = ok && (!own_session || getsid(0) == getpid());
	ok = ok && (!want_pgid || getpgid(0) == want_pgid);
	_exit(ok ? 0 : 1);
}

int main(void)
{
	zdtm_init("tree");
	area = mmap(NULL, AREA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (size_t off = 0; off < AREA; off += PG)
		area[off] = (char)(off / PG);
	pid_t me = getpid(), kids[3];
	kids[0] = fork();
	if (!kids[0])
		child_main(me, 1, 0, 0);
	kids[1] = fork();
	if (!kids[1]) {
		setpgid(0, 0);
		pid_t g = fork();	/* a grandchild in its parent's group */
		if (!g)
			child_main(getppid(), 0, 0, getpgid(0));
		struct sigaction sa = { .sa_handler = on_term };
		sigaction(SIGTERM, &sa, NULL);
		while (!go)
			pause();
		kill(g, SIGTERM);
		int st;
		int ok = waitpid(g, &st, 0) == g && WIFEXITED(st) && WEXITSTATUS(st) == 0;
		ok = ok && getppid() == me && getpgid(0) == getpid() && verify_area(0);
		_exit(ok ? 0 : 1);
	}
	kids[2] = fork();
	if (!kids[2])
		child_main(me, 0, 1, 0);
	pid_t zombie = fork();
	if (!zombie)
		_exit(42);
	usleep(100000);	/* let the zombie die and the session/group calls happen */
	zdtm_ready();
	zdtm_wait_sigterm();

	zdtm_check(verify_area(0), "parent memory differs");
	for (int i = 0; i < 3; i++) {
		kill(kids[i], SIGTERM);
		int st;
		pid_t w = waitpid(kids[i], &st, 0);
		zdtm_check(w == kids[i], "child %d: waitpid returned %d", kids[i], w);
		zdtm_check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d reports failure (status %#x)", kids[i], st);
	}
	int st;
	pid_t w = waitpid(zombie, &st, WNOHANG);
	zdtm_check(w == zombie, "zombie %d: waitpid returned %d", zombie, w);
	zdtm_check(WIFEXITED(st) && WEXITSTATUS(st) == 42, "zombie status %#x, want exit 42", st);
	zdtm_exit();
}
