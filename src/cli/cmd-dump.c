/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry dump`, with CRIU's option names. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include "cli/cli.h"
#include "common/log.h"
#include "engine/engine.h"

static void dump_usage(FILE *out)
{
	fprintf(out,
		"usage: ferry dump -t PID -D DIR [options]\n"
		"  -t, --tree PID          the process to checkpoint (with its threads)\n"
		"  -D, --images-dir DIR    where the image goes (created if missing)\n"
		"  -R, --leave-running     let the process run on after the dump (default: kill it)\n"
		"      --shell-job         the process shares the caller's terminal\n"
		"  -v[N]                   verbosity 0..4 (default 2)\n"
		"  -o, --log-file FILE     debug log (default DIR/dump.log; relative names go into DIR)\n"
		"      --display-stats     print the dump statistics\n"
		"      --tcp-close         drop established TCP connections (else they are refused)\n"
		"      --file-locks        save file locks held by the tree\n");
}

int cmd_dump(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "tree", required_argument, NULL, 't' }, { "images-dir", required_argument, NULL, 'D' },
		{ "leave-running", no_argument, NULL, 'R' }, { "shell-job", no_argument, NULL, 'j' },
		{ "log-file", required_argument, NULL, 'o' }, { "display-stats", no_argument, NULL, 's' },
		{ "tcp-close", no_argument, NULL, 'T' }, { "file-locks", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct dump_opts o = { 0 };
	int c, verbosity = LOG_WARN;
	while ((c = getopt_long(argc, argv, "t:D:Rjo:v::h", longopts, NULL)) != -1) {
		switch (c) {
		case 't': o.pid = atoi(optarg); break;
		case 'D': o.dir = optarg; break;
		case 'R': o.leave_running = 1; break;
		case 'j': o.shell_job = 1; break;
		case 'o': o.log_file = optarg; break;
		case 's': o.display_stats = 1; break;
		case 'T': o.tcp_close = 1; break;
		case 'L': o.file_locks = 1; break;
		case 'v': verbosity = cli_verbosity(optarg, verbosity); break;
		case 'h': dump_usage(stdout); return 0;
		default: dump_usage(stderr); return 2;
		}
	}
	if (o.pid <= 0 || !o.dir) {
		fprintf(stderr, "Error: dump needs -t PID and -D DIR\n");
		dump_usage(stderr);
		return 2;
	}
	log_set_console_level(verbosity);
	struct ferry_err err = { 0 };
	int r = ferry_dump(&o, &err);
	if (r < 0) {
		fprintf(stderr, "Error: dump of pid %d failed: %s\n", o.pid, fe_str(&err, r));
		if (r != -ESRCH)
			fprintf(stderr, "(the process keeps running as it was; the log in %s has the details)\n", o.dir);
		return 1;
	}
	return 0;
}
