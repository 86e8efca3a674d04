/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ferry restore`: the parsed options to ferry_restore(), then what the CLI does around it: an
 * encrypted image is decoded first, the CPU is checked (--cpu-cap), and once the tree runs
 * --status-fd is told, --exec-cmd runs, or ferry waits for the root and exits with its status.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cli/action.h"
#include "cli/cli.h"
#include "common/kprobe.h"
#include "common/log.h"
#include "image/image.h"

/* The root PID of the image in dir, after checking it suits this CPU (--cpu-cap). */
static int image_check(const char *dir, unsigned cpu_cap, pid_t *root, struct ferry_err *err)
{
	Ferry__Inventory *inv = NULL;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = dfd < 0 ? fe_set(err, errno, "open image directory %s", dir) :
			  img_read_msg(dfd, IMG_INVENTORY, 0, (ProtobufCMessage **)&inv, err);
	if (dfd >= 0)
		close(dfd);
	if (r == -ENOENT)
		return fe_msg(err, ENOENT, "%s holds no complete image (inventory.img is missing)", dir);
	if (r < 0)
		return r;
	*root = inv->root_pid;
	/* FERRY_FAULT=restore-cpu-x87-sse: pretend this CPU has x87 and SSE state only */
	uint64_t here = fault_point("restore-cpu-x87-sse") ? 0x3 : kprobe_get()->xcr0;
	if ((cpu_cap & CPU_CAP_FPU) && inv->has_xcr0 && (inv->xcr0 & ~here))
		r = fe_msg(err, EOPNOTSUPP, "the image uses XSAVE features this CPU lacks (XCR0 %#llx, here %#llx): "
			   "restore it on a CPU that has them (--cpu-cap=none skips this check)",
			   (unsigned long long)inv->xcr0, (unsigned long long)here);
	img_free(&inv->base);
	return r;
}

/*
 * An encoded image is decoded into a private directory and restored from there; its log and
 * statistics go into the work directory, by default the user's image directory.
 */
static int restore_decoded(struct restore_opts *o, const char *key_file, unsigned cpu_cap, pid_t *root,
			   struct ferry_err *err)
{
	char absdir[PATH_MAX];
	if (!realpath(o->dir, absdir))
		return fe_set(err, errno, "image directory %s", o->dir);
	char *plain = NULL;
	int r = transform_decode_dir(absdir, key_file, &plain, err);
	if (r < 0)
		return r;
	struct restore_opts po = *o;
	po.dir = plain;
	po.work_dir = o->work_dir ? o->work_dir : absdir;
	r = image_check(plain, cpu_cap, root, err);
	if (r == 0)
		r = ferry_restore(&po, NULL, err);
	transform_cleanup(plain);
	return r;
}

static int restore(struct cli_args *a, pid_t *root, struct ferry_err *err)
{
	struct restore_opts *o = &a->restore;
	int enc = transform_dir_encoded(o->dir, err);
	if (enc < 0)
		return enc;
	if (enc)
		return restore_decoded(o, a->encrypt_key, a->cpu_cap, root, err);
	if (a->encrypt_key)
		return fe_msg(err, EBADMSG, "--encrypt-key was given but %s holds no encrypted image: refusing it "
			      "(it may have been replaced)", o->dir);
	int r = image_check(o->dir, a->cpu_cap, root, err);
	return r < 0 ? r : ferry_restore(o, NULL, err);
}

static int wait_root(pid_t root)
{
	int st = 0;
	while (waitpid(root, &st, 0) < 0) {
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
	if (action_run(a, "pre-restore", 0) < 0)
		return 1;
	int r = restore(a, &root, &err);
	if (r < 0) {
		fprintf(stderr, "Error: restore from %s failed: %s\n", a->restore.dir, fe_str(&err, r));
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
