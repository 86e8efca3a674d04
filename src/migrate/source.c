/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ferry migrate`, the source's side (migrate.h, docs/MIGRATION.md): pre-flight, pre-copy rounds
 * while the tree runs, the final dump streamed while it is frozen, then the two-phase hand-over
 * inside the dump's post-dump action: READY from the destination lets the dump kill the tree
 * (the point of no return), GO then lets the destination's copy run.
 */
#define LOG_PREFIX "migrate: "
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/log.h"
#include "common/util.h"
#include "migrate/channel.h"
#include "migrate/engine-glue.h"
#include "migrate/migrate-internal.h"
#include "migrate/preflight.h"

/* A number from the environment, or def. */
static long env_num(const char *name, long def)
{
	const char *s = getenv(name);
	long v = s && *s ? strtol(s, NULL, 10) : 0;
	return v > 0 ? v : def;
}

/* FERRY_FAULT=<name>: the connection is cut here (both ways), as a network failure would. */
static void cut_point(struct msrc *s, const char *name)
{
	fault_set_cancel(s->o->cancel);	/* a stall there (FERRY_STALL) ends on a cancel */
	if (fault_point(name)) {
		pr_warn("fault injected: cutting the connection at %s\n", name);
		shutdown(s->ch.c.fd, SHUT_RDWR);
	}
}

static int preflight(struct msrc *s)
{
	Ferry__MigratePreflight *p = NULL;
	Ferry__MigrateMsg m = FERRY__MIGRATE_MSG__INIT, *v = NULL;
	int r = pf_collect(s->o->pid, &p, s->err);
	if (r < 0)
		return r;
	p->mode = strdup(migrate_mode_name(s->o->mode));
	p->has_force = 1;
	p->force = s->o->force;
	m.kind = FERRY__MIGRATE_MSG__KIND__PREFLIGHT;
	m.preflight = p;
	pr_info("pre-flight: %zu pids, %zu files\n", p->n_pids, p->n_files);
	r = chan_send(&s->ch, &m, s->err);
	pf_free(p);
	if (r == 0)
		r = chan_expect(&s->ch, FERRY__MIGRATE_MSG__KIND__VERDICT, &v, s->err);
	if (r < 0)
		return r;
	if (v->n_mismatches) {
		char buf[3072];
		pf_format(v->mismatches, v->n_mismatches, buf, sizeof(buf));
		if (!v->accepted)
			r = fe_msg(s->err, EREMOTEIO, "pre-flight: the destination cannot take this tree (nothing was frozen):\n%s%s",
				   buf, s->o->force ? "" : "\n(--force overrides only those marked so)");
		else
			pr_warn("pre-flight mismatches overridden by --force:\n%s\n", buf);
	} else if (!v->accepted)
		r = fe_msg(s->err, EPROTO, "pre-flight: the destination refused without saying why");
	chan_msg_free(v);
	return r;
}

/* One dump into the channel: a pre-copy round (the tree runs on) or the final one (hand-over). */
static int round_dump(struct msrc *s, int final)
{
	struct round_stat *rs = &s->rs[s->nrounds];
	char name[16], prev[24], dir[PATH_MAX + 16];
	struct sink_counts cnt = { 0 };
	struct img_sink *sink;
	Ferry__MigrateMsg m = FERRY__MIGRATE_MSG__INIT;
	snprintf(name, sizeof(name), final ? "final" : "r%d", s->nrounds + 1);
	snprintf(prev, sizeof(prev), "../r%d", s->nrounds);
	snprintf(dir, sizeof(dir), "%s/%s", s->dir, name);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return fe_set(s->err, errno, "mkdir %s", dir);
	m.kind = FERRY__MIGRATE_MSG__KIND__ROUND;
	m.dir = name;
	int r = chan_send(&s->ch, &m, s->err);
	if (r == 0)
		r = transport_sink_attach(&s->ch.c, &cnt, &sink, s->err);
	if (r < 0)
		return r;
	if (final)
		cut_point(s, "migrate-cut-in-final");
	struct glue_dump g = { .pid = s->o->pid, .dir = dir, .prev = s->nrounds ? prev : NULL, .pre_dump = !final,
			       .tcp_close = s->o->tcp_close, .sink = sink, .handover = final ? src_handover : NULL, .arg = s, .cancel = s->o->cancel };
	uint64_t t = now_us();
	if (final)
		s->t_freeze = t;
	r = glue_dump(&g, s->err);
	transport_sink_free(sink);	/* closed by the dump unless it failed early: then dropped */
	rs->us = now_us() - t;
	rs->bytes = cnt.bytes;
	rs->pages = cnt.page_bytes / 4096;
	rs->final = final;
	s->bytes += cnt.bytes;
	s->nrounds++;
	pr_info("round %d (%s): %llu pages, %llu bytes in %.1f ms\n", s->nrounds, name, (unsigned long long)rs->pages,
		(unsigned long long)rs->bytes, rs->us / 1000.0);
	return r;
}

/* Pre-copy rounds until the dirty set is small, stops shrinking, or a round or time limit. */
static int precopy(struct msrc *s)
{
	long max_rounds = env_num("FERRY_MIGRATE_ROUNDS", 8), dirty_max = env_num("FERRY_MIGRATE_DIRTY_MAX", 256);
	uint64_t deadline = now_us() + (uint64_t)env_num("FERRY_MIGRATE_PRECOPY_S", 30) * 1000000;
	if (max_rounds > MIG_MAX_ROUNDS - 1)
		max_rounds = MIG_MAX_ROUNDS - 1;
	for (;;) {
		int r = round_dump(s, 0);
		if (r < 0)
			return r;
		uint64_t pages = s->rs[s->nrounds - 1].pages;
		const char *why = pages <= (uint64_t)dirty_max ? "the dirty set is small"
				  : s->nrounds > 1 && pages * 10 > s->rs[s->nrounds - 2].pages * 9 ? "it stopped shrinking"
				  : s->nrounds >= max_rounds ? "the round limit"
				  : now_us() >= deadline ? "the time limit" : NULL;
		if (why) {
			pr_info("pre-copy ends after %d round(s): %s (%llu pages written in the last)\n", s->nrounds, why,
				(unsigned long long)pages);
			return 0;
		}
	}
}

static int work_dir(struct msrc *s)
{
	return migrate_work_dir(s->o->work_dir, "ferry-migrate", s->dir, sizeof(s->dir), &s->tmp_dir, s->err);
}

/* The final dump and the hand-over; on failure before the kill, the destination drops its copy. */
static int final_round(struct msrc *s)
{
	int r = round_dump(s, 1);
	if (r == 0) {
		s->killed = 1;
		return src_commit(s);
	}
	if (s->hr < 0)	/* the hand-over's own reason is the one to give */
		r = fe_msg(s->err, -s->hr, "%s", fe_str(&s->herr, s->hr));
	return r;
}

static int run(struct msrc *s)
{
	const struct migrate_opts *o = s->o;
	int r = random_bytes(s->ch.id, MIG_ID_LEN, s->err);
	uint8_t id[MIG_ID_LEN];
	memcpy(id, s->ch.id, MIG_ID_LEN);
	if (r == 0)
		r = chan_connect(&s->ch, &o->remote, s->err);
	memcpy(s->ch.id, id, MIG_ID_LEN);
	if (r == 0)
		r = preflight(s);
	if (r == 0)
		r = work_dir(s);
	if (r == 0 && (o->mode == MIG_PRECOPY || o->mode == MIG_HYBRID))
		r = precopy(s);
	if (r == 0) {
		cut_point(s, "migrate-cut-before-final");
		r = final_round(s);
	}
	if (r < 0 && !s->killed)
		src_abort(s, fe_str(s->err, r));
	if (r < 0 && s->nrounds) {	/* the last pre-copy round's tracking, if the final dump did not take it */
		char last[PATH_MAX + 16];
		snprintf(last, sizeof(last), "%s/r%d", s->dir, s->rs[s->nrounds - 1].final ? s->nrounds - 1 : s->nrounds);
		glue_track_release(last);
	}
	return r;
}

int migrate_run(const struct migrate_opts *o, struct ferry_err *err)
{
	struct msrc *s = calloc(1, sizeof(*s));
	if (!s)
		return fe_set(err, ENOMEM, "migrate");
	s->o = o;
	s->err = err;
	s->ch.c.fd = -1;
	s->t0 = now_us();
	int r = 0;
	if (o->mode == MIG_POSTCOPY || o->mode == MIG_HYBRID)
		r = fe_msg(err, EOPNOTSUPP, "--mode %s: post-copy (lazy pages) is not implemented yet; use precopy or cold",
			   migrate_mode_name(o->mode));
	if (r == 0)
		r = run(s);
	s->t_end = now_us();
	chan_close(&s->ch);
	if (r == 0)
		src_stats_report(s);
	else if (!s->killed)
		fe_wrap(err, r, "migration of %d failed; the tree runs on here, untouched", o->pid);
	if (s->tmp_dir)
		migrate_rm_rf(s->dir);
	free(s);
	return r;
}
