/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry page-server`, `ferry export`, `ferry import` and `ferry image verify|merge`. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "common/log.h"
#include "engine/chain.h"
#include "transport/transport.h"

static int fail(const char *what, struct ferry_err *err, int r)
{
	fprintf(stderr, "Error: %s: %s\n", what, fe_str(err, r));
	return 1;
}

int cmd_page_server(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "address", required_argument, NULL, 'a' }, { "port", required_argument, NULL, 'p' },
		{ "images-dir", required_argument, NULL, 'D' }, { "token-file", required_argument, NULL, 'T' },
		{ "tls-cert", required_argument, NULL, 'c' }, { "tls-key", required_argument, NULL, 'k' },
		{ "tls-cacert", required_argument, NULL, 'C' }, { "forever", no_argument, NULL, 'f' },
		{ "insecure", no_argument, NULL, 'I' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct remote_opts o = { 0 };
	struct ferry_err err = { 0 };
	const char *dir = NULL;
	int c, forever = 0, verbosity = LOG_WARN, port_set = 0;
	while ((c = getopt_long(argc, argv, "D:v::h", longopts, NULL)) != -1) {
		switch (c) {
		case 'a': o.address = optarg; break;
		case 'p':
			if (remote_port_parse(optarg, &o.port, &err) < 0) {
				fprintf(stderr, "Error: %s\n", err.msg);
				return 2;
			}
			port_set = 1;
			break;
		case 'D': dir = optarg; break;
		case 'T': o.token_file = optarg; break;
		case 'c': o.tls_cert = optarg; break;
		case 'k': o.tls_key = optarg; break;
		case 'C': o.tls_ca = optarg; break;
		case 'f': forever = 1; break;
		case 'I': o.insecure = 1; break;
		case 'v': verbosity = cli_verbosity(optarg, verbosity); break;
		case 'h':
		default:
			fprintf(c == 'h' ? stdout : stderr,
				"usage: ferry page-server --port P -D DIR [--address A (127.0.0.1)] [--token-file F]\n"
				"       [--tls-cert F --tls-key F --tls-cacert F] [--insecure] [--forever]\n"
				"  needs --token-file or client certificates (--tls-cacert), or --insecure;\n"
				"  --port 0 takes a free port and prints it\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (!dir || !port_set) {
		fprintf(stderr, "Error: page-server needs --port and -D DIR\n");
		return 2;
	}
	log_set_console_level(verbosity);
	int r = page_server_run(&o, dir, forever, &err);
	return r < 0 ? fail("page server", &err, r) : 0;
}

int cmd_export(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: ferry export DIR FILE\n");
		return 2;
	}
	struct ferry_err err = { 0 };
	int r = image_export(argv[1], argv[2], &err);
	return r < 0 ? fail("export", &err, r) : 0;
}

int cmd_import(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: ferry import FILE DIR\n");
		return 2;
	}
	struct ferry_err err = { 0 };
	int r = image_import(argv[1], argv[2], &err);
	return r < 0 ? fail("import", &err, r) : 0;
}

/* Takes "--encrypt-key FILE" out of argv (anywhere after the subcommand). */
static const char *take_key(int *argc, char **argv)
{
	const char *key = NULL;
	for (int i = 1; i + 1 < *argc; i++)
		if (!strcmp(argv[i], "--encrypt-key")) {
			key = argv[i + 1];
			memmove(&argv[i], &argv[i + 2], (size_t)(*argc - i - 2) * sizeof(*argv));
			*argc -= 2;
			break;
		}
	return key;
}

int cmd_image(int argc, char **argv)
{
	struct ferry_err err = { 0 };
	const char *key = take_key(&argc, argv);
	if (argc == 3 && !strcmp(argv[1], "verify")) {
		int r = chain_verify(argv[2], key, stdout, &err);
		return r < 0 ? fail(argv[2], &err, r) : 0;
	}
	if (argc == 4 && !strcmp(argv[1], "merge")) {
		int r = chain_merge(argv[2], argv[3], key, &err);
		return r < 0 ? fail("merge", &err, r) : 0;
	}
	fprintf(stderr, "usage: ferry image verify DIR [--encrypt-key FILE]\n"
		"       ferry image merge DIR OUT [--encrypt-key FILE]\n");
	return 2;
}
