/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ferry serve`, the destination's side (migrate.h, docs/MIGRATION.md): answers the pre-flight,
 * receives each round's image into its own directory, restores the final one and holds the tree
 * (the restore's pre-resume action) until GO; ABORT, a failure, or a lost connection that no
 * RESOLVE follows never lets the tree run: it is killed, or, when in doubt, left stopped.
 */
#define LOG_PREFIX "serve: "
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/cleanup.h"
#include "common/log.h"
#include "common/safefile.h"
#include "common/util.h"
#include "migrate/channel.h"
#include "migrate/engine-glue.h"
#include "migrate/migrate.h"
#include "migrate/preflight.h"
#include "transport/handshake.h"

struct mdst {
	const struct serve_opts *o;
	int lfd;
	struct token tok;
	int has_tok;
	void *tls;
	struct chan ch;
	char dir[PATH_MAX];
	int tmp_dir;
	int force;
	int got_final;
	int in_doubt;			/* left stopped: no word from the source */
	int released;
	int aborted;			/* the source said ABORT while the tree was held */
	pid_t root;
	struct ferry_err *err;
};

static int resolve_seconds(void)
{
	const char *e = getenv("FERRY_MIGRATE_RESOLVE");
	return e && atoi(e) > 0 ? atoi(e) : 30;
}

/* FERRY_FAULT=<name>: this endpoint dies here, as a crashed host would. */
static void die_point(const char *name)
{
	if (fault_point(name)) {
		pr_warn("fault injected: dying at %s\n", name);
		_exit(9);
	}
}

static void peer_str(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	snprintf(buf, len, "%s:%d", host, port);
}

/* The next connection, authenticated, within timeout_ms (< 0: no limit). */
static int accept_chan(struct mdst *d, struct chan *ch, int timeout_ms, struct ferry_err *err)
{
	uint64_t end = timeout_ms < 0 ? 0 : now_us() + (uint64_t)timeout_ms * 1000;
	for (;;) {
		struct pollfd p = { .fd = d->lfd, .events = POLLIN };
		int left = end ? (int)(end > now_us() ? (end - now_us()) / 1000 : 0) : -1;
		int n = poll(&p, 1, left);
		if (n < 0 && errno != EINTR)
			return fe_set(err, errno, "poll");
		if (n == 0)
			return fe_msg(err, ETIMEDOUT, "no connection within %d s", timeout_ms / 1000);
		int fd = n > 0 ? accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC) : -1;
		if (fd < 0)
			continue;
		char who[INET6_ADDRSTRLEN + 8];
		peer_str(fd, who, sizeof(who));
		int r = chan_accept(ch, fd, who, d->has_tok ? &d->tok : NULL, d->tls, err);
		if (r == 0)
			return 0;
		pr_warn("%s\n", fe_str(err, r));	/* not a peer of ours: wait for the next */
		chan_close(ch);
	}
}

static int answer_preflight(struct mdst *d)
{
	Ferry__MigrateMsg *m = NULL, v = FERRY__MIGRATE_MSG__INIT;
	struct pf_verdict pv = { 0 };
	int r = chan_recv(&d->ch, &m, 0, d->err);
	if (r == 0 && (m->kind != FERRY__MIGRATE_MSG__KIND__PREFLIGHT || !m->preflight))
		r = fe_msg(d->err, EPROTO, "%s: %s where PREFLIGHT was expected", d->ch.c.peer, chan_kind_name(m->kind));
	if (r == 0 && pf_check(m->preflight, &pv) < 0)
		r = fe_set(d->err, ENOMEM, "pre-flight");
	if (r == 0) {
		d->force = m->preflight->has_force && m->preflight->force;
		v.kind = FERRY__MIGRATE_MSG__KIND__VERDICT;
		v.mismatches = pv.v;
		v.n_mismatches = pv.n;
		v.has_accepted = 1;
		v.accepted = pf_accepted(&pv, d->force);
		r = chan_send(&d->ch, &v, d->err);
		if (r == 0 && !v.accepted) {
			char buf[3072];
			pf_format(pv.v, pv.n, buf, sizeof(buf));
			r = fe_msg(d->err, EREMOTEIO, "pre-flight: this host cannot take the tree:\n%s", buf);
		}
	}
	pf_verdict_free(&pv);
	chan_msg_free(m);
	return r;
}

/* A ROUND's directory name: "r<N>" or "final". */
static int round_name_ok(const char *s)
{
	if (!s)
		return 0;
	if (!strcmp(s, "final"))
		return 1;
	if (s[0] != 'r' || !s[1] || strlen(s) > 4)
		return 0;
	for (const char *p = s + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

/* One image stream into d->dir/name; OK answers it once it is durable. */
static int receive_round(struct mdst *d, const char *name)
{
	char path[PATH_MAX + 16];
	uint8_t buf[WIRE_MAX_CTRL];
	struct wire_ok ok = { { 0 } };
	snprintf(path, sizeof(path), "%s/%s", d->dir, name);
	if (mkdir(path, 0700) < 0)
		return fe_set(d->err, errno, "mkdir %s", path);
	int dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return fe_set(d->err, errno, "open %s", path);
	if (!strcmp(name, "final"))
		die_point("serve-die-in-final");
	int r = rx_stream(&d->ch.c, dirfd, d->err);
	close(dirfd);
	if (r == 1)
		r = fe_msg(d->err, ECANCELED, "the source's dump of round %s failed", name);
	if (r == 0 || r == -ECANCELED) {
		struct ferry_err e2 = { 0 };
		conn_send(&d->ch.c, WT_OK, 0, buf, wire_ok_encode(buf, &ok), &e2);
	}
	pr_info("round %s: %s\n", name, r == 0 ? "received" : fe_str(d->err, r));
	return r;
}

/* Rounds until the final one is in. */
static int receive(struct mdst *d)
{
	for (;;) {
		Ferry__MigrateMsg *m = NULL;
		int r = chan_recv(&d->ch, &m, 1, d->err);
		if (r < 0)
			return r;
		if (m->kind == FERRY__MIGRATE_MSG__KIND__ABORT)
			r = fe_msg(d->err, ECANCELED, "the source gave up: %s", m->message ? m->message : "(no reason)");
		else if (m->kind != FERRY__MIGRATE_MSG__KIND__ROUND || !round_name_ok(m->dir))
			r = fe_msg(d->err, EPROTO, "%s: unexpected %s", d->ch.c.peer, chan_kind_name(m->kind));
		else
			r = receive_round(d, m->dir);
		int final = r == 0 && !strcmp(m->dir, "final");
		chan_msg_free(m);
		if (r < 0 || final)
			return r;
	}
}

/* GO (1), ABORT (0) on ch, or -1 when the channel is lost or says anything else. */
static int read_verdict(struct chan *ch, int resolve)
{
	Ferry__MigrateMsg *m = NULL;
	struct ferry_err e = { 0 };
	int r = chan_recv(ch, &m, 1, &e), v = -1;
	if (r < 0)
		pr_warn("waiting for GO: %s\n", fe_str(&e, r));
	else if (m->kind == (resolve ? FERRY__MIGRATE_MSG__KIND__RESOLVE : FERRY__MIGRATE_MSG__KIND__GO))
		v = resolve ? (m->has_go && m->go) : 1;
	else if (m->kind == FERRY__MIGRATE_MSG__KIND__ABORT)
		v = 0;
	else
		pr_warn("waiting for GO: unexpected %s\n", chan_kind_name(m->kind));
	chan_msg_free(m);
	return v;
}

/*
 * The channel was lost while the tree is held: a RESOLVE of this migration on a new connection
 * decides (the reply goes there), else -1 once the resolve time is over.
 */
static int resolve_wait(struct mdst *d)
{
	uint64_t end = now_us() + (uint64_t)resolve_seconds() * 1000000;
	pr_warn("the connection to the source is lost while the tree is held: waiting up to %d s for its verdict\n",
		resolve_seconds());
	while (now_us() < end) {
		struct chan ch;
		struct ferry_err e = { 0 };
		if (accept_chan(d, &ch, (int)((end - now_us()) / 1000) + 1, &e) < 0)
			break;
		memcpy(ch.id, d->ch.id, MIG_ID_LEN);
		int v = read_verdict(&ch, 1);
		if (v < 0) {
			chan_close(&ch);
			continue;
		}
		chan_close(&d->ch);
		d->ch = ch;	/* the answer goes there */
		return v;
	}
	return -1;
}

/* In doubt: neither run nor kill; the tree is released stopped. */
static int leave_stopped(struct mdst *d)
{
	d->in_doubt = 1;
	pr_err("no verdict from the source: the tree (pid %d) is left STOPPED here, neither run nor killed; "
	       "if the source's copy is gone, resume it with SIGCONT, else kill it\n", d->root);
	return GLUE_LEAVE_STOPPED;
}

/* The restore's pre-resume action: READY, then the verdict (engine-glue.h's answers). */
static int on_ready(pid_t root, void *arg)
{
	struct mdst *d = arg;
	Ferry__MigrateMsg m = FERRY__MIGRATE_MSG__INIT;
	struct ferry_err e = { 0 };
	d->root = root;
	die_point("serve-die-in-ready");
	if (fault_point("serve-cut-before-ready"))
		shutdown(d->ch.c.fd, SHUT_RDWR);
	m.kind = FERRY__MIGRATE_MSG__KIND__READY;
	m.has_pid = 1;
	m.pid = root;
	int v = chan_send(&d->ch, &m, &e) == 0 ? 0 : -1;
	if (fault_point("serve-cut-after-ready"))
		shutdown(d->ch.c.fd, SHUT_RDWR);
	if (v == 0)
		v = read_verdict(&d->ch, 0);
	if (v < 0)
		v = resolve_wait(d);
	if (v < 0)
		return leave_stopped(d);
	if (v == 0) {
		Ferry__MigrateMsg a = FERRY__MIGRATE_MSG__INIT;
		a.kind = FERRY__MIGRATE_MSG__KIND__ABORT;
		chan_send(&d->ch, &a, &e);	/* acknowledges a RESOLVE(ABORT) */
		pr_warn("the source gave up: killing the restored tree\n");
		d->aborted = 1;
		return 1;
	}
	return 0;
}

static void on_running(void *arg)
{
	struct mdst *d = arg;
	Ferry__MigrateMsg m = FERRY__MIGRATE_MSG__INIT;
	struct ferry_err e = { 0 };
	d->released = 1;
	if (d->in_doubt)
		return;
	m.kind = FERRY__MIGRATE_MSG__KIND__RUNNING;
	m.has_pid = 1;
	m.pid = d->root;
	if (chan_send(&d->ch, &m, &e) < 0)
		pr_warn("the tree runs, but the source did not hear it: %s\n", fe_str(&e, -EPIPE));
}

static int restore(struct mdst *d)
{
	char dir[PATH_MAX + 8];
	struct ferry_err e = { 0 };
	snprintf(dir, sizeof(dir), "%s/final", d->dir);
	/*
	 * Inode numbers and mount ids never match across hosts: the pre-flight checked every file by
	 * size and content instead, so the restore must not compare them.
	 */
	struct glue_restore g = { .dir = dir, .allow_changed_files = 1, .ready = on_ready,
				  .running = on_running, .arg = d };
	int sig, r = glue_root_pdeath(dir, &sig, d->err);
	/* its parent stays at the source: here the signal would fire when serve's parent exits */
	if (r == 0 && sig)
		r = fe_msg(d->err, EOPNOTSUPP, "the root has a parent-death signal (%s): its parent is not part of the "
			   "tree and stays at the source, so it cannot be carried here", strsignal(sig));
	if (r == 0)
		r = glue_restore(&g, d->err);
	if (r < 0 && !d->aborted)	/* the source must hear it */
		chan_send_kind(&d->ch, FERRY__MIGRATE_MSG__KIND__FAILED, fe_str(d->err, r), &e);
	if (r == 0 && d->in_doubt)
		r = fe_msg(d->err, EINPROGRESS, "in doubt: the restored tree (pid %d) is left stopped", d->root);
	return r;
}

static int check_auth(const struct remote_opts *o, struct ferry_err *err)
{
	if (o->token_file || (o->tls_cert && o->tls_ca) || o->insecure)
		return 0;
	return fe_msg(err, EACCES, "refusing to serve without authentication: anyone who can connect could make this "
		      "host run a process tree. Give --token-file F (both sides), or --tls-cert/--tls-key with --tls-cacert "
		      "(client certificates), or --insecure to accept anyone");
}

static int listen_on(struct mdst *d, struct ferry_err *err)
{
	const struct remote_opts *o = &d->o->listen;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int r = remote_check(o, 1, err);
	if (r == 0)
		r = check_auth(o, err);
	if (r == 0 && o->token_file && (r = token_load(o->token_file, &d->tok, err)) == 0)
		d->has_tok = 1;
	if (r == 0)
		r = tls_server_ctx(o, &d->tls, err);
	if (r == 0)
		r = tcp_listen(o, &d->lfd, err);
	if (r < 0)
		return r;
	int port = o->port;
	if (getsockname(d->lfd, (struct sockaddr *)&ss, &sl) == 0)
		port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						      : ((struct sockaddr_in *)&ss)->sin_port);
	if (!o->port)
		pr_msg("listening on %s:%d\n", o->address, port);
	pr_info("listening on %s:%d%s\n", o->address, port, d->has_tok ? ", token required" : "");
	if (o->listening)
		o->listening(o->listening_arg);
	return 0;
}

#define OWNER "owner"	/* in a temporary work directory: "PID STARTTIME" of the serve that made it */

/* Temporary work directories of a serve that died (a crashed host) are removed. */
static void remove_stale(const char *tmp)
{
	char path[PATH_MAX];
	_cleanup_closedir_ DIR *dir = opendir(tmp);
	struct dirent *e;
	while (dir && (e = readdir(dir))) {
		_cleanup_free_ char *text = NULL;
		long long pid = 0;
		unsigned long long start = 0;
		if (strncmp(e->d_name, "ferry-serve.", 12))
			continue;
		snprintf(path, sizeof(path), "%s/%s/" OWNER, tmp, e->d_name);
		if (read_file(path, &text, NULL) < 0 || sscanf(text, "%lld %llu", &pid, &start) != 2 || pid <= 0 ||
		    (kill((pid_t)pid, 0) == 0 && proc_stat_field((pid_t)pid, 22) == start))
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmp, e->d_name);
		pr_info("removing %s, left by a ferry serve that died (pid %lld)\n", path, pid);
		migrate_rm_rf(path);
	}
}

static int work_dir(struct mdst *d)
{
	char owner[PATH_MAX + 16], text[64];
	int r = migrate_work_dir(d->o->work_dir, "ferry-serve", d->dir, sizeof(d->dir), &d->tmp_dir, d->err);
	if (r < 0 || !d->tmp_dir)
		return r;
	snprintf(owner, sizeof(owner), "%s/" OWNER, d->dir);
	int n = snprintf(text, sizeof(text), "%d %llu\n", (int)getpid(), (unsigned long long)proc_stat_field(getpid(), 22));
	return safe_write_path(owner, text, (size_t)n, 0600, d->err);
}

/* Removes what the rounds left: all of it after a failure; after success, unless -D keeps it. */
static void clean(struct mdst *d, int ok)
{
	char path[PATH_MAX + 16];
	if (!d->dir[0] || (ok && !d->tmp_dir))
		return;
	if (d->tmp_dir) {
		migrate_rm_rf(d->dir);
		return;
	}
	for (int i = 0; i <= 64; i++) {
		if (i)
			snprintf(path, sizeof(path), "%s/r%d", d->dir, i);
		else
			snprintf(path, sizeof(path), "%s/final", d->dir);
		migrate_rm_rf(path);
	}
}

int serve_run(const struct serve_opts *o, struct ferry_err *err)
{
	struct mdst *d = calloc(1, sizeof(*d));
	if (!d)
		return fe_set(err, ENOMEM, "serve");
	d->o = o;
	d->err = err;
	d->lfd = -1;
	if (!o->work_dir)
		remove_stale(getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp");
	int r = listen_on(d, err);
	if (r == 0)
		r = accept_chan(d, &d->ch, -1, err);
	if (r == 0)
		r = answer_preflight(d);
	if (r == 0)
		die_point("serve-die-after-preflight");
	if (r == 0)
		r = work_dir(d);
	if (r == 0)
		r = receive(d);
	if (r == 0)
		r = restore(d);
	if (r == 0)
		pr_info("the tree runs here: pid %d\n", d->root);
	clean(d, r == 0);
	chan_close(&d->ch);
	if (d->lfd >= 0)
		close(d->lfd);
	tls_ctx_free(d->tls);
	memset(&d->tok, 0, sizeof(d->tok));
	free(d);
	return r;
}
