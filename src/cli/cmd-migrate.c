/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry serve` and `ferry migrate`: flags into migrate.h's options; the work is in src/migrate/. */
#include <errno.h>
#include <stdio.h>
#include "cli/cli.h"
#include "migrate/migrate.h"

static int fail(const char *what, struct ferry_err *err, int r)
{
	fprintf(stderr, "Error: %s: %s\n", what, fe_str(err, r));
	return 1;
}

int cmd_serve(struct cli_args *a)
{
	struct serve_opts o = { .listen = a->remote, .work_dir = a->images_dir };
	struct ferry_err err = { 0 };
	char host[256];
	int r = migrate_parse_endpoint(a->listen, host, sizeof(host), &o.listen.port, &err);
	if (r < 0) {
		fprintf(stderr, "Error: ferry serve: --listen %s\n", fe_str(&err, r));
		return 2;
	}
	o.listen.address = host;
	r = serve_run(&o, &err);
	return r < 0 ? fail("serve", &err, r) : 0;
}

int cmd_migrate(struct cli_args *a)
{
	struct migrate_opts o = { .pid = a->dump.pid, .remote = a->remote, .mode = (enum migrate_mode)a->mode,
				  .force = a->force, .work_dir = a->images_dir, .stats_json = a->dump.stats_json,
				  .print_stats = 1, .cancel = a->dump.cancel };
	struct ferry_err err = { 0 };
	char host[256];
	int r = migrate_parse_endpoint(a->to, host, sizeof(host), &o.remote.port, &err);
	if (r == 0 && o.remote.port == 0)
		r = fe_msg(&err, EINVAL, "port 0: the destination's port is 1 to 65535");
	if (r < 0) {
		fprintf(stderr, "Error: ferry migrate: --to %s\n", fe_str(&err, r));
		return 2;
	}
	o.remote.address = host;
	r = migrate_run(&o, &err);
	return r < 0 ? fail("migrate", &err, r) : 0;
}
