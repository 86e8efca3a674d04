// SPDX-License-Identifier: Apache-2.0
// Tasks without a vDSO (a program may unmap it; a kernel booted with vdso=0 maps none): the root
// unmaps [vdso], [vvar] and [vvar_vclock]; its child unmaps only [vdso] and keeps the rest. Neither
// calls a vDSO function afterwards (they would fault). After restore both layouts are as they were
// (nothing came back, nothing went), and system calls still work.
#include "zdtm.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *names[] = { "[vdso]", "[vvar]", "[vvar_vclock]" };

/* Unmaps the named special mappings (raw munmap: libc must not call into the vDSO anymore). */
static void unmap_some(int all)
{
	for (int i = 0; i < (all ? 3 : 1); i++) {
		struct zdtm_vma v;
		if (zdtm_find_vma_by_name(names[i], &v) == 0 && syscall(SYS_munmap, v.start, v.end - v.start) < 0)
			zdtm_fail("munmap %s", names[i]);
	}
}

/* Bit i set: names[i] is mapped. */
static int layout(void)
{
	int m = 0;
	for (int i = 0; i < 3; i++) {
		struct zdtm_vma v;
		if (zdtm_find_vma_by_name(names[i], &v) == 0)
			m |= 1 << i;
	}
	return m;
}

static int syscalls_work(void)
{
	struct timespec ts = { 0, 0 };
	return syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) == 0 && ts.tv_sec + ts.tv_nsec > 0 &&
	       syscall(SYS_getpid) == getpid();
}

int main(void)
{
	zdtm_init("no_vdso");
	int full = layout();
	pid_t kid = fork();
	if (kid == 0) {
		unmap_some(0);
		int was = layout();
		while (!zdtm_sigterm_received())
			usleep(20000);
		zdtm_check(layout() == was, "child: mappings %#x, want %#x", layout(), was);
		zdtm_check(syscalls_work(), "child: system calls fail");
		zdtm_exit();
	}
	unmap_some(1);
	zdtm_check(layout() == 0, "root: still has %#x", layout());
	printf("layout before: %#x\n", full);
	zdtm_ready();
	zdtm_wait_sigterm();
	zdtm_check(layout() == 0, "root: after restore it has %#x of [vdso] [vvar] [vvar_vclock]", layout());
	zdtm_check(syscalls_work(), "root: system calls fail");
	kill(kid, SIGTERM);
	int st = -1;
	zdtm_check(waitpid(kid, &st, 0) == kid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: status %#x", st);
	zdtm_exit();
}
