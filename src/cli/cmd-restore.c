/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ferry restore`: the parsed options to ferry_restore() (which checks the CPU, --cpu-cap), then
 * what the CLI does around it: once the tree runs --status-fd is told, --exec-cmd runs, or
 * ferry waits for the root and exits with its status.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cli/action.h"
#include "cli/cli.h"
#include "common/log.h"
#include "common/safefile.h"
#include "image/source.h"
#include "transform/transform.h"
#include "transport/transport.h"

/*
 * The root PID of the image. The inventory is read as the restore reads it: from a directory
 * that passes the same checks, decoded with the key when encrypted.
 */
static int image_root(const struct restore_opts *o, pid_t *root, struct ferry_err *err)
{
	Ferry__Inventory *inv = NULL;
	struct img_src src = { .dirfd = -1 };
	int dfd = safe_dir_open(o->dir, 0, err);
	int r = dfd < 0 ? fe_wrap(err, dfd, "image directory") : img_src_open_fd(&src, dfd, o->dir, err);
	if (r == 0)
		r = transform_src_attach(&src, o->key_file, err);
	if (r == 0)
		r = img_src_read_msg(&src, IMG_INVENTORY, 0, (ProtobufCMessage **)&inv, err);
	img_src_close(&src);
	if (dfd >= 0)
		close(dfd);
	if (r == -ENOENT)
		return fe_msg(err, ENOENT, "%s holds no complete image (inventory.img is missing)", o->dir);
	if (r < 0)
		return r;
	*root = inv->root_pid;
	img_free(&inv->base);
	return 0;
}

/* The image from an export file, received into memory (transport/src-stream.c); its root PID. */
static int export_src(struct cli_args *a, struct img_src *src, pid_t *root, struct ferry_err *err)
{
	Ferry__Inventory *inv = NULL;
	int r = img_src_open_export(src, a->from_export, err);
	if (r == 0 && (r = transform_src_attach(src, a->restore.key_file, err)) == 0)
		r = img_src_read_msg(src, IMG_INVENTORY, 0, (ProtobufCMessage **)&inv, err);
	if (r == 0)
		*root = inv->root_pid;
	img_free((ProtobufCMessage *)inv);
	return r;
}

/* An encrypted image is decoded as it is read (--encrypt-key: restore_opts.key_file). */
static int restore(struct cli_args *a, pid_t *root, struct ferry_err *err)
{
	struct restore_opts *o = &a->restore;
	struct img_src src = { .dirfd = -1 };
	int r = a->from_export ? export_src(a, &src, root, err) : image_root(o, root, err);
	if (r == 0 && a->from_export)
		o->src = &src;	/* taken over by the restore */
	r = r < 0 ? r : ferry_restore(o, NULL, err);
	img_src_close(&src);
	return r;
}

/* __WALL: the root keeps its own exit signal, which need not be SIGCHLD. */
static int wait_root(pid_t root)
{
	int st = 0;
	while (waitpid(root, &st, __WALL) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "Error: wait for the restored pid %d: %s\n", root, strerror(errno));
			return 1;
		}
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 0;
}

int cmd_restore(struct cli_args *a)
{
	struct ferry_err err = { 0 };
	pid_t root = 0;
	/* SIGINT, SIGTERM, SIGHUP cancel the restore until its tree runs (cli/guard.c) */
	a->restore.cancel = cli_cancel_begin();
	a->restore.released = cli_cancel_end;
	int r = action_run(a, "pre-restore", 0);
	if (r == 0 && (r = restore(a, &root, &err)) < 0)
		fprintf(stderr, "Error: restore from %s failed: %s\n", a->restore.dir, fe_str(&err, r));
	if (r < 0) {
		cli_cancel_end(NULL);	/* cancelled: die by the signal that asked for it */
		return 1;
	}
	if (action_run(a, "post-resume", root) < 0)
		fprintf(stderr, "Warning: the tree runs on (pid %d)\n", root);
	if (a->status_fd >= 0) {
		if (write(a->status_fd, "", 1) != 1)
			fprintf(stderr, "Warning: cannot write to --status-fd %d: %s\n", a->status_fd, strerror(errno));
		close(a->status_fd);
	}
	if (a->exec_cmd) {
		fflush(NULL);
		execvp(a->args[0], a->args);
		fprintf(stderr, "Error: --exec-cmd %s: %s (pid %d runs on, restored)\n", a->args[0], strerror(errno), root);
		return 1;
	}
	return a->restore.detached ? 0 : wait_root(root);
}
