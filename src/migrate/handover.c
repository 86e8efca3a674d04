/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The two-phase hand-over at the source (docs/MIGRATION.md). READY arrives while the final dump
 * still holds the tree frozen; returning 0 from the post-dump action lets the dump kill it, past
 * which the destination holds the only copy and must hear GO: if the channel is lost, GO goes
 * again over new connections (RESOLVE) until RUNNING comes back or the resolve time is over.
 */
#define LOG_PREFIX "migrate: "
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "common/log.h"
#include "common/util.h"
#include "migrate/migrate-internal.h"

static int resolve_seconds(void)
{
	const char *e = getenv("FERRY_MIGRATE_RESOLVE");
	return e && atoi(e) > 0 ? atoi(e) : 30;
}

int src_handover(void *arg)
{
	struct msrc *s = arg;
	Ferry__MigrateMsg *m = NULL;
	s->handover = 1;	/* the destination has the whole image: it may hold a restored copy */
	int r = chan_expect(&s->ch, FERRY__MIGRATE_MSG__KIND__READY, &m, &s->herr);
	if (r == 0) {
		s->ready = 1;
		s->dest_pid = m->has_pid ? m->pid : 0;
		pr_info("the destination holds the restored tree (pid %d): killing ours\n", s->dest_pid);
	}
	chan_msg_free(m);
	if (r == -ECANCELED)	/* FAILED: the destination kept nothing */
		s->dest_done = 1;
	if (r == 0 && fault_point("migrate-die-after-ready")) {
		pr_warn("fault injected: the source dies before its kill\n");
		_exit(9);
	}
	if (r == 0 && fault_point("migrate-fail-after-ready"))
		r = fe_msg(&s->herr, EIO, "fault injected after READY, before the kill");
	if (r == 0 && s->o->cancel && *s->o->cancel)
		r = fe_msg(&s->herr, ECANCELED, "cancelled");
	s->hr = r;
	return r < 0;
}

/* One RESOLVE over a new connection: 0 once the destination answered (RUNNING for GO). */
static int resolve_once(struct msrc *s, int go, struct ferry_err *err)
{
	struct chan ch;
	Ferry__MigrateMsg m = FERRY__MIGRATE_MSG__INIT, *a = NULL;
	int r = chan_connect(&ch, &s->o->remote, err);
	memcpy(ch.id, s->ch.id, MIG_ID_LEN);
	m.kind = FERRY__MIGRATE_MSG__KIND__RESOLVE;
	m.has_go = 1;
	m.go = go;
	if (r == 0)
		r = chan_send(&ch, &m, err);
	if (r == 0)
		r = chan_expect(&ch, go ? FERRY__MIGRATE_MSG__KIND__RUNNING : FERRY__MIGRATE_MSG__KIND__ABORT, &a, err);
	if (r == 0 && go && a->has_pid)
		s->dest_pid = a->pid;
	chan_msg_free(a);
	chan_close(&ch);
	return r;
}

/* The verdict over new connections until one is heard, or the resolve time is over. */
static int resolve(struct msrc *s, int go, struct ferry_err *err)
{
	uint64_t end = now_us() + (uint64_t)resolve_seconds() * 1000000;
	int r;
	pr_warn("the connection to the destination is lost: sending %s over a new one\n", go ? "GO" : "ABORT");
	while ((r = resolve_once(s, go, err)) < 0 && now_us() < end) {
		pr_debug("resolve: %s\n", fe_str(err, r));
		usleep(200000);
	}
	return r;
}

int src_commit(struct msrc *s)
{
	Ferry__MigrateMsg *m = NULL;
	struct ferry_err e = { 0 };
	if (fault_point("migrate-cut-after-kill"))
		shutdown(s->ch.c.fd, SHUT_RDWR);
	int r = chan_send_kind(&s->ch, FERRY__MIGRATE_MSG__KIND__GO, NULL, &e);
	if (r == 0)
		r = chan_expect(&s->ch, FERRY__MIGRATE_MSG__KIND__RUNNING, &m, &e);
	if (r == 0 && m->has_pid)
		s->dest_pid = m->pid;
	chan_msg_free(m);
	if (r < 0 && r != -ECANCELED)
		r = resolve(s, 1, &e);
	if (r == -ECANCELED)	/* FAILED after GO: its release failed, and ours is gone */
		return fe_msg(s->err, EIO, "the tree was killed here after the destination held it restored (pid %d), "
			      "then the destination failed to let it run: the tree is LOST (%s)", s->dest_pid, fe_str(&e, r));
	if (r < 0)
		return fe_msg(s->err, -r, "the tree was killed here after the destination held it restored (pid %d), but "
			      "the destination did not confirm it runs (%s): it runs there once it heard GO, else it is left "
			      "stopped there", s->dest_pid, fe_str(&e, r));
	s->running = 1;
	return 0;
}

/* After ABORT: the destination's acknowledgement (ABORT), or FAILED; a READY sent meanwhile is skipped. */
static int abort_acked(struct msrc *s, struct ferry_err *err)
{
	for (;;) {
		Ferry__MigrateMsg *m = NULL;
		int r = chan_recv(&s->ch, &m, 1, err), kind = r == 0 ? (int)m->kind : 0;
		chan_msg_free(m);
		if (r < 0)
			return r;
		if (kind == FERRY__MIGRATE_MSG__KIND__ABORT || kind == FERRY__MIGRATE_MSG__KIND__FAILED)
			return 0;
		if (kind != FERRY__MIGRATE_MSG__KIND__READY)
			return fe_msg(err, EPROTO, "%s: %s after ABORT", s->ch.c.peer, chan_kind_name(kind));
	}
}

void src_abort(struct msrc *s, const char *why)
{
	struct ferry_err e = { 0 };
	if (s->dest_done)
		return;
	int r = chan_send_kind(&s->ch, FERRY__MIGRATE_MSG__KIND__ABORT, why, &e);
	if (!s->handover)
		return;	/* it holds nothing yet: a lost connection is enough for it to drop everything */
	if (r == 0)
		r = abort_acked(s, &e);
	if (r < 0 && resolve(s, 0, &e) < 0)
		pr_warn("could not tell the destination to drop its copy (%s): it leaves it stopped\n", fe_str(&e, r));
}
