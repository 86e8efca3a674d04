/* SPDX-License-Identifier: Apache-2.0 */
/*
 * migrate: endpoint and mode parsing, the pre-flight (what the source collects, every kind of
 * mismatch the destination names, which --force may override), and control messages over a
 * framed connection (ids, kinds, frames that are not control messages).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "image/image.h"
#include "migrate/channel.h"
#include "migrate/migrate.h"
#include "migrate/preflight.h"

static void test_endpoint(void **state)
{
	char host[64];
	int port = 0;
	assert_int_equal(migrate_parse_endpoint("10.0.0.2:7000", host, sizeof(host), &port, NULL), 0);
	assert_string_equal(host, "10.0.0.2");
	assert_int_equal(port, 7000);
	assert_int_equal(migrate_parse_endpoint("[::1]:80", host, sizeof(host), &port, NULL), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 80);
	assert_int_equal(migrate_parse_endpoint("host", host, sizeof(host), &port, NULL), -EINVAL);
	assert_int_equal(migrate_parse_endpoint(":80", host, sizeof(host), &port, NULL), -EINVAL);
	assert_int_equal(migrate_parse_endpoint("h:99999", host, sizeof(host), &port, NULL), -EINVAL);
	assert_int_equal(migrate_parse_endpoint("h:7x", host, sizeof(host), &port, NULL), -EINVAL);
	assert_int_equal(migrate_parse_endpoint("a-very-long-host-name-that-does-not-fit-in-the-buffer:1", host, 16,
						&port, NULL), -EINVAL);
}

static void test_mode(void **state)
{
	enum migrate_mode m;
	const char *names[] = { "cold", "precopy", "postcopy", "hybrid" };
	for (int i = 0; i < 4; i++) {
		assert_int_equal(migrate_mode_parse(names[i], &m), 0);
		assert_string_equal(migrate_mode_name(m), names[i]);
	}
	assert_int_equal(migrate_mode_parse("warm", &m), -EINVAL);
	assert_int_equal(migrate_mode_parse(NULL, &m), -EINVAL);
}

/* What the source collects about this very process: itself, its threads, its executable. */
static void test_collect(void **state)
{
	Ferry__MigratePreflight *p = NULL;
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = 0;
	assert_int_equal(pf_collect(getpid(), &p, NULL), 0);
	assert_true(p->n_pids >= 1);
	assert_int_equal(p->pids[0], getpid());
	assert_int_equal(p->image_major, FERRY_FORMAT_MAJOR);
	assert_non_null(p->boot_id);
	int found = 0;
	for (size_t i = 0; i < p->n_files; i++)
		if (!strcmp(p->files[i]->path, exe)) {
			found = 1;
			assert_true(p->files[i]->has_hash);	/* read-only: identified by its content */
		}
	assert_true(found);
	/* checked against this same host: only our own PIDs are "taken" */
	struct pf_verdict v = { 0 };
	assert_int_equal(pf_check(p, &v), 0);
	assert_int_equal(v.n, 1);
	assert_string_equal(v.v[0]->what, "pid");
	assert_false(v.v[0]->forcible);
	assert_false(pf_accepted(&v, 1));
	pf_verdict_free(&v);
	pf_free(p);
}

static Ferry__MigrateFile *file(const char *path, uint64_t size, int writable)
{
	Ferry__MigrateFile *f = calloc(1, sizeof(*f));
	ferry__migrate_file__init(f);
	f->path = strdup(path);
	f->has_size = f->has_mode = f->has_writable = 1;
	f->size = size;
	f->mode = 0100000;	/* S_IFREG */
	f->writable = writable;
	return f;
}

/* Whether v names what with detail containing part, and forcible as said. */
static int names(const struct pf_verdict *v, const char *what, const char *part, int forcible)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->v[i]->what, what) && strstr(v->v[i]->detail, part) && v->v[i]->forcible == forcible)
			return 1;
	return 0;
}

static void test_mismatches(void **state)
{
	Ferry__MigratePreflight *p = NULL;
	char tmp[] = "/tmp/ferry-unit-migrate.XXXXXX";
	int fd = mkstemp(tmp);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "twelve bytes", 12), 12);
	close(fd);
	assert_int_equal(pf_collect(getpid(), &p, NULL), 0);
	p->n_pids = 0;	/* no PID to check */
	p->image_major = FERRY_FORMAT_MAJOR + 1;
	char **flags = realloc(p->cpu_flags, (p->n_cpu_flags + 1) * sizeof(char *));
	p->cpu_flags = flags;
	p->cpu_flags[p->n_cpu_flags++] = strdup("no_such_cpu_flag");
	Ferry__MigrateFile **fs = realloc(p->files, (p->n_files + 4) * sizeof(*fs));
	p->files = fs;
	fs[p->n_files++] = file("/nonexistent/ferry-unit", 1, 0);
	fs[p->n_files++] = file(tmp, 13, 0);		/* another size */
	fs[p->n_files++] = file(tmp, 12, 0);		/* same size, other content */
	fs[p->n_files - 1]->has_hash = 1;
	fs[p->n_files - 1]->hash = 1;
	fs[p->n_files++] = file(tmp, 99, 1);		/* written by the tree: presence only */
	struct pf_verdict v = { 0 };
	assert_int_equal(pf_check(p, &v), 0);
	assert_true(names(&v, "version", "a major version apart", 0));
	assert_true(names(&v, "cpu", "no_such_cpu_flag", 1));
	assert_true(names(&v, "file", "/nonexistent/ferry-unit: No such file or directory here", 0));
	assert_true(names(&v, "file", "13 at the source", 1));
	assert_true(names(&v, "file", "same size, other content", 1));
	assert_int_equal(v.n, 5);
	assert_false(pf_accepted(&v, 1));	/* the version and the missing file cannot be forced */
	char buf[4096];
	pf_format(v.v, v.n, buf, sizeof(buf));
	assert_non_null(strstr(buf, "cpu: 1 CPU feature(s) of the source missing here"));
	assert_non_null(strstr(buf, "(--force overrides)"));
	pf_verdict_free(&v);
	/* only forcible ones left: --force accepts them, nothing else does */
	p->image_major = FERRY_FORMAT_MAJOR;
	free(fs[p->n_files - 4]->path);
	fs[p->n_files - 4]->path = strdup(tmp);
	fs[p->n_files - 4]->size = 12;
	assert_int_equal(pf_check(p, &v), 0);
	assert_int_equal(v.n, 3);
	assert_false(pf_accepted(&v, 0));
	assert_true(pf_accepted(&v, 1));
	pf_verdict_free(&v);
	pf_free(p);
	unlink(tmp);
}

/* The test-only switch that pretends this CPU lacks some features. */
static void test_cpu_drop(void **state)
{
	char **f;
	size_t n, n2;
	assert_int_equal(pf_cpu_flags(&f, &n), 0);
	if (n == 0)
		skip();
	char *victim = strdup(f[0]);
	for (size_t i = 0; i < n; i++)
		free(f[i]);
	free(f);
	setenv("FERRY_TEST_CPU_FLAGS_DROP", victim, 1);
	assert_int_equal(pf_cpu_flags(&f, &n2), 0);
	unsetenv("FERRY_TEST_CPU_FLAGS_DROP");
	assert_int_equal(n2, n - 1);
	for (size_t i = 0; i < n2; i++) {
		assert_string_not_equal(f[i], victim);
		free(f[i]);
	}
	free(f);
	free(victim);
}

/* Control messages over a socket pair: kinds, ids, and what is not a control message. */
static void test_channel(void **state)
{
	int sv[2];
	struct chan a = { 0 }, b = { 0 };
	Ferry__MigrateMsg *m = NULL;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	conn_init(&a.c, sv[0], "a");
	conn_init(&b.c, sv[1], "b");
	a.open = b.open = 1;
	memset(a.id, 7, MIG_ID_LEN);
	assert_int_equal(chan_send_kind(&a, FERRY__MIGRATE_MSG__KIND__READY, NULL, NULL), 0);
	assert_int_equal(chan_recv(&b, &m, 0, NULL), 0);	/* the first message gives the id */
	assert_int_equal(m->kind, FERRY__MIGRATE_MSG__KIND__READY);
	assert_memory_equal(b.id, a.id, MIG_ID_LEN);
	chan_msg_free(m);
	/* FAILED where READY is expected: an error carrying the peer's reason */
	struct ferry_err err = { 0 };
	assert_int_equal(chan_send_kind(&a, FERRY__MIGRATE_MSG__KIND__FAILED, "restore broke", NULL), 0);
	assert_int_equal(chan_expect(&b, FERRY__MIGRATE_MSG__KIND__READY, &m, &err), -ECANCELED);
	assert_non_null(strstr(err.msg, "restore broke"));
	/* another migration's message */
	memset(a.id, 8, MIG_ID_LEN);
	assert_int_equal(chan_send_kind(&a, FERRY__MIGRATE_MSG__KIND__GO, NULL, NULL), 0);
	assert_int_equal(chan_recv(&b, &m, 1, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "another migration"));
	/* a frame that is not a control message, and one that does not decode */
	assert_int_equal(conn_send(&a.c, WT_DATA, 1, "x", 1, NULL), 0);
	assert_int_equal(chan_recv(&b, &m, 1, &err), -EPROTO);
	assert_int_equal(conn_send(&a.c, WT_CTRL, 0, "\xff\xff\xff", 3, NULL), 0);
	assert_int_equal(chan_recv(&b, &m, 1, &err), -EBADMSG);
	chan_close(&a);
	chan_close(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoint), cmocka_unit_test(test_mode), cmocka_unit_test(test_collect),
		cmocka_unit_test(test_mismatches), cmocka_unit_test(test_cpu_drop), cmocka_unit_test(test_channel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
