// SPDX-License-Identifier: Apache-2.0
/*
 * Tests of the public API (include/ferry/ferry.h), linked against libferry.so like any caller;
 * tests/api/run.sh prepares the processes and images and checks what only the outside can see.
 * Each subcommand prints "OK ..." lines and exits 0, or prints "FAIL: why" and exits 1.
 *
 *   options                         options by name: the errors of each kind of mistake
 *   two-dumps PID1 DIR1 PID2 DIR2   two dumps at once in two threads (-R), separate logs; then
 *                                   both images verified at once
 *   cancel PID DIR                  a dump cancelled from its progress callback mid-copy
 *   progress PID DIR                stage and byte progress: monotonic, done == total at the end
 *   class dump PID DIR | class dump-ps PID DIR PORT | class restore DIR
 *                                   the error class of a failing dump (to a page server) or
 *                                   restore; prints the class and the chain
 *   shim DIR STATUS                 restore through a shim, print "root PID shim PID" and exit
 *   stopped DIR                     restore leaving the tree stopped, check, resume it
 *   restore-cancel DIR              a restore cancelled once its tree exists, before the release
 *   migrate PID ADDR:PORT TOKEN     a pre-copy live migration to a `ferry serve`; prints its
 *                                   statistics by name (tests/migrate/run.sh runs it between nodes)
 *   stall-cancel                    a stall at ferry_op_fault_point() ends on the op's cancel, be
 *                                   it requested before the stall or during it without a signal
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <ferry/ferry.h>

#define CHECK(c, ...) do { if (!(c)) { printf("FAIL: " __VA_ARGS__); printf("\n"); exit(1); } } while (0)

struct job {
	pid_t pid;
	const char *dir;
	int kind;
	ferry_op *op;
	int rc;
	char *log;		/* what the log callback received */
	size_t loglen;
	pthread_mutex_t lock;
};

static void collect(void *arg, int level, const char *msg)
{
	struct job *j = arg;
	size_t n = strlen(msg);
	pthread_mutex_lock(&j->lock);
	char *nl = realloc(j->log, j->loglen + n + 1);
	if (nl) {
		memcpy(nl + j->loglen, msg, n + 1);
		j->log = nl;
		j->loglen += n;
	}
	pthread_mutex_unlock(&j->lock);
}

static ferry_op *new_op(struct job *j, int kind)
{
	ferry_op *op = ferry_op_new(kind);
	CHECK(op, "ferry_op_new(%d): %s", kind, strerror(errno));
	CHECK(ferry_op_set_str(op, "images-dir", j->dir) == 0, "images-dir");
	CHECK(ferry_op_set_log(op, collect, FERRY_LOG_DEBUG, j) == 0, "set_log");
	if (kind == FERRY_OP_DUMP) {
		CHECK(ferry_op_set_int(op, "tree", j->pid) == 0, "tree");
		CHECK(ferry_op_set_bool(op, "leave-running", 1) == 0, "leave-running");
		CHECK(ferry_op_set_str(op, "log-file", "api-dump.log") == 0, "log-file");
	}
	return op;
}

static void *run_job(void *arg)
{
	struct job *j = arg;
	j->op = new_op(j, j->kind);
	j->rc = ferry_op_run(j->op);
	return NULL;
}

/* Runs n jobs of kind at once, each in its thread. */
static void run_all(struct job *jobs, int n, int kind)
{
	pthread_t th[2];
	for (int i = 0; i < n; i++) {
		jobs[i].kind = kind;
		free(jobs[i].log);
		jobs[i].log = NULL;
		jobs[i].loglen = 0;
		pthread_mutex_init(&jobs[i].lock, NULL);
		CHECK(pthread_create(&th[i], NULL, run_job, &jobs[i]) == 0, "pthread_create");
	}
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char *buf = calloc(1, 1 << 22);
	size_t n = buf ? fread(buf, 1, (1 << 22) - 1, f) : 0;
	(void)n;
	fclose(f);
	return buf;
}

static int two_dumps(char **argv)
{
	struct job jobs[2] = { { .pid = atoi(argv[0]), .dir = argv[1] }, { .pid = atoi(argv[2]), .dir = argv[3] } };
	run_all(jobs, 2, FERRY_OP_DUMP);
	char mine[64], other[64], path[4096];
	for (int i = 0; i < 2; i++) {
		struct job *j = &jobs[i];
		CHECK(j->rc == 0, "dump %d: %s", j->pid, ferry_op_error_message(j->op));
		CHECK(ferry_op_image_id(j->op) && strlen(ferry_op_image_id(j->op)) == 32, "dump %d: no image id", j->pid);
		snprintf(mine, sizeof(mine), "tree of pid %d ", j->pid);
		snprintf(other, sizeof(other), "tree of pid %d ", jobs[1 - i].pid);
		CHECK(j->log && strstr(j->log, mine), "the log callback of dump %d did not hear of it", j->pid);
		CHECK(!strstr(j->log, other), "the log callback of dump %d heard of the other dump", j->pid);
		snprintf(path, sizeof(path), "%s/api-dump.log", j->dir);
		char *file = slurp(path);
		CHECK(file && strstr(file, mine) && !strstr(file, other), "%s does not hold this dump's log alone", path);
		free(file);
		uint64_t pages = 0;
		CHECK(ferry_op_stat(j->op, "pages_written", &pages) == 0 && pages > 0, "dump %d: no pages_written", j->pid);
		printf("OK dump %d image %s pages %llu\n", j->pid, ferry_op_image_id(j->op), (unsigned long long)pages);
	}
	CHECK(strcmp(ferry_op_image_id(jobs[0].op), ferry_op_image_id(jobs[1].op)), "two dumps, one image id");
	for (int i = 0; i < 2; i++)
		ferry_op_free(jobs[i].op);
	run_all(jobs, 2, FERRY_OP_VERIFY);
	for (int i = 0; i < 2; i++) {
		CHECK(jobs[i].rc == 0, "verify %s: %s", jobs[i].dir, ferry_op_error_message(jobs[i].op));
		printf("OK verify %s\n", jobs[i].dir);
		ferry_op_free(jobs[i].op);
	}
	return 0;
}

struct prog {
	ferry_op *op;
	int cancel_at_pages;	/* cancel once this many bytes were copied */
	uint64_t last_bytes, total, last_stage, nstage, calls, bytes_calls;
	int bad, done_seen, cancelled, frozen_in_copy;
	char why[256];
};

static void on_progress(void *arg, const struct ferry_progress *p)
{
	struct prog *g = arg;
	g->calls++;
	if (p->size < sizeof(*p) || g->done_seen)
		g->bad = snprintf(g->why, sizeof(g->why), "a report after \"done\" or a short struct");
	if (p->unit == FERRY_UNIT_BYTES) {
		g->bytes_calls++;
		if (p->done < g->last_bytes || (g->total && p->total != g->total) || p->done > p->total)
			g->bad = snprintf(g->why, sizeof(g->why), "bytes %llu after %llu of %llu", (unsigned long long)p->done,
					  (unsigned long long)g->last_bytes, (unsigned long long)p->total);
		g->last_bytes = p->done;
		g->total = p->total;
		g->frozen_in_copy = p->tree == FERRY_TREE_FROZEN;
		if (g->cancel_at_pages && p->done > 0 && p->done < p->total && !g->cancelled) {
			ferry_op_cancel(g->op);
			g->cancelled = 1;
		}
		return;
	}
	if (!strcmp(p->phase, "done")) {
		g->done_seen = 1;
		return;
	}
	if (p->done < g->last_stage || p->done >= p->total)
		g->bad = snprintf(g->why, sizeof(g->why), "stage %s: %llu of %llu after %llu", p->phase,
				  (unsigned long long)p->done, (unsigned long long)p->total, (unsigned long long)g->last_stage);
	g->last_stage = p->done;
	g->nstage++;
}

static ferry_op *dump_op(const char *pid, const char *dir, struct prog *g)
{
	ferry_op *op = ferry_op_new(FERRY_OP_DUMP);
	CHECK(op && ferry_op_set_int(op, "tree", atoi(pid)) == 0 && ferry_op_set_str(op, "images-dir", dir) == 0 &&
	      ferry_op_set_bool(op, "leave-running", 1) == 0, "dump options");
	g->op = op;
	ferry_op_set_progress(op, on_progress, g);
	return op;
}

static int cancel(char **argv)
{
	struct prog g = { .cancel_at_pages = 1 };
	ferry_op *op = dump_op(argv[0], argv[1], &g);
	int r = ferry_op_run(op);
	CHECK(g.cancelled, "the copy never reported progress short of its total (%llu calls)",
	      (unsigned long long)g.bytes_calls);
	CHECK(r == -ECANCELED, "the cancelled dump returned %d (%s)", r, ferry_op_error_message(op));
	CHECK(ferry_op_error_class(op) == FERRY_ERR_CANCELLED, "class %s, not cancelled",
	      ferry_err_class_name(ferry_op_error_class(op)));
	CHECK(g.last_bytes < g.total, "the copy went to its end (%llu of %llu)", (unsigned long long)g.last_bytes,
	      (unsigned long long)g.total);
	printf("OK cancelled at %llu of %llu bytes: %s\n", (unsigned long long)g.last_bytes, (unsigned long long)g.total,
	       ferry_op_error_message(op));
	ferry_op_free(op);
	return 0;
}

/* Every signal's disposition and this thread's mask, to compare before and after an operation. */
struct sigstate {
	struct sigaction sa[65];
	sigset_t mask;
};

static void sig_snapshot(struct sigstate *s)
{
	memset(s, 0, sizeof(*s));
	for (int sig = 1; sig < 65; sig++)
		sigaction(sig, NULL, &s->sa[sig]);
	pthread_sigmask(SIG_SETMASK, NULL, &s->mask);
}

static void sig_unchanged(const struct sigstate *before)
{
	struct sigstate now;
	sig_snapshot(&now);
	for (int sig = 1; sig < 65; sig++)
		CHECK(now.sa[sig].sa_handler == before->sa[sig].sa_handler && now.sa[sig].sa_flags == before->sa[sig].sa_flags,
		      "the operation changed the disposition of signal %d", sig);
	for (int sig = 1; sig < 65; sig++)
		CHECK(sigismember(&now.mask, sig) == sigismember(&before->mask, sig),
		      "the operation left signal %d %s", sig, sigismember(&now.mask, sig) ? "blocked" : "unblocked");
}

static int progress(char **argv)
{
	struct prog g = { 0 };
	struct sigstate sigs;
	ferry_op *op = dump_op(argv[0], argv[1], &g);
	sig_snapshot(&sigs);
	int r = ferry_op_run(op);
	sig_unchanged(&sigs);
	CHECK(r == 0, "dump: %s", ferry_op_error_message(op));
	CHECK(!g.bad, "%s", g.why);
	CHECK(g.done_seen, "no \"done\" report");
	CHECK(g.total > 0 && g.last_bytes == g.total, "the copy ended at %llu of %llu bytes",
	      (unsigned long long)g.last_bytes, (unsigned long long)g.total);
	CHECK(g.frozen_in_copy, "the tree was not reported frozen during a dump's copy");
	CHECK(g.nstage >= 8, "only %llu stages reported", (unsigned long long)g.nstage);
	uint64_t written = 0;
	CHECK(ferry_op_stat(op, "pages_written", &written) == 0 && written * 4096 == g.total,
	      "pages_written %llu does not match the %llu bytes reported", (unsigned long long)written,
	      (unsigned long long)g.total);
	printf("OK %llu stages, %llu byte reports, %llu of %llu bytes\n", (unsigned long long)g.nstage,
	       (unsigned long long)g.bytes_calls, (unsigned long long)g.last_bytes, (unsigned long long)g.total);
	ferry_op_free(op);
	return 0;
}

/*
 * class dump-nopid PID | class dump PID DIR | class restore DIR | class check DIR: prints "class
 * NAME" and the chain (check: also "finding I: ..." for each difference, each in the message).
 */
static int err_class(int argc, char **argv)
{
	int kind = !strcmp(argv[0], "restore") ? FERRY_OP_RESTORE : !strcmp(argv[0], "check") ? FERRY_OP_CHECK : FERRY_OP_DUMP;
	ferry_op *op = ferry_op_new(kind);
	CHECK(op, "ferry_op_new");
	if (!strcmp(argv[0], "dump-ps")) {	/* dump-ps PID DIR PORT: to a page server that is not there */
		CHECK(argc > 3 && ferry_op_set_bool(op, "page-server", 1) == 0 &&
		      ferry_op_set_str(op, "address", "127.0.0.1") == 0 && ferry_op_set_int(op, "port", atoi(argv[3])) == 0,
		      "page server options");
	}
	if (kind == FERRY_OP_DUMP) {
		CHECK(ferry_op_set_int(op, "tree", atoi(argv[1])) == 0, "tree");
		CHECK(ferry_op_set_str(op, "images-dir", argc > 2 ? argv[2] : "/nonexistent/api") == 0, "dir");
		CHECK(ferry_op_set_bool(op, "leave-running", 1) == 0, "-R");
	} else if (kind == FERRY_OP_CHECK) {
		CHECK(ferry_op_set_str(op, "image", argv[1]) == 0, "image");
	} else {
		CHECK(ferry_op_set_str(op, "images-dir", argv[1]) == 0, "dir");
		CHECK(ferry_op_set_bool(op, "restore-detached", 1) == 0, "-d");
	}
	int r = ferry_op_run(op);
	for (size_t i = 0; kind == FERRY_OP_CHECK && i < ferry_op_finding_count(op); i++) {
		CHECK(strstr(ferry_op_error_message(op), ferry_op_finding(op, i)), "finding %zu is not in the message", i);
		printf("finding %zu: %s\n", i, ferry_op_finding(op, i));
	}
	CHECK(kind != FERRY_OP_CHECK || ferry_op_finding_count(op) > 0, "check: no finding");
	CHECK(r < 0, "the operation succeeded");
	CHECK(ferry_op_error_code(op) == -r, "error code %d, returned %d", ferry_op_error_code(op), r);
	size_t n = ferry_op_error_chain_len(op);
	CHECK(n >= 1, "no chain");
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += strlen(ferry_op_error_chain(op, i)) + (i ? 2 : 0);
	CHECK(total == strlen(ferry_op_error_message(op)), "the chain (%zu elements) does not make the message", n);
	printf("class %s\n", ferry_err_class_name(ferry_op_error_class(op)));
	for (size_t i = 0; i < n; i++)
		printf("chain %zu: %s\n", i, ferry_op_error_chain(op, i));
	ferry_op_free(op);
	return 0;
}

static ferry_op *restore_op(const char *dir)
{
	ferry_op *op = ferry_op_new(FERRY_OP_RESTORE);
	CHECK(op && ferry_op_set_str(op, "images-dir", dir) == 0, "restore options");
	return op;
}

static int shim(char **argv)
{
	ferry_op *op = restore_op(argv[0]);
	CHECK(ferry_op_set_bool(op, "shim", 1) == 0 && ferry_op_set_str(op, "shim-status-file", argv[1]) == 0, "shim options");
	struct job j = { 0 };
	pthread_mutex_init(&j.lock, NULL);
	ferry_op_set_log(op, collect, FERRY_LOG_INFO, &j);
	int r = ferry_op_run(op);
	CHECK(r == 0, "restore through a shim: %s", ferry_op_error_message(op));
	CHECK(ferry_op_shim_pid(op) > 0 && ferry_op_root_pid(op) > 0, "no shim or root pid");
	CHECK(j.log && strstr(j.log, "restored in"), "the shim's log did not reach the caller's callback");
	printf("root %d shim %d\n", ferry_op_root_pid(op), ferry_op_shim_pid(op));
	fflush(stdout);
	_exit(0);	/* the caller goes away: the tree and its shim must not care */
}

/* A restore cancelled once its tree exists, before its release: it fails, class cancelled. */
static void cancel_at_objects(void *arg, const struct ferry_progress *p)
{
	struct prog *g = arg;
	if (p->unit == FERRY_UNIT_STAGES && !strcmp(p->phase, "objects") && !g->cancelled) {
		g->cancelled = 1;
		ferry_op_cancel(g->op);
	}
}

static int restore_cancel(char **argv)
{
	struct prog g = { 0 };
	ferry_op *op = restore_op(argv[0]);
	g.op = op;
	ferry_op_set_progress(op, cancel_at_objects, &g);
	int r = ferry_op_run(op);
	CHECK(g.cancelled, "no \"objects\" stage reported");
	CHECK(r == -ECANCELED && ferry_op_error_class(op) == FERRY_ERR_CANCELLED, "returned %d, class %s: %s", r,
	      ferry_err_class_name(ferry_op_error_class(op)), ferry_op_error_message(op));
	CHECK(ferry_op_root_pid(op) == 0, "a cancelled restore reports a tree");
	printf("OK restore cancelled before its release: %s\n", ferry_op_error_message(op));
	ferry_op_free(op);
	return 0;
}

static char proc_state(pid_t pid)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "re");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] ? p[2] : '?';
}

static int stopped(char **argv)
{
	ferry_op *op = restore_op(argv[0]);
	CHECK(ferry_op_set_bool(op, "leave-stopped", 1) == 0 && ferry_op_set_bool(op, "restore-detached", 1) == 0,
	      "options");
	int r = ferry_op_run(op);
	CHECK(r == 0, "restore: %s", ferry_op_error_message(op));
	pid_t root = ferry_op_root_pid(op);
	for (int i = 0; i < 200 && proc_state(root) != 'T'; i++)
		usleep(10000);
	CHECK(proc_state(root) == 'T', "the restored root %d is '%c', not stopped", root, proc_state(root));
	CHECK(ferry_op_resume(op) == 0, "resume");
	/* read once: the state moves on between two reads (R, S, D are all "running on") */
	char st = 'T';
	for (int i = 0; i < 1000 && (st = proc_state(root)) == 'T'; i++)
		usleep(10000);
	CHECK(st == 'S' || st == 'R' || st == 'D', "after resume the root is '%c'", st);
	printf("OK root %d stopped, then resumed\n", root);
	ferry_op_free(op);
	return 0;
}

/* A live migration through the library: the report goes to the output, the statistics are the result. */
static int migrate(char **argv)
{
	static const char *const names[] = { "total_ms", "downtime_ms", "bytes_sent", "rounds", "mode", "dest_pid" };
	uint64_t v[6];
	pid_t pid = (pid_t)atoi(argv[0]);
	ferry_op *op = ferry_op_new(FERRY_OP_MIGRATE);
	FILE *null = fopen("/dev/null", "w");
	CHECK(op && null, "ferry_op_new(MIGRATE)");
	CHECK(ferry_op_set_int(op, "tree", pid) == 0 && ferry_op_set_str(op, "to", argv[1]) == 0 &&
	      ferry_op_set_str(op, "token-file", argv[2]) == 0 && ferry_op_set_str(op, "mode", "precopy") == 0,
	      "options: %s", ferry_op_error_message(op));
	ferry_op_set_output(op, null);
	CHECK(ferry_op_run(op) == 0, "migrate: %s", ferry_op_error_message(op));
	for (int i = 0; i < 6; i++) {
		CHECK(ferry_op_stat(op, names[i], &v[i]) == 0, "no statistic %s", names[i]);
		printf("stat %s %llu\n", names[i], (unsigned long long)v[i]);
	}
	CHECK(v[1] <= v[0] && v[2] > 0 && v[3] >= 2 && v[4] == 1 && v[5] == (uint64_t)pid,
	      "statistics that do not fit a pre-copy migration of pid %d", (int)pid);
	printf("OK migrated pid %d through the library: %llu ms down of %llu ms, %llu bytes in %llu rounds\n", (int)pid,
	       (unsigned long long)v[1], (unsigned long long)v[0], (unsigned long long)v[2], (unsigned long long)v[3]);
	fclose(null);
	ferry_op_free(op);
	return 0;
}

/* serve and migrate: endpoints and modes checked when set, required options named at the run. */
static int migration_options(void)
{
	ferry_op *m = ferry_op_new(FERRY_OP_MIGRATE), *s = ferry_op_new(FERRY_OP_SERVE);
	uint64_t v;
	CHECK(m && s, "ferry_op_new(MIGRATE/SERVE)");
	CHECK(ferry_op_set_str(m, "to", "nohost") == -EINVAL && strstr(ferry_op_error_message(m), "ADDR:PORT") &&
	      ferry_op_error_class(m) == FERRY_ERR_INVALID, "to without a port: %s", ferry_op_error_message(m));
	CHECK(ferry_op_set_str(m, "to", "10.0.0.1:0") == -EINVAL && ferry_op_set_str(m, "to", "[::1]:7000") == 0,
	      "to: port 0 / IPv6");
	CHECK(ferry_op_set_str(s, "listen", "127.0.0.1:0") == 0 && ferry_op_set_str(s, "to", "127.0.0.1:1") == -ENOTSUP,
	      "listen on a serve, to not");
	CHECK(ferry_op_set_str(m, "mode", "warm") == -EINVAL && ferry_op_set_str(m, "mode", "precopy") == 0, "mode");
	CHECK(ferry_op_set_bool(m, "force", 1) == 0 && ferry_op_set_bool(s, "force", 1) == -ENOTSUP, "force");
	CHECK(ferry_op_set_bool(m, "insecure", 1) == -ENOTSUP && ferry_op_set_bool(s, "insecure", 1) == 0, "insecure");
	CHECK(ferry_op_run(m) == -EINVAL && strstr(ferry_op_error_message(m), "tree"), "a migration without a tree ran: %s",
	      ferry_op_error_message(m));
	CHECK(ferry_op_stat(m, "downtime_ms", &v) == -ENOENT, "statistics of a migration that did not run");
	printf("OK serve and migrate options by name\n");
	ferry_op_free(m);
	ferry_op_free(s);
	return 0;
}

/* Options by name: unknown names, names of another kind, bad values and types are told apart. */
static int options(void)
{
	ferry_op *d = ferry_op_new(FERRY_OP_DUMP), *r = ferry_op_new(FERRY_OP_RESTORE);
	CHECK(d && r && !ferry_op_new((enum ferry_op_kind)99), "ferry_op_new");
	CHECK(ferry_op_set_bool(d, "no-such-option", 1) == -ENOENT, "an unknown name is not -ENOENT");
	CHECK(ferry_op_set_bool(r, "leave-running", 1) == -ENOTSUP, "leave-running on a restore is not -ENOTSUP");
	CHECK(ferry_op_set_int(d, "tree", 0) == -EINVAL && ferry_op_error_class(d) == FERRY_ERR_INVALID &&
	      strstr(ferry_op_error_message(d), "tree"), "tree 0: %s", ferry_op_error_message(d));
	CHECK(ferry_op_set_str(d, "tree", "1") == -EINVAL, "a string for a number");
	CHECK(ferry_op_set_str(d, "compress", "gzip") == -EINVAL && ferry_op_set_str(d, "compress", "zstd") == 0, "compress");
	CHECK(ferry_op_add_inherit_fd(d, 0, "x") == -ENOTSUP && ferry_op_add_inherit_fd(r, 0, "pipe:[1]") == 0, "inherit-fd");
	CHECK(ferry_op_run(d) == -EINVAL && ferry_op_error_class(d) == FERRY_ERR_INVALID, "a dump without a tree ran: %s",
	      ferry_op_error_message(d));
	CHECK(ferry_op_get_kind(r) == FERRY_OP_RESTORE && ferry_op_root_pid(r) == 0 && !ferry_op_image_id(r), "fresh handle");
	int ma = 0, mi = 0;
	CHECK(ferry_format_version("image", &ma, &mi) == 0 && ma > 0 && ferry_format_version("x", &ma, &mi) == -ENOENT,
	      "format versions");
	CHECK(!strcmp(ferry_err_class_name(FERRY_ERR_PID_TAKEN), "pid-taken"), "class names");
	printf("OK options by name, library %s, image format %d.%d\n", ferry_version(), ma, mi);
	ferry_op_free(d);
	ferry_op_free(r);
	return migration_options();
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds ferry_op_fault_point(op, "api-stall") took (FERRY_STALL=api-stall). */
static double stall_time(ferry_op *op)
{
	double t = now();
	CHECK(ferry_op_fault_point(op, "api-stall") == 0, "a stall point failed without FERRY_FAULT");
	return now() - t;
}

static void *cancel_later(void *op)
{
	usleep(300 * 1000);
	ferry_op_cancel(op);	/* a flag only: no signal interrupts the stall's sleep */
	return NULL;
}

/*
 * A stall (a test's hold on ferry at a point) ends when the operation is cancelled, not only
 * when a signal interrupts its sleep: a cancel whose signal was handled just before the stall,
 * or between two of its sleeps (a thread kept off the CPU by load), would otherwise go unseen
 * for the whole stall, as a SIGTERM at the command line's action-pre-dump point was.
 */
static int stall_cancel(void)
{
	setenv("FERRY_STALL", "api-stall", 1);
	setenv("FERRY_STALL_MS", "500", 1);
	ferry_op *op = ferry_op_new(FERRY_OP_DUMP);
	CHECK(op, "ferry_op_new");
	double t = stall_time(op);
	CHECK(t >= 0.45, "an op not cancelled stalled %.2f s, not 0.5 s", t);
	setenv("FERRY_STALL_MS", "60000", 1);
	ferry_op_cancel(op);
	t = stall_time(op);
	CHECK(t < 10, "an op cancelled before the stall stalled %.2f s", t);
	ferry_op_free(op);
	op = ferry_op_new(FERRY_OP_DUMP);
	pthread_t th;
	CHECK(op && pthread_create(&th, NULL, cancel_later, op) == 0, "thread");
	t = stall_time(op);
	pthread_join(th, NULL);
	CHECK(t >= 0.25 && t < 10, "an op cancelled 0.3 s into the stall stalled %.2f s", t);
	ferry_op_free(op);
	printf("OK a stall ends on its op's cancel, requested before it or during it\n");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && !strcmp(argv[1], "options"))
		return options();
	if (argc >= 6 && !strcmp(argv[1], "two-dumps"))
		return two_dumps(argv + 2);
	if (argc >= 4 && !strcmp(argv[1], "cancel"))
		return cancel(argv + 2);
	if (argc >= 4 && !strcmp(argv[1], "progress"))
		return progress(argv + 2);
	if (argc >= 4 && !strcmp(argv[1], "class"))
		return err_class(argc - 2, argv + 2);
	if (argc >= 4 && !strcmp(argv[1], "shim"))
		return shim(argv + 2);
	if (argc >= 3 && !strcmp(argv[1], "restore-cancel"))
		return restore_cancel(argv + 2);
	if (argc >= 5 && !strcmp(argv[1], "migrate"))
		return migrate(argv + 2);
	if (argc == 2 && !strcmp(argv[1], "stall-cancel"))
		return stall_cancel();
	if (argc >= 3 && !strcmp(argv[1], "stopped"))
		return stopped(argv + 2);
	fprintf(stderr, "usage: api_test options|two-dumps|cancel|progress|class|shim|stopped|restore-cancel|stall-cancel ...\n");
	return 2;
}
