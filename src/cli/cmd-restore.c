/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry restore`, with CRIU's option names. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "cli/cli.h"
#include "common/log.h"
#include "engine/engine.h"
#include "image/image.h"
#include "transform/transform.h"

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

/* The root PID of the (decoded) image. */
static pid_t image_root(const char *dir)
{
	Ferry__Inventory *inv = NULL;
	struct ferry_err e = { 0 };
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = dfd < 0 ? -errno : img_read_msg(dfd, IMG_INVENTORY, 0, (ProtobufCMessage **)&inv, &e);
	if (dfd >= 0)
		close(dfd);
	pid_t pid = r < 0 ? -1 : inv->root_pid;
	img_free(inv ? &inv->base : NULL);
	return pid;
}

/*
 * An encoded image is decoded into a private directory and restored from there, detached; the
 * log and stats-restore.img still go into the user's directory. Then the copy is removed and,
 * unless -d, we wait for the process as a plain restore does.
 */
static int restore_decoded(const struct restore_opts *uo, const char *key_file, int *status, struct ferry_err *err)
{
	char absdir[PATH_MAX], log[PATH_MAX + 256];
	if (!realpath(uo->dir, absdir))
		return fe_set(err, errno, "image directory %s", uo->dir);
	const char *name = uo->log_file ? uo->log_file : "restore.log";
	snprintf(log, sizeof(log), "%s%s%s", name[0] == '/' ? "" : absdir, name[0] == '/' ? "" : "/", name);
	char *plain = NULL;
	int r = transform_decode_dir(absdir, key_file, &plain, err);
	if (r < 0)
		return r;
	struct restore_opts o = *uo;
	o.dir = plain;
	o.log_file = log;
	o.detached = 1;
	pid_t root = image_root(plain);
	r = ferry_restore(&o, status, err);
	if (r == 0) {
		struct ferry_err e2 = { 0 };
		int rs = transform_export_file(plain, absdir, "stats-restore.img", key_file, &e2);
		if (rs < 0 && rs != -ENOENT)
			fprintf(stderr, "Warning: stats-restore.img not saved: %s\n", fe_str(&e2, rs));
	}
	transform_cleanup(plain);
	if (r == 0 && !uo->detached && root > 0)
		while (waitpid(root, status, 0) < 0 && errno == EINTR)
			;
	return r;
}

static int restore_maybe_encoded(const struct restore_opts *o, const char *key_file, int *status,
				 struct ferry_err *err)
{
	int enc = transform_dir_encoded(o->dir, err);
	if (enc < 0)
		return enc;
	if (enc)
		return restore_decoded(o, key_file, status, err);
	if (key_file)
		return fe_msg(err, EBADMSG, "--encrypt-key was given but %s holds no encrypted image: refusing it "
			      "(it may have been replaced)", o->dir);
	return ferry_restore(o, status, err);
}

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
	int r = restore_maybe_encoded(&o, key_file, &status, &err);
	if (r < 0) {
		fprintf(stderr, "Error: restore from %s failed: %s\n", o.dir, fe_str(&err, r));
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
