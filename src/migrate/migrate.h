/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Live migration (docs/MIGRATION.md): `ferry migrate` at the source moves a running tree to a
 * `ferry serve` endpoint at the destination over one authenticated channel, with a pre-flight
 * before anything is frozen and a two-phase hand-over, so that there are never two running
 * copies, and never none before the source's copy is killed.
 */
#pragma once
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "common/error.h"
#include "transport/transport.h"

enum migrate_mode { MIG_COLD, MIG_PRECOPY, MIG_POSTCOPY, MIG_HYBRID };

struct op_report;

/* "cold", "precopy", "postcopy", "hybrid" into *m. 0 or -EINVAL. */
int migrate_mode_parse(const char *s, enum migrate_mode *m);
const char *migrate_mode_name(enum migrate_mode m);

struct migrate_opts {
	pid_t pid;			/* the root of the tree */
	struct remote_opts remote;	/* the destination: address, port, token or TLS */
	enum migrate_mode mode;
	int force;			/* go on despite pre-flight mismatches that may be overridden */
	int tcp_close;			/* reset established TCP connections (the dump refuses them otherwise) */
	const char *work_dir;		/* the rounds' logs and metadata; NULL: a temporary directory, removed */
	const char *stats_json;		/* also write the statistics as JSON here ("-": out, else stdout) */
	FILE *out;			/* where the statistics are printed; NULL: nowhere */
	struct op_report *report;	/* NULL, or given the statistics by name (engine.h; src/lib/) */
	const volatile sig_atomic_t *cancel;	/* set: give up (until the source's copy is killed) */
};

/*
 * Source. 0 once the tree runs at the destination (the local copy is gone); otherwise -errno
 * with err saying what failed and what became of the tree: before the hand-over it runs on here,
 * untouched.
 */
int migrate_run(const struct migrate_opts *o, struct ferry_err *err);

struct serve_opts {
	struct remote_opts listen;	/* address, port (0: any, printed), token or TLS, insecure, listening() */
	const char *work_dir;		/* where images are received; NULL: a temporary directory, removed */
};

/* Destination: serves one migration. 0 once the tree runs here. */
int serve_run(const struct serve_opts *o, struct ferry_err *err);

/* "ADDR:PORT" (IPv6 as "[ADDR]:PORT") into host (len bytes) and port. 0 or -EINVAL with err saying why. */
int migrate_parse_endpoint(const char *s, char *host, size_t len, int *port, struct ferry_err *err);

/*
 * The work directory: given (made if missing), or a new "$TMPDIR/PREFIX.XXXXXX" (/var/tmp
 * without TMPDIR) with *tmp set. 0 or -errno.
 */
int migrate_work_dir(const char *given, const char *prefix, char *out, size_t len, int *tmp, struct ferry_err *err);

/* Removes dir and everything under it (best effort). */
void migrate_rm_rf(const char *dir);
