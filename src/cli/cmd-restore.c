/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry restore`, with CRIU's option names. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include "cli/cli.h"
#include "common/log.h"
#include "engine/engine.h"

static void restore_usage(FILE *out)
{
	fprintf(out,
		"usage: ferry restore -D DIR [options]\n"
		"  -D, --images-dir DIR        the image to restore\n"
		"  -d, --restore-detached      return once the process runs (default: wait for it and\n"
		"                              exit with its status)\n"
		"      --shell-job             give the process this terminal\n"
		"      --pidfile FILE          write the restored PID to FILE\n"
		"      --inherit-fd fd[N]:KEY  use our fd N for the image's file KEY (its path)\n"
		"  -v[N]                       verbosity 0..4 (default 2)\n"
		"  -o, --log-file FILE         debug log (default DIR/restore.log)\n"
		"      --display-stats         print the restore statistics\n"
		"      --stats-json FILE       write the statistics as JSON (- for stdout)\n"
		"      --encrypt-key FILE      the key of an encrypted image (32 raw bytes or 64 hex digits)\n"
		"      --tcp-established, --ext-unix-sk   accepted: what the dump saved is restored\n");
}

static int parse_inherit(const char *arg, struct inherit_fd *out)
{
	int fd, n = 0;
	if (sscanf(arg, "fd[%d]:%n", &fd, &n) != 1 || n == 0 || fd < 0 || !arg[n])
		return -1;
	out->fd = fd;
	out->key = arg + n;
	return 0;
}

enum { OPT_STATS_JSON = 256, OPT_KEY, OPT_ACCEPTED };

int cmd_restore(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "images-dir", required_argument, NULL, 'D' }, { "restore-detached", no_argument, NULL, 'd' },
		{ "shell-job", no_argument, NULL, 'j' }, { "pidfile", required_argument, NULL, 'p' },
		{ "inherit-fd", required_argument, NULL, 'i' }, { "log-file", required_argument, NULL, 'o' },
		{ "display-stats", no_argument, NULL, 's' }, { "help", no_argument, NULL, 'h' },
		{ "stats-json", required_argument, NULL, OPT_STATS_JSON },
		{ "encrypt-key", required_argument, NULL, OPT_KEY },
		{ "tcp-established", no_argument, NULL, OPT_ACCEPTED }, { "ext-unix-sk", no_argument, NULL, OPT_ACCEPTED },
		{ NULL, 0, NULL, 0 },
	};
	struct restore_opts o = { 0 };
	struct inherit_fd inh[64];
	const char *key_file = NULL;
	int c, verbosity = LOG_WARN;
	o.inherit = inh;
	while ((c = getopt_long(argc, argv, "D:djp:i:o:v::h", longopts, NULL)) != -1) {
		switch (c) {
		case 'D': o.dir = optarg; break;
		case 'd': o.detached = 1; break;
		case 'j': o.shell_job = 1; break;
		case 'p': o.pidfile = optarg; break;
		case 'i':
			if (o.n_inherit >= 64 || parse_inherit(optarg, &inh[o.n_inherit]) < 0) {
				fprintf(stderr, "Error: --inherit-fd wants fd[N]:KEY, got '%s'\n", optarg);
				return 2;
			}
			o.n_inherit++;
			break;
		case 'o': o.log_file = optarg; break;
		case 's': o.display_stats = 1; break;
		case OPT_STATS_JSON: o.stats_json = optarg; break;
		case OPT_KEY: key_file = optarg; break;
		case OPT_ACCEPTED: break;
		case 'v': verbosity = cli_verbosity(optarg, verbosity); break;
		case 'h': restore_usage(stdout); return 0;
		default: restore_usage(stderr); return 2;
		}
	}
	if (!o.dir) {
		fprintf(stderr, "Error: restore needs -D DIR\n");
		restore_usage(stderr);
		return 2;
	}
	log_set_console_level(verbosity);
	struct ferry_err err = { 0 };
	int status = 0;
	o.key_file = key_file;
	o.cancel = cli_cancel_begin();
	o.released = cli_cancel_end;
	int r = ferry_restore(&o, &status, &err);
	if (r < 0) {
		fprintf(stderr, "Error: restore from %s failed: %s\n", o.dir, fe_str(&err, r));
		if (r == -ECANCELED)
			cli_cancel_end(NULL);	/* die by the signal that asked for it */
		return 1;
	}
	if (o.detached)
		return 0;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 0;
}
