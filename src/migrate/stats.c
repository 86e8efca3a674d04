/* SPDX-License-Identifier: Apache-2.0 */
/* A migration's statistics (docs/MIGRATION.md), printed and as JSON; and the helpers both sides share. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "common/log.h"
#include "common/util.h"
#include "engine/engine.h"
#include "migrate/migrate-internal.h"

static const char *const mode_names[] = { "cold", "precopy", "postcopy", "hybrid" };

int migrate_mode_parse(const char *s, enum migrate_mode *m)
{
	for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
		if (s && !strcmp(s, mode_names[i])) {
			*m = (enum migrate_mode)i;
			return 0;
		}
	return -EINVAL;
}

const char *migrate_mode_name(enum migrate_mode m)
{
	return (unsigned)m < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[m] : "?";
}

int migrate_work_dir(const char *given, const char *prefix, char *out, size_t len, int *tmp, struct ferry_err *err)
{
	*tmp = 0;
	if (given) {
		snprintf(out, len, "%s", given);
		return mkdir_p(out, 0700) < 0 ? fe_set(err, errno, "mkdir %s", out) : 0;
	}
	const char *t = getenv("TMPDIR");
	snprintf(out, len, "%s/%s.XXXXXX", t && *t ? t : "/var/tmp", prefix);
	if (!mkdtemp(out))
		return fe_set(err, errno, "mkdtemp %s", out);
	*tmp = 1;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *f)
{
	(void)st;
	(void)f;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void migrate_rm_rf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static json_t *to_json(const struct msrc *s)
{
	json_t *j = json_object(), *rounds = json_array();
	json_object_set_new(j, "mode", json_string(migrate_mode_name(s->o->mode)));
	json_object_set_new(j, "total_ms", json_real((s->t_end - s->t0) / 1000.0));
	json_object_set_new(j, "downtime_ms", json_real((s->t_end - s->t_freeze) / 1000.0));
	json_object_set_new(j, "bytes_sent", json_integer((json_int_t)s->bytes));
	json_object_set_new(j, "rounds", json_integer(s->nrounds));
	json_object_set_new(j, "dest_pid", json_integer(s->dest_pid));
	for (int i = 0; i < s->nrounds; i++) {
		json_t *r = json_object();
		json_object_set_new(r, "round", json_integer(i + 1));
		json_object_set_new(r, "final", json_boolean(i == s->nrounds - 1));
		json_object_set_new(r, "bytes", json_integer((json_int_t)s->rs[i].bytes));
		json_object_set_new(r, "pages", json_integer((json_int_t)s->rs[i].pages));
		json_object_set_new(r, "ms", json_real(s->rs[i].us / 1000.0));
		json_array_append_new(rounds, r);
	}
	json_object_set_new(j, "round_stats", rounds);
	return j;
}

/* The statistics by name for a library caller (ferry_op_stat): integers, milliseconds rounded. */
static void record(const struct msrc *s, struct op_report *rep)
{
	const struct { const char *name; uint64_t v; } st[] = {
		{ "total_ms", (s->t_end - s->t0 + 500) / 1000 },
		{ "downtime_ms", (s->t_end - s->t_freeze + 500) / 1000 },
		{ "bytes_sent", s->bytes },
		{ "rounds", (uint64_t)s->nrounds },
		{ "mode", (uint64_t)s->o->mode },
		{ "dest_pid", (uint64_t)s->dest_pid },
	};
	for (size_t i = 0; i < sizeof(st) / sizeof(st[0]) && rep->nstats < OP_MAX_STATS; i++) {
		rep->stat_name[rep->nstats] = st[i].name;
		rep->stat_value[rep->nstats++] = st[i].v;
	}
}

static void print(const struct msrc *s, FILE *out)
{
	const struct migrate_opts *o = s->o;
	fprintf(out, "migrated pid %d to %s:%d (pid %d there), %s mode\n", o->pid, o->remote.address, o->remote.port,
		s->dest_pid, migrate_mode_name(o->mode));
	for (int i = 0; i < s->nrounds; i++)
		fprintf(out, "  round %d%s: %llu pages, %llu bytes, %.1f ms\n", i + 1, i == s->nrounds - 1 ? " (frozen)" : "",
			(unsigned long long)s->rs[i].pages, (unsigned long long)s->rs[i].bytes, s->rs[i].us / 1000.0);
	fprintf(out, "  total %.1f ms, downtime %.1f ms, %llu bytes sent in %d round(s)\n", (s->t_end - s->t0) / 1000.0,
		(s->t_end - s->t_freeze) / 1000.0, (unsigned long long)s->bytes, s->nrounds);
	fflush(out);
}

void src_stats_report(const struct msrc *s)
{
	const struct migrate_opts *o = s->o;
	if (o->report)
		record(s, o->report);
	if (o->out)
		print(s, o->out);
	if (!o->stats_json)
		return;
	FILE *std = o->out ? o->out : stdout;
	json_t *j = to_json(s);
	int r = !strcmp(o->stats_json, "-") ? json_dumpf(j, std, JSON_INDENT(2))
					     : json_dump_file(j, o->stats_json, JSON_INDENT(2));
	if (!strcmp(o->stats_json, "-")) {
		fprintf(std, "\n");
		fflush(std);
	}
	if (r < 0)
		pr_warn("cannot write the statistics to %s\n", o->stats_json);
	json_decref(j);
}
