// SPDX-License-Identifier: Apache-2.0
// memfd_secret(2) memory (off the kernel's direct map: only the task that maps it can read it), in a
// parent and its child: an object held by an fd and mapped, and one only mapped (its fd closed, and
// only its second page mapped). After restore the contents are there, the fd maps the same object
// as the mapping, the child's writes reach the parent, and VmFlags ("lo dd") are the same.
#include "zdtm.h"
#include "memtest.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096
static int sfd;
static char *held, *only;

static void child_check(void)
{
	zdtm_check(strcmp(held + PG, "secret, page 1") == 0 && strcmp(only, "only mapped") == 0,
		   "child: secret memory content");
	strcpy(only + 100, "child");
	strcpy(held + 100, "child");
}

int main(void)
{
	zdtm_init("memfd_secret");
	sfd = syscall(447 /* memfd_secret */, 0);
	if (sfd < 0)
		zdtm_skip("memfd_secret: %m");
	int ofd = syscall(447, 0);
	if (ftruncate(sfd, 2 * PG) < 0 || ofd < 0 || ftruncate(ofd, 2 * PG) < 0)
		return 2;
	held = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
	only = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ofd, PG);
	close(ofd);
	if (held == MAP_FAILED || only == MAP_FAILED)
		return 2;
	strcpy(held, "secret, page 0");
	strcpy(held + PG, "secret, page 1");
	strcpy(only, "only mapped");
	pid_t child = mt_child(NULL, child_check);
	mt_layout_save();
	zdtm_ready();
	zdtm_wait_sigterm();
	mt_layout_check("parent");
	zdtm_check(strcmp(held, "secret, page 0") == 0 && strcmp(held + PG, "secret, page 1") == 0,
		   "secret memory held by an fd: '%s' '%s'", held, held + PG);
	zdtm_check(strcmp(only, "only mapped") == 0, "secret memory only mapped: '%s'", only);
	char *again = mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, sfd, 0);
	zdtm_check(again != MAP_FAILED && strcmp(again + PG, "secret, page 1") == 0,
		   "the fd does not map the same secret memory");
	mt_child_finish(child);
	zdtm_check(strcmp(only + 100, "child") == 0 && strcmp(held + 100, "child") == 0,
		   "the parent does not see the child's writes to secret memory");
	zdtm_exit();
}
