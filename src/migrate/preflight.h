/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pre-flight of a migration, before anything is frozen (docs/MIGRATION.md). The source collects
 * what the destination must offer (versions, CPU features, kernel features, vDSO layout, the
 * tree's PIDs, the files it has open or mapped); the destination compares it with what it has and
 * lists every mismatch, naming what differs and where. Small functions, one per kind of check,
 * so that image-level pre-checks (`ferry check --image`) can replace them.
 */
#pragma once
#include <sys/types.h>
#include "common/error.h"
#include "migrate.pb-c.h"

/* Source: what the destination must check, for the tree of root. Freed by pf_free. */
int pf_collect(pid_t root, Ferry__MigratePreflight **out, struct ferry_err *err);
void pf_free(Ferry__MigratePreflight *p);

/* The tree's PIDs and TIDs (root first), malloc'ed into *pids. 0 or -errno. */
int pf_tree_pids(pid_t root, int32_t **pids, size_t *n, struct ferry_err *err);

struct pf_verdict {
	Ferry__MigrateMismatch **v;
	size_t n, cap;
};

/* Destination: every mismatch between p and this host into v (empty: all is well). 0 or -ENOMEM. */
int pf_check(const Ferry__MigratePreflight *p, struct pf_verdict *v);
/* Whether the migration may go on: no mismatch, or only forcible ones and force. */
int pf_accepted(const struct pf_verdict *v, int force);
/* "what: detail" lines, one per mismatch, "(--force overrides)" on those it may. */
void pf_format(Ferry__MigrateMismatch *const *v, size_t n, char *buf, size_t len);
void pf_verdict_free(struct pf_verdict *v);

/*
 * The CPU's feature flags (/proc/cpuinfo "flags"), sorted, malloc'ed. FERRY_TEST_CPU_FLAGS_DROP
 * (test-only: space-separated flags) pretends this CPU lacks some.
 */
int pf_cpu_flags(char ***flags, size_t *n);
