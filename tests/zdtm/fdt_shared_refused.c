// SPDX-License-Identifier: Apache-2.0
// Refusals (self-checking: runs ferry itself on a child tree): P clones A and B with CLONE_FILES and
// then unshares its own table, so A and B share a table their parent does not — restore forks each
// from its parent and cannot make that; the same with CLONE_FS for Q. `ferry dump -R` of P and of Q
// must fail naming the two pids and CLONE_FILES / CLONE_FS, and afterwards A and B still share their
// table (a descriptor B opens is there in A) and the trees run on.
#include "zdtm_refuse.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

static pid_t clone_with(unsigned long flags)
{
	fflush(NULL);
	return (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0, NULL, NULL, 0);
}

/* A sibling: on a byte from ctl, opens /dev/null at fd 140 (op 'o') or reports whether 140 is open ('q'). */
static __attribute__((noreturn)) void sibling(int ctl)
{
	for (char c; read(ctl, &c, 1) == 1;) {
		if (c == 'o')
			c = dup2(open("/dev/null", O_RDONLY), 140) == 140 ? 'y' : 'n';
		else
			c = fcntl(140, F_GETFD) >= 0 ? 'y' : 'n';
		if (write(ctl, &c, 1) != 1)
			break;
	}
	_exit(0);
}

/* The parent of two siblings sharing `what`, which it then unshares. Sends their pids on ctl. */
static pid_t parent_of_two(unsigned long what, int ctl_a, int ctl_b, pid_t kids[2])
{
	int pp[2];
	if (pipe(pp) < 0)
		return -1;
	pid_t p = fork();
	if (p == 0) {
		pid_t a = clone_with(what);
		if (a == 0)
			sibling(ctl_a);
		pid_t b = clone_with(what);
		if (b == 0)
			sibling(ctl_b);
		pid_t k[2] = { a, b };
		if (unshare(what) < 0 || write(pp[1], k, sizeof(k)) != sizeof(k))
			_exit(2);
		for (;;)
			pause();
	}
	if (p < 0 || read(pp[0], kids, 2 * sizeof(pid_t)) != 2 * sizeof(pid_t))
		return -1;
	close(pp[0]);
	close(pp[1]);
	return p;
}

static char ask(int ctl, char op)
{
	char c = '?';
	if (write(ctl, &op, 1) != 1 || read(ctl, &c, 1) != 1)
		return '?';
	return c;
}

int main(void)
{
	int sa[2], sb[2], qa[2], qb[2];
	pid_t files_kids[2], fs_kids[2];
	char sp[2][16];
	zdtm_init("fdt_shared_refused");
	zr_find_ferry();
	prctl(PR_SET_CHILD_SUBREAPER, 1);	/* every process of the test is reaped before the dump */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sa) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sb) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, qa) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, qb) < 0)
		zdtm_skip("socketpair: %m");
	pid_t p = parent_of_two(CLONE_FILES, sa[1], sb[1], files_kids);
	pid_t q = parent_of_two(CLONE_FS, qa[1], qb[1], fs_kids);
	if (p < 0 || q < 0)
		zdtm_skip("clone/unshare failed");

	snprintf(sp[0], sizeof(sp[0]), "pid %d ", files_kids[1]);
	snprintf(sp[1], sizeof(sp[1]), "pid %d,", files_kids[0]);
	zr_expect_refusal(p, "img-files", NULL, sp[0], sp[1], "CLONE_FILES", "not its parent", NULL);
	zdtm_check(ask(sb[0], 'o') == 'y' && ask(sa[0], 'q') == 'y', "after the refusal the siblings no longer share "
		   "their table");
	snprintf(sp[0], sizeof(sp[0]), "pid %d ", fs_kids[1]);
	snprintf(sp[1], sizeof(sp[1]), "pid %d,", fs_kids[0]);
	zr_expect_refusal(q, "img-fs", NULL, sp[0], sp[1], "CLONE_FS", NULL);
	zdtm_check(ask(qa[0], 'q') == 'n', "a sibling of Q is not answering after the refusal");

	pid_t all[] = { files_kids[0], files_kids[1], fs_kids[0], fs_kids[1], p, q };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		kill(all[i], SIGKILL);
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
	zdtm_ready();
	zdtm_wait_sigterm();
	zdtm_exit();
}
