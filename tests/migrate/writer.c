// SPDX-License-Identifier: Apache-2.0
// The workload of tests/migrate (zdtm protocol, tests/lib/zdtm.h): keeps writing memory while it
// is migrated, so pre-copy has a dirty set in every round. A thread writes page after page of a
// 32 MiB area (FERRY_WRITER_MIB) at about WRITER_RATE MiB/s, stamping each with a sequence number,
// and records every stamp in a separate log area; after SIGTERM it stops and checks that every
// page holds exactly the stamp the log says it got last (a page or a log entry lost in any round
// shows as a mismatch), plus a pipe and a unix socket pair with bytes in flight.
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "zdtm.h"

#define PAGE 4096

static uint8_t *area;
static uint64_t *logv;		/* per page: the last stamp written */
static size_t npages;
static volatile int stop;
static volatile uint64_t written;

static void stamp(size_t i, uint64_t seq)
{
	uint64_t *p = (uint64_t *)(area + i * PAGE);
	p[0] = seq;
	p[1] = i;
	for (int k = 2; k < PAGE / 8; k += 64)
		p[k] = seq * 0x9e3779b97f4a7c15ULL + k;
	logv[i] = seq;
}

static int check(size_t i)
{
	const uint64_t *p = (const uint64_t *)(area + i * PAGE);
	uint64_t seq = logv[i];
	if (p[0] != seq || p[1] != i)
		return 0;
	for (int k = 2; seq && k < PAGE / 8; k += 64)
		if (p[k] != seq * 0x9e3779b97f4a7c15ULL + k)
			return 0;
	return 1;
}

static void *writer(void *arg)
{
	long rate = *(long *)arg;	/* pages per 10 ms */
	uint64_t seq = 1;
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	while (!stop) {
		for (long n = 0; n < rate && !stop; n++, seq++) {
			/* a spread that is not sequential: rounds see scattered dirty pages */
			stamp((size_t)((seq * 7919) % npages), seq);
			written = seq;
		}
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int main(void)
{
	const char *mib = getenv("FERRY_WRITER_MIB"), *r = getenv("WRITER_RATE");
	long rate = (r ? atol(r) : 8) * 256 / 100;	/* MiB/s into pages per 10 ms */
	int pfd[2], sv[2];
	char buf[64];
	pthread_t th;
	zdtm_init("migrate_writer");
	npages = (size_t)(mib ? atol(mib) : 32) * 256;
	area = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	logv = calloc(npages, sizeof(*logv));
	if (area == MAP_FAILED || !logv || pipe(pfd) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		zdtm_skip("setup: %m");
	for (size_t i = 0; i < npages; i++)
		stamp(i, 0);
	if (write(pfd[1], "in the pipe", 11) != 11 || write(sv[0], "in the socket", 13) != 13)
		zdtm_skip("setup writes: %m");
	if (rate < 1)
		rate = 1;
	pthread_create(&th, NULL, writer, &rate);
	zdtm_ready();
	zdtm_wait_sigterm();
	stop = 1;
	pthread_join(th, NULL);
	size_t bad = 0, first = 0;
	for (size_t i = 0; i < npages; i++)
		if (!check(i) && !bad++)
			first = i;
	zdtm_check(!bad, "%zu page(s) differ from their log entry (first: page %zu)", bad, first);
	zdtm_check(written > 0, "the writer wrote nothing");
	memset(buf, 0, sizeof(buf));
	zdtm_check(read(pfd[0], buf, sizeof(buf)) == 11 && !memcmp(buf, "in the pipe", 11), "pipe data lost");
	memset(buf, 0, sizeof(buf));
	zdtm_check(read(sv[1], buf, sizeof(buf)) == 13 && !memcmp(buf, "in the socket", 13), "socket data lost");
	printf("%llu pages written\n", (unsigned long long)written);
	zdtm_pass();
}
