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

/* --listen / --to ADDR:PORT into r (host kept in host): 0, or 2 (the exit code) after saying why. */
static int endpoint(const char *cmd, const char *flag, const char *s, struct remote_opts *r, char *host, size_t len,
		    int port_needed)
{
	struct ferry_err err = { 0 };
	int rc = migrate_parse_endpoint(s, host, len, &r->port, &err);
	if (rc == 0 && port_needed && r->port == 0)
		rc = fe_msg(&err, EINVAL, "port 0: the destination's port is 1 to 65535");
	if (rc < 0) {
		fprintf(stderr, "Error: ferry %s: %s %s\n", cmd, flag, fe_str(&err, rc));
		return 2;
	}
	r->address = host;
	return 0;
}

int cmd_serve(struct cli_args *a)
{
	struct serve_opts o = { .listen = a->remote, .work_dir = a->images_dir };
	struct ferry_err err = { 0 };
	char host[256];
	if (endpoint("serve", "--listen", a->listen, &o.listen, host, sizeof(host), 0))
		return 2;
	int r = serve_run(&o, &err);
	return r < 0 ? fail("serve", &err, r) : 0;
}

int cmd_migrate(struct cli_args *a)
{
	struct migrate_opts o = { .pid = a->dump.pid, .remote = a->remote, .mode = (enum migrate_mode)a->mode,
				  .force = a->force, .tcp_close = a->dump.tcp_close, .work_dir = a->images_dir, .stats_json = a->dump.stats_json,
				  .print_stats = 1, .cancel = a->dump.cancel };
	struct ferry_err err = { 0 };
	char host[256];
	if (endpoint("migrate", "--to", a->to, &o.remote, host, sizeof(host), 1))
		return 2;
	int r = migrate_run(&o, &err);
	return r < 0 ? fail("migrate", &err, r) : 0;
}
