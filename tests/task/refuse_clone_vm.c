// SPDX-License-Identifier: Apache-2.0
// Refused at dump: a child made by clone(CLONE_VM) without CLONE_THREAD shares the root's address
// space. After the refused dump both run on: the child still sees the root's writes.
#include "zdtm.h"

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int word;
static char stack[65536] __attribute__((aligned(16)));

static int child(void *arg)
{
	while (word != 2)
		usleep(1000);
	word = 3;
	return 0;
}

int main(void)
{
	zdtm_init("refuse_clone_vm");
	pid_t c = clone(child, stack + sizeof(stack), CLONE_VM | SIGCHLD, NULL);
	if (c < 0)
		return 1;
	word = 1;
	zdtm_ready();
	zdtm_wait_sigterm();
	word = 2;
	int st = -1;
	zdtm_check(waitpid(c, &st, 0) == c && WIFEXITED(st) && word == 3, "the child no longer shares memory (%#x, %d)",
		   st, word);
	zdtm_exit();
}
