// SPDX-License-Identifier: Apache-2.0
// mlockall(): a parent with MCL_CURRENT|MCL_FUTURE and a child with MCL_FUTURE|MCL_ONFAULT. After
// restore the parent's memory is still locked (VmLck), a mapping made afterwards is locked and
// populated at once; the child's new mapping is locked but only on fault (VmFlags "lo lf", pages
// absent until touched).
#include "zdtm.h"
#include "memtest.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096
static struct smaps s;

/* Maps 4 pages after restore: locked ("lo"), on fault ("lf") as wanted, resident as wanted. */
static void check_new_mapping(const char *who, int onfault)
{
	unsigned char vec[4];
	char *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	zdtm_check(p != MAP_FAILED, "%s: mmap", who);
	if (p == MAP_FAILED)
		return;
	smaps_read(&s);
	zdtm_check(smaps_has(&s, p, "lo"), "%s: a mapping made after restore is not locked (MCL_FUTURE lost)", who);
	zdtm_check(smaps_has(&s, p, "lf") == onfault, "%s: a new mapping is%s locked on fault", who, onfault ? " not" : "");
	zdtm_check(mincore(p, 4 * PG, vec) == 0 && (vec[2] & 1) == !onfault, "%s: a new mapping is%s resident before use",
		   who, onfault ? "" : " not");
}

static void child_setup(void)
{
	munlockall();
	if (mlockall(MCL_FUTURE | MCL_ONFAULT) < 0)
		_exit(2);
}

static void child_check(void)
{
	check_new_mapping("child", 1);
}

int main(void)
{
	char lck0[32], lck1[32];
	zdtm_init("mlockall");
	if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
		zdtm_skip("mlockall: %m");
	pid_t child = mt_child(child_setup, child_check);
	zdtm_status_field("/proc/self/status", "VmLck", lck0, sizeof(lck0));
	zdtm_ready();
	zdtm_wait_sigterm();
	zdtm_status_field("/proc/self/status", "VmLck", lck1, sizeof(lck1));
	zdtm_check(strcmp(lck0, lck1) == 0, "VmLck %s, was %s", lck1, lck0);
	check_new_mapping("parent", 0);
	mt_child_finish(child);
	zdtm_exit();
}
