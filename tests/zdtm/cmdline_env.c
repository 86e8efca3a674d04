// SPDX-License-Identifier: Apache-2.0
// What /proc shows of a process's own memory layout and start-up data: /proc/self/cmdline after the
// program rewrote argv[0] in place (as setproctitle does), /proc/self/environ, /proc/self/auxv, the
// layout fields of /proc/self/stat (start_code .. env_end), /proc/self/exe, and the child-subreaper
// flag (PR_GET_CHILD_SUBREAPER). After restore each reads exactly as before the dump.
#include "zdtm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define BIG 65536

/* Fields 26-28 and 45-51 of /proc/self/stat (the mm layout), as one string. */
static void stat_layout(char *out, size_t len)
{
	static char buf[4096];
	out[0] = 0;
	if (zdtm_read_file("/proc/self/stat", buf, sizeof(buf)) < 0)
		return;
	char *p = strrchr(buf, ')');
	int field = 2;
	size_t o = 0;
	for (char *tok = strtok(p + 1, " \n"); tok; tok = strtok(NULL, " \n")) {
		field++;
		if ((field >= 26 && field <= 28) || (field >= 45 && field <= 51))
			o += snprintf(out + o, len - o, "%d=%s ", field, tok);
	}
}

struct snap {
	char cmdline[4096], environ[BIG], auxv[4096], layout[1024], exe[4096];
	ssize_t ncmd, nenv, naux;
	int subreaper;
};

static void take(struct snap *s)
{
	s->ncmd = zdtm_read_file("/proc/self/cmdline", s->cmdline, sizeof(s->cmdline));
	s->nenv = zdtm_read_file("/proc/self/environ", s->environ, sizeof(s->environ));
	s->naux = zdtm_read_file("/proc/self/auxv", s->auxv, sizeof(s->auxv));
	stat_layout(s->layout, sizeof(s->layout));
	zdtm_readlink("/proc/self/exe", s->exe, sizeof(s->exe));
	s->subreaper = -1;
	prctl(PR_GET_CHILD_SUBREAPER, &s->subreaper);
}

static struct snap before, after;

int main(int argc, char **argv)
{
	zdtm_init("cmdline_env");
	size_t n = strlen(argv[0]);
	memset(argv[0], 0, n);
	snprintf(argv[0], n + 1, "%s", "cmdline-env: worker");	/* in place, as setproctitle */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	take(&before);
	zdtm_check(before.ncmd > 0 && !strncmp(before.cmdline, "cmdline-env", n < 11 ? n : 11),
		   "cmdline before the dump: %s", before.cmdline);
	zdtm_check(before.subreaper == 1, "not a subreaper before the dump");
	zdtm_ready();
	zdtm_wait_sigterm();

	take(&after);
	zdtm_check(after.ncmd == before.ncmd && !memcmp(after.cmdline, before.cmdline, before.ncmd),
		   "cmdline: '%s' (%zd bytes), was '%s' (%zd)", after.cmdline, after.ncmd, before.cmdline, before.ncmd);
	zdtm_check(after.nenv == before.nenv && !memcmp(after.environ, before.environ, before.nenv),
		   "environ differs (%zd bytes, was %zd)", after.nenv, before.nenv);
	zdtm_check(after.naux == before.naux && !memcmp(after.auxv, before.auxv, before.naux),
		   "auxv differs (%zd bytes, was %zd)", after.naux, before.naux);
	zdtm_check(!strcmp(after.layout, before.layout), "stat layout: %s, was %s", after.layout, before.layout);
	zdtm_check(!strcmp(after.exe, before.exe), "exe: %s, was %s", after.exe, before.exe);
	zdtm_check(after.subreaper == 1, "PR_GET_CHILD_SUBREAPER: %d after restore", after.subreaper);
	zdtm_exit();
}
