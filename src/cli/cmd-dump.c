/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry dump` and `ferry pre-dump`, with CRIU's option names. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "common/log.h"
#include "engine/engine.h"
#include "transform/transform.h"
#include "transport/transport.h"

static void dump_usage(FILE *out, const char *cmd)
{
	fprintf(out,
		"usage: ferry %s -t PID -D DIR [options]\n"
		"  -t, --tree PID              the process tree to checkpoint (with its threads)\n"
		"  -D, --images-dir DIR        where the image goes (created if missing)\n"
		"  -R, --leave-running         let the tree run on after the dump (default: kill it)\n"
		"      --shell-job             the tree shares the caller's terminal\n"
		"      --tcp-close             drop established TCP connections (else they are refused)\n"
		"      --file-locks            save file locks held by the tree\n"
		"      --tcp-established       established TCP connections with both ends in the tree (TCP repair)\n"
		"      --ext-unix-sk           restore unix sockets whose peer is outside the tree\n"
		"      --skip-in-flight        drop TCP connections not accepted yet (else refused)\n"
		"      --irmap-scan-path DIR   look for watched inodes in DIR first (repeatable)\n"
		"      --force-irmap           find watched inodes by scanning directories, not by handle\n"
		"      --track-mem             keep dirty-page tracking for the next (pre-)dump\n"
		"      --prev-images-dir DIR   the previous (pre-)dump: save only pages written since\n"
		"      --page-server           send the image to a page server instead of writing it here\n"
		"      --address ADDR --port P the page server (with --page-server)\n"
		"      --token-file F          pre-shared token for the page server\n"
		"      --tls-cert F --tls-key F --tls-cacert F   TLS to the page server\n"
		"      --compress zstd|lz4     compress page data\n"
		"      --encrypt-key FILE      encrypt the image at rest (authenticated)\n"
		"  -v[N]                       verbosity 0..4 (default 2)\n"
		"  -o, --log-file FILE         debug log (default DIR/%s.log; relative names go into DIR)\n"
		"      --display-stats         print the statistics\n"
		"      --stats-json FILE       write the statistics as JSON (- for stdout)\n",
		cmd, cmd);
}

enum {
	OPT_SHELL = 256, OPT_STATS, OPT_TCP_CLOSE, OPT_LOCKS, OPT_TRACK, OPT_PREV, OPT_PS, OPT_ADDR, OPT_PORT,
	OPT_TOKEN, OPT_CERT, OPT_KEY, OPT_CA, OPT_COMPRESS, OPT_ENCRYPT, OPT_STATS_JSON, OPT_IRMAP_PATH, OPT_FORCE_IRMAP,
	OPT_TCP_EST, OPT_EXT_UNIX, OPT_SKIP_IN_FLIGHT,
};

static int run(int argc, char **argv, int pre)
{
	static const struct option longopts[] = {
		{ "tree", required_argument, NULL, 't' }, { "images-dir", required_argument, NULL, 'D' },
		{ "leave-running", no_argument, NULL, 'R' }, { "shell-job", no_argument, NULL, OPT_SHELL },
		{ "log-file", required_argument, NULL, 'o' }, { "display-stats", no_argument, NULL, OPT_STATS },
		{ "tcp-close", no_argument, NULL, OPT_TCP_CLOSE }, { "file-locks", no_argument, NULL, OPT_LOCKS },
		{ "track-mem", no_argument, NULL, OPT_TRACK }, { "prev-images-dir", required_argument, NULL, OPT_PREV },
		{ "page-server", no_argument, NULL, OPT_PS }, { "address", required_argument, NULL, OPT_ADDR },
		{ "port", required_argument, NULL, OPT_PORT }, { "token-file", required_argument, NULL, OPT_TOKEN },
		{ "tls-cert", required_argument, NULL, OPT_CERT }, { "tls-key", required_argument, NULL, OPT_KEY },
		{ "tls-cacert", required_argument, NULL, OPT_CA }, { "compress", required_argument, NULL, OPT_COMPRESS },
		{ "encrypt-key", required_argument, NULL, OPT_ENCRYPT },
		{ "stats-json", required_argument, NULL, OPT_STATS_JSON },
		{ "irmap-scan-path", required_argument, NULL, OPT_IRMAP_PATH },
		{ "force-irmap", no_argument, NULL, OPT_FORCE_IRMAP },
		{ "tcp-established", no_argument, NULL, OPT_TCP_EST }, { "ext-unix-sk", no_argument, NULL, OPT_EXT_UNIX },
		{ "skip-in-flight", no_argument, NULL, OPT_SKIP_IN_FLIGHT },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *irmap[32];
	const char *cmd = pre ? "pre-dump" : "dump";
	struct dump_opts o = { .pre_dump = pre };
	struct remote_opts ro = { 0 };
	struct transform_opts to = { 0 };
	struct ferry_err err = { 0 };
	int c, verbosity = LOG_WARN, page_server = 0;
	while ((c = getopt_long(argc, argv, "t:D:Ro:v::h", longopts, NULL)) != -1) {
		switch (c) {
		case 't': o.pid = atoi(optarg); break;
		case 'D': o.dir = optarg; break;
		case 'R': o.leave_running = 1; break;
		case OPT_SHELL: o.shell_job = 1; break;
		case 'o': o.log_file = optarg; break;
		case OPT_STATS: o.display_stats = 1; break;
		case OPT_TCP_CLOSE: o.tcp_close = 1; break;
		case OPT_LOCKS: o.file_locks = 1; break;
		case OPT_TCP_EST: o.tcp_established = 1; break;
		case OPT_EXT_UNIX: o.ext_unix_sk = 1; break;
		case OPT_SKIP_IN_FLIGHT: o.skip_in_flight = 1; break;
		case OPT_TRACK: o.track_mem = 1; break;
		case OPT_PREV: o.prev_dir = optarg; break;
		case OPT_PS: page_server = 1; break;
		case OPT_ADDR: ro.address = optarg; break;
		case OPT_PORT:
			if (remote_port_parse(optarg, &ro.port, &err) < 0) {
				fprintf(stderr, "Error: %s\n", err.msg);
				return 2;
			}
			break;
		case OPT_TOKEN: ro.token_file = optarg; break;
		case OPT_CERT: ro.tls_cert = optarg; break;
		case OPT_KEY: ro.tls_key = optarg; break;
		case OPT_CA: ro.tls_ca = optarg; break;
		case OPT_COMPRESS:
			if (transform_parse_compress(optarg, &to.compress) < 0) {
				fprintf(stderr, "Error: --compress takes zstd, lz4 or none, not '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_ENCRYPT: to.key_file = optarg; break;
		case OPT_STATS_JSON: o.stats_json = optarg; break;
		case OPT_IRMAP_PATH:
			if (o.n_irmap_scan_paths == sizeof(irmap) / sizeof(irmap[0])) {
				fprintf(stderr, "Error: too many --irmap-scan-path\n");
				return 2;
			}
			irmap[o.n_irmap_scan_paths++] = optarg;
			o.irmap_scan_paths = irmap;
			break;
		case OPT_FORCE_IRMAP: o.force_irmap = 1; break;
		case 'v': verbosity = cli_verbosity(optarg, verbosity); break;
		case 'h': dump_usage(stdout, cmd); return 0;
		default: dump_usage(stderr, cmd); return 2;
		}
	}
	if (o.pid <= 0 || !o.dir) {
		fprintf(stderr, "Error: %s needs -t PID and -D DIR\n", cmd);
		dump_usage(stderr, cmd);
		return 2;
	}
	if (page_server && (!ro.address || ro.port <= 0)) {
		fprintf(stderr, "Error: --page-server needs --address and --port\n");
		return 2;
	}
	log_set_console_level(verbosity);
	o.cancel = cli_guard_worker();	/* from here on we are the worker: see cli/guard.c */
	int r = 0;
	if (page_server) {
		ro.progress = verbosity >= LOG_WARN;
		r = transport_sink_open(&ro, &o.sink, &err);
	}
	if (to.compress || to.key_file)
		o.transform = &to;
	if (r == 0)
		r = ferry_dump(&o, &err);
	if (r < 0) {
		fprintf(stderr, "Error: %s of pid %d failed: %s\n", cmd, o.pid, fe_str(&err, r));
		if (r != -ESRCH)
			fprintf(stderr, "(the process keeps running as it was; the log in %s has the details)\n", o.dir);
		return 1;
	}
	return 0;
}

int cmd_dump(int argc, char **argv)
{
	return run(argc, argv, 0);
}

int cmd_pre_dump(int argc, char **argv)
{
	return run(argc, argv, 1);
}
