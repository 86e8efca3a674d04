// SPDX-License-Identifier: Apache-2.0
// AIO contexts (io_setup, raw syscalls): three contexts of different sizes, the middle one destroyed
// (its slot stays free), events completed but not reaped, a ring whose head and tail wrapped around.
// After restore each ring is at its address with its size, id, head and tail; the unreaped events
// come out of io_getevents() with their data and results; a new request completes at tail + 1. A
// child forked before the dump keeps its view of the parent's ring (the mapping, not the context:
// io_submit on it fails) and has a context of its own with an unreaped event.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct aio_ring {
	unsigned id, nr, head, tail, magic, compat, incompat, header_length;
	struct io_event ev[];
};

#define NCTX 3
static aio_context_t ctx[NCTX];
static struct aio_ring saved[NCTX];
static int nullfd;
static unsigned parent_nr;	/* the child's view of the parent's first ring */
static char buf[64];

static long submit(aio_context_t c, uint64_t data, size_t len)
{
	struct iocb cb = { .aio_data = data, .aio_lio_opcode = IOCB_CMD_PWRITE, .aio_fildes = (uint32_t)nullfd,
			   .aio_buf = (uintptr_t)buf, .aio_nbytes = len };
	struct iocb *cbp = &cb;
	return syscall(SYS_io_submit, c, 1, &cbp);
}

static long reap(aio_context_t c, struct io_event *ev, long n)
{
	return syscall(SYS_io_getevents, c, n, n, ev, NULL);
}

static void save(int i)
{
	memcpy(&saved[i], (void *)ctx[i], sizeof(saved[i]));
}

/* The unreaped events of context i: data 1000*i + k, result k + 1. */
static void pending(int i, int n)
{
	for (int k = 0; k < n; k++)
		if (submit(ctx[i], 1000 * i + k, k + 1) != 1)
			exit(2);
}

static void check_ring(const char *who, int i, int npend)
{
	struct aio_ring *r = (void *)ctx[i];
	struct io_event ev[8];
	zdtm_check(r->nr == saved[i].nr && r->head == saved[i].head && r->tail == saved[i].tail && r->id == saved[i].id,
		   "%s: ring %d: nr %u head %u tail %u id %u, was %u %u %u %u", who, i, r->nr, r->head, r->tail, r->id,
		   saved[i].nr, saved[i].head, saved[i].tail, saved[i].id);
	long got = reap(ctx[i], ev, npend);
	zdtm_check(got == npend, "%s: ring %d: io_getevents gave %ld events, want %d", who, i, got, npend);
	for (long k = 0; k < got; k++)
		zdtm_check(ev[k].data == 1000 * (uint64_t)i + k && ev[k].res == k + 1, "%s: ring %d event %ld: data %llu res %lld",
			   who, i, k, (unsigned long long)ev[k].data, (long long)ev[k].res);
	unsigned tail = r->tail;
	zdtm_check(submit(ctx[i], 77, 1) == 1, "%s: ring %d: io_submit after restore: %m", who, i);
	zdtm_check(r->tail == (tail + 1) % r->nr, "%s: ring %d: tail %u after a submit, want %u", who, i, r->tail,
		   (tail + 1) % r->nr);
	zdtm_check(reap(ctx[i], ev, 1) == 1 && ev[0].data == 77, "%s: ring %d: the new event", who, i);
}

static volatile sig_atomic_t go;
static void on_term(int sig) { go = 1; }

static void child_main(int ready)
{
	aio_context_t own = 0, parent_ring = ctx[0];
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	if (syscall(SYS_io_setup, 16, &own) < 0)
		_exit(2);
	ctx[0] = own;
	pending(0, 1);
	save(0);
	if (write(ready, "r", 1) != 1)
		_exit(2);
	while (!go)
		pause();
	struct aio_ring *pr = (void *)parent_ring;
	zdtm_check(pr->nr == parent_nr && pr->magic == 0xa10a10a1, "child: the parent's ring mapping: nr %u", pr->nr);
	zdtm_check(submit(parent_ring, 1, 1) < 0 && errno == EINVAL, "child: io_submit on the parent's context worked");
	check_ring("child", 0, 1);
	zdtm_exit();
}

int main(void)
{
	struct io_event ev[4];
	int pp[2];
	char c;
	zdtm_init("aio");
	nullfd = open("/dev/null", O_WRONLY);
	if (syscall(SYS_io_setup, 64, &ctx[0]) < 0)
		zdtm_skip("io_setup: %m");
	aio_context_t gone = 0;
	if (syscall(SYS_io_setup, 8, &gone) < 0 || syscall(SYS_io_setup, 300, &ctx[2]) < 0 ||
	    syscall(SYS_io_setup, 1, &ctx[1]) < 0)
		return 2;
	syscall(SYS_io_destroy, gone);	/* its slot (id 1) stays free: ctx[1] took slot 3 */
	/* ring 0: head and tail wrap around, then 5 unreaped events */
	unsigned nr = ((struct aio_ring *)ctx[0])->nr;
	for (unsigned k = 0; k < nr + 23; k++)
		if (submit(ctx[0], 5, 1) != 1 || reap(ctx[0], ev, 1) != 1)
			return 2;
	pending(0, 5);
	pending(2, 3);
	save(0);
	save(1);
	save(2);
	if (pipe(pp) < 0)
		return 2;
	parent_nr = saved[0].nr;
	pid_t child = fork();
	if (child == 0)
		child_main(pp[1]);
	if (read(pp[0], &c, 1) != 1)
		return 2;
	zdtm_ready();
	zdtm_wait_sigterm();
	check_ring("parent", 0, 5);
	check_ring("parent", 1, 0);
	check_ring("parent", 2, 3);
	kill(child, SIGTERM);
	int st;
	zdtm_check(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		   "the child failed its checks (status %#x)", st);
	zdtm_exit();
}
