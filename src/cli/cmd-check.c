/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ferry check [--json] [--feature NAME]`: what this kernel and CPU offer, and whether the engine
 * can run here; `ferry check --image DIR`: whether that image can be restored here.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "common/kprobe.h"
#include "engine/engine.h"

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

/* 0 present, 1 absent or unknown (CRIU's answer to a name it does not know either). */
static int check_feature(const struct kprobe *kp, const char *name, int quiet)
{
	if (!strcmp(name, "list")) {
		printf("mem_dirty_track\n");
		for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
			printf("%s\n", features[i].name);
		return 0;
	}
	/* Pre-dumps always work: by userfaultfd write-protect, else by page hashes. */
	if (!strcmp(name, "mem_dirty_track")) {
		if (!quiet)
			printf("mem_dirty_track is supported\n");
		return 0;
	}
	for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
		if (strcmp(name, features[i].name))
			continue;
		int have = *(const int *)((const char *)kp + features[i].off);
		if (!quiet)
			printf("%s is %s\n", name, have ? "supported" : "not supported");
		return have ? 0 : 1;
	}
	fprintf(stderr, "ferry check: unknown feature '%s' ('ferry check --feature list' names them)\n", name);
	return 1;
}

/* Every difference on its own line (engine/precheck.c). */
static int check_image(struct cli_args *a)
{
	struct ferry_check_report rep = { 0 };
	struct ferry_err err = { 0 };
	int r = ferry_check_image(&a->restore, &rep, &err);
	if (r < 0 && !rep.n)
		fprintf(stderr, "Error: %s: %s\n", a->check_image, fe_str(&err, r));
	for (size_t i = 0; i < rep.n; i++)
		fprintf(stderr, "Error: %s: %s\n", a->check_image, rep.items[i]);
	ferry_check_report_free(&rep);
	if (r == 0 && a->verbosity)
		printf("%s can be restored here.\n", a->check_image);
	return r < 0;
}

int cmd_check(struct cli_args *a)
{
	if (a->check_image)
		return check_image(a);
	const struct kprobe *kp = kprobe_get();
	if (a->feature)
		return check_feature(kp, a->feature, a->verbosity == 0);	/* -v0: the status says it */
	kprobe_print(kp, stdout, a->json);
	const char *missing = !kp->clone3_set_tid ? "clone3 with set_tid" :
			      !kp->map_vdso ? "arch_prctl(ARCH_MAP_VDSO_64)" :
			      !kp->kcmp ? "kcmp" : NULL;
	if (missing) {
		fprintf(stderr, "Error: this kernel lacks %s: restore cannot work here\n", missing);
		return 1;
	}
	if (!a->json)
		printf("Looks good.\n");
	return 0;
}
