/* SPDX-License-Identifier: Apache-2.0 */
/* What ferry_op_run() does for each kind of operation: the engine's entry points, given the handle's options. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/kprobe.h"
#include "common/safefile.h"
#include "engine/chain.h"
#include "engine/stats.h"
#include "image/show.h"
#include "image/source.h"
#include "lib/op.h"

static int required(ferry_op *op, const char *what)
{
	return fe_class(&op->err, FE_INVALID, fe_msg(&op->err, EINVAL, "%s %s required", what,
						     strchr(what, ' ') ? "are" : "is"));
}

static int run_dump(ferry_op *op)
{
	struct dump_opts *o = &op->dump;
	struct img_sink *sink = NULL;
	int r = 0;
	if (!o->pid || !o->dir)
		return required(op, "tree and images-dir");
	o->cancel = &op->cancel;
	o->report = &op->report;
	o->hook = op_hook;
	o->hook_arg = op;
	if (op->page_server) {
		op->remote.progress = 0;	/* the dump's own line counts the pages, which are what is sent */
		r = transport_sink_open(&op->remote, &sink, &op->err);
		o->sink = sink;
	}
	o->transform = op->transform.compress || op->transform.key_file ? &op->transform : NULL;
	if (r == 0)
		r = ferry_dump(o, &op->err);
	transport_sink_free(sink);
	o->sink = NULL;
	return r;
}

_Static_assert(FERRY_CPU_CAP_FPU == FERRY_CPU_FPU && FERRY_CPU_CAP_INS == FERRY_CPU_INS, "cpu-cap values");

/* What "cpu-cap" leaves out of the pre-checks (engine/precheck.c). */
static unsigned cpu_skip(const ferry_op *op)
{
	return (FERRY_CPU_FPU | FERRY_CPU_INS) & ~op->cpu_cap;
}

/*
 * The image is complete, before the restore opens anything in its directory: the inventory is
 * read as the restore reads it, from a directory that passes the same checks, decoded with the
 * key when encrypted. (Whether it suits this machine is the restore's "precheck" stage.)
 */
static int image_check(ferry_op *op)
{
	const struct restore_opts *o = &op->restore;
	struct ferry_err *err = &op->err;
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
		return fe_class(err, FE_IMAGE_CORRUPT, fe_msg(err, ENOENT, "%s holds no complete image (inventory.img is "
							       "missing)", o->dir));
	img_free((ProtobufCMessage *)inv);
	return r;
}

static int run_restore(ferry_op *op)
{
	struct restore_opts *o = &op->restore;
	if (op->from_export && op->dir)
		return fe_class(&op->err, FE_INVALID, fe_msg(&op->err, EINVAL, "images-dir and from-export do not go "
								     "together"));
	if (op->from_export)
		o->dir = op->from_export;	/* names the image in messages */
	if (!o->dir)
		return required(op, "images-dir (or from-export)");
	o->cancel = &op->cancel;
	o->report = &op->report;
	o->hook = op_hook;
	o->hook_arg = op;
	o->released = op_ready;
	o->released_arg = op;
	o->cpu_skip = cpu_skip(op);
	return op->shim ? op_restore_shim(op) : op_restore_direct(op);
}

/*
 * "from-export": the image an export file holds, received into memory (transport/src-stream.c):
 * no directory; the log and statistics go into the work directory, or nowhere.
 */
static int restore_export(ferry_op *op)
{
	struct img_src src = { .dirfd = -1 };
	int r = img_src_open_export(&src, op->from_export, &op->err);
	if (r == 0) {
		op->restore.src = &src;	/* taken over by the restore */
		r = ferry_restore(&op->restore, NULL, &op->err);
		op->restore.src = NULL;
	}
	img_src_close(&src);
	return r;
}

int op_restore_direct(ferry_op *op)
{
	if (op->from_export)
		return restore_export(op);
	int r = image_check(op);
	return r < 0 ? r : ferry_restore(&op->restore, NULL, &op->err);
}

static int run_show(ferry_op *op)
{
	char dir[PATH_MAX], base[PATH_MAX];
	struct stat st;
	const char *path = op->path ? op->path : op->dir;
	if (!path)
		return required(op, "path");
	if (stat(path, &st) < 0)
		return fe_set(&op->err, errno, "%s", path);
	int one = !S_ISDIR(st.st_mode);
	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(base, sizeof(base), "%s", path);
	struct img_src src;
	int r = img_src_open(&src, one ? dirname(dir) : path, &op->err);
	if (r == 0)
		r = transform_src_attach(&src, op->transform.key_file, &op->err);
	if (r == 0)
		r = img_show_src(&src, one ? basename(base) : NULL, op->out, &op->err);
	img_src_close(&src);
	return r;
}

/* Features by ferry's names (those of `ferry check --json`) and the CRIU names scripts ask for. */
static const struct {
	const char *name;
	size_t off;
} features[] = {
	{ "userfaultfd_wp_async", offsetof(struct kprobe, uffd_wp_async) },
	{ "pagemap_scan", offsetof(struct kprobe, pagemap_scan) },
	{ "soft_dirty", offsetof(struct kprobe, soft_dirty) },
	{ "clone3_set_tid", offsetof(struct kprobe, clone3_set_tid) },
	{ "ns_last_pid", offsetof(struct kprobe, ns_last_pid) },
	{ "pidfd_getfd", offsetof(struct kprobe, pidfd_getfd) },
	{ "kcmp", offsetof(struct kprobe, kcmp) },
	{ "time_namespace", offsetof(struct kprobe, time_ns) },
	{ "timens", offsetof(struct kprobe, time_ns) },
	{ "rseq", offsetof(struct kprobe, rseq) },
	{ "arch_map_vdso", offsetof(struct kprobe, map_vdso) },
	{ "timer_create_restore_ids", offsetof(struct kprobe, timer_restore_ids) },
	{ "ptrace_get_rseq_configuration", offsetof(struct kprobe, ptrace_get_rseq) },
	{ "get_rseq_conf", offsetof(struct kprobe, ptrace_get_rseq) },
};

/* 0 present; -EOPNOTSUPP absent; -ENOENT a name nobody knows (CRIU's answer: absent too). */
static int check_feature(ferry_op *op, const struct kprobe *kp, const char *name)
{
	int quiet = op->verbosity == 0;	/* -v0: the status says it */
	if (!strcmp(name, "list")) {
		fprintf(op->out, "mem_dirty_track\n");
		for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
			fprintf(op->out, "%s\n", features[i].name);
		return 0;
	}
	/* Pre-dumps always work: by userfaultfd write-protect, else by page hashes. */
	if (!strcmp(name, "mem_dirty_track")) {
		if (!quiet)
			fprintf(op->out, "mem_dirty_track is supported\n");
		return 0;
	}
	for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
		if (strcmp(name, features[i].name))
			continue;
		int have = *(const int *)((const char *)kp + features[i].off);
		if (!quiet)
			fprintf(op->out, "%s is %s\n", name, have ? "supported" : "not supported");
		return have ? 0 : fe_class(&op->err, FE_UNSUPPORTED, fe_msg(&op->err, EOPNOTSUPP, "%s is not supported", name));
	}
	return fe_class(&op->err, FE_INVALID, fe_msg(&op->err, ENOENT, "unknown feature '%s' ('ferry check --feature list' "
							     "names them)", name));
}

/* "image": whether that image can be restored here; every difference is a finding (engine/precheck.c). */
static int check_image(ferry_op *op)
{
	struct ferry_check_report rep = { 0 };
	op->restore.cpu_skip = cpu_skip(op);
	int r = ferry_check_image(&op->restore, &rep, &op->err);
	op->findings = rep.items;	/* the handle's now: freed with its result */
	op->nfindings = rep.n;
	if (r == 0 && op->verbosity != 0)	/* -v0: the status says it */
		fprintf(op->out, "%s can be restored here.\n", op->check_image);
	return r;
}

static int run_check(ferry_op *op)
{
	const struct kprobe *kp = kprobe_get();
	if (op->check_image)
		return check_image(op);
	if (op->feature)
		return check_feature(op, kp, op->feature);
	kprobe_print(kp, op->out, op->json);
	const char *missing = !kp->clone3_set_tid ? "clone3 with set_tid" :
			      !kp->map_vdso ? "arch_prctl(ARCH_MAP_VDSO_64)" :
			      !kp->kcmp ? "kcmp" : NULL;
	if (missing)
		return fe_class(&op->err, FE_UNSUPPORTED, fe_msg(&op->err, EOPNOTSUPP, "this kernel lacks %s: restore "
								      "cannot work here", missing));
	if (!op->json)
		fprintf(op->out, "Looks good.\n");
	return 0;
}

/* Called once the server listens: "pidfile" (relative: into the images directory, as CRIU's), then the caller's ready. */
static void ps_listening(void *arg)
{
	ferry_op *op = arg;
	if (op->pidfile) {
		char path[4096], buf[32];
		struct ferry_err e = { 0 };
		record_path(path, sizeof(path), NULL, op->dir, op->pidfile);
		int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
		int r = fault_point("page-server-write-pidfile") ? fe_msg(&e, EIO, "fault injected")
								 : safe_write_path(path, buf, (size_t)n, 0644, &e);
		if (r < 0)
			pr_warn("cannot write pidfile %s: %s\n", path, fe_str(&e, r));
	}
	op_ready(op);
}

/* "log-file": in the images directory, made as the server makes it (safefile.h). */
static void ps_open_log(ferry_op *op)
{
	char path[4096];
	struct ferry_err e = { 0 };
	record_path(path, sizeof(path), NULL, op->dir, op->log_file);
	int fd = safe_dir_open(op->dir, 1, &e);
	int r = fd < 0 ? fd : log_open_file(path, &e);
	if (fd >= 0)
		close(fd);
	if (r < 0)
		pr_warn("no log file: %s\n", fe_str(&e, r));
}

static int run_page_server(ferry_op *op)
{
	if (!op->dir)
		return required(op, "images-dir");
	op->remote.listening = ps_listening;
	op->remote.listening_arg = op;
	if (op->log_file)
		ps_open_log(op);
	int r = page_server_run(&op->remote, op->dir, op->forever, &op->err);
	log_close_file();
	return r;
}

/* The source of a live migration (src/migrate/): the report to the output, statistics by name. */
static int run_migrate(ferry_op *op)
{
	struct migrate_opts *o = &op->migrate;
	if (!o->pid || !op->remote.address)
		return required(op, "tree and to");
	o->remote = op->remote;
	o->work_dir = op->dir;
	o->out = op->out;
	o->report = &op->report;
	o->cancel = &op->cancel;
	return migrate_run(o, &op->err);
}

/* The destination: ready once it listens. */
static int run_serve(ferry_op *op)
{
	struct serve_opts *o = &op->serve;
	if (!op->remote.address)
		return required(op, "listen");
	o->listen = op->remote;
	o->listen.listening = op_ready;
	o->listen.listening_arg = op;
	o->work_dir = op->dir;
	return serve_run(o, &op->err);
}

int op_run_kind(ferry_op *op)
{
	const char *key = op->transform.key_file;
	switch (op->kind) {
	case FERRY_OP_DUMP:
	case FERRY_OP_PRE_DUMP:
		return run_dump(op);
	case FERRY_OP_RESTORE:
		return run_restore(op);
	case FERRY_OP_VERIFY:
		return op->dir ? chain_verify(op->dir, key, op->out, &op->err) : required(op, "images-dir");
	case FERRY_OP_MERGE:
		return op->dir && op->output ? chain_merge(op->dir, op->output, key, &op->err)
					     : required(op, "images-dir and output");
	case FERRY_OP_SHOW:
		return run_show(op);
	case FERRY_OP_CHECK:
		return run_check(op);
	case FERRY_OP_PAGE_SERVER:
		return run_page_server(op);
	case FERRY_OP_EXPORT:
		return op->dir && op->file ? image_export(op->dir, op->file, &op->err) : required(op, "images-dir and file");
	case FERRY_OP_IMPORT:
		return op->dir && op->file ? image_import(op->file, op->dir, &op->err) : required(op, "images-dir and file");
	case FERRY_OP_SERVE:
		return run_serve(op);
	case FERRY_OP_MIGRATE:
		return run_migrate(op);
	}
	return -EINVAL;
}
