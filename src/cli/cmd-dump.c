/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry dump` and `ferry pre-dump`: the parsed options to ferry_dump(). */
#include <errno.h>
#include <stdio.h>
#include "cli/action.h"
#include "cli/cli.h"
#include "common/log.h"

int cmd_dump(struct cli_args *a)
{
	struct dump_opts *o = &a->dump;
	const char *cmd = a->cmd->name;
	struct ferry_err err = { 0 };
	int r = 0;
	if (action_run(a, "pre-dump", o->pid) < 0)
		return 1;
	if (a->page_server) {
		a->remote.progress = 0;	/* the dump's own line counts the pages, which are what is sent */
		r = transport_sink_open(&a->remote, &o->sink, &err);
	}
	if (a->transform.compress || a->transform.key_file)
		o->transform = &a->transform;
	if (r == 0)
		r = ferry_dump(o, &err);
	if (r < 0) {
		fprintf(stderr, "Error: %s of pid %d failed: %s\n", cmd, o->pid, fe_str(&err, r));
		if (r != -ESRCH)
			fprintf(stderr, "(the process keeps running as it was; the log in %s has the details)\n",
				o->work_dir ? o->work_dir : o->dir);
		return 1;
	}
	return 0;
}
