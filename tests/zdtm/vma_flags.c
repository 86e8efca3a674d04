// SPDX-License-Identifier: Apache-2.0
// Per-VMA state in a parent and its child: MADV_DONTFORK, MADV_WIPEONFORK, MADV_DONTDUMP, THP advice,
// KSM, sequential/random advice, MAP_NORESERVE, MAP_GROWSDOWN, MAP_32BIT, MAP_DROPPABLE, a PROT_NONE
// reservation (not charged) next to a region made read-only after use (charged), mlock, mlock2
// (MLOCK_ONFAULT), guard regions (MADV_GUARD_INSTALL) and mseal. After restore every VMA has the
// VmFlags it had (smaps, exactly), the contents are there, guard pages fault with SIGSEGV, sealed
// memory refuses munmap and mprotect, VmLck is the same, and a fork made after restore honours
// DONTFORK (the region is gone in the child) and WIPEONFORK (zero in the child). Built twice:
// vma_flags_thread (-DZDTM_FORK_IN_THREAD) forks the child from a second thread, which then stays
// blocked: restore forks it from that thread too, and still sets the flags only afterwards.
#include "zdtm.h"
#include "memtest.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096UL
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
#ifndef SYS_mseal
#define SYS_mseal 462
#endif

enum { DONTFORK, WIPE, DONTDUMP, HUGE, NOHUGE, MERGE, SEQ, RAND, NORES, GROWS, LOW, NONE, ROAC, LOCK, ONFAULT,
       GUARD, SEAL, DROP, NREG };
static const char *names[NREG] = { "dontfork", "wipeonfork", "dontdump", "hugepage", "nohugepage", "mergeable",
				   "sequential", "random", "noreserve", "growsdown", "32bit", "prot-none",
				   "ro-charged", "mlock", "mlock-onfault", "guard", "sealed", "droppable" };
static unsigned char *reg[NREG];
static int have[NREG];
#define NPAGES 8

static void *map(int flags, int prot)
{
	void *p = mmap(NULL, NPAGES * PG, prot, flags, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void fill(unsigned char *p, int seed)
{
	for (unsigned long i = 0; i < NPAGES; i++)
		memset(p + i * PG, seed + (int)i, PG);
}

static int check(const unsigned char *p, int seed)
{
	for (unsigned long i = 0; i < NPAGES; i++)
		for (unsigned long k = 0; k < PG; k += 512)
			if (p[i * PG + k] != (unsigned char)(seed + (int)i))
				return 0;
	return 1;
}

static void setup(int in_child)
{
	int rw = PROT_READ | PROT_WRITE, anon = MAP_PRIVATE | MAP_ANONYMOUS;
	static const int adv[NREG] = { [DONTFORK] = MADV_DONTFORK, [WIPE] = MADV_WIPEONFORK, [DONTDUMP] = MADV_DONTDUMP,
				       [HUGE] = MADV_HUGEPAGE, [NOHUGE] = MADV_NOHUGEPAGE, [MERGE] = MADV_MERGEABLE,
				       [SEQ] = MADV_SEQUENTIAL, [RAND] = MADV_RANDOM };
	for (int i = 0; i < NREG; i++) {
		if (in_child && (i == DONTFORK || i == WIPE))
			continue;	/* the child has the parent's (WIPE zeroed, DONTFORK not at all) */
		int flags = anon | (i == NORES ? MAP_NORESERVE : 0) | (i == GROWS ? MAP_GROWSDOWN : 0) |
			    (i == LOW ? MAP_32BIT : 0);
		if (i == DROP)
			flags = MAP_DROPPABLE | MAP_ANONYMOUS;
		reg[i] = map(flags, i == NONE ? PROT_NONE : rw);
		if (!reg[i])
			continue;	/* MAP_DROPPABLE needs Linux 6.11 */
		if (i == ONFAULT)	/* half untouched: it stays out of memory, and unlocked */
			memset(reg[i], i * 16 + in_child, 4 * PG);
		else if (i != NONE)
			fill(reg[i], i * 16 + in_child);
		have[i] = adv[i] ? madvise(reg[i], NPAGES * PG, adv[i]) == 0 : 1;
		if (i == ROAC)
			have[i] = mprotect(reg[i], NPAGES * PG, PROT_READ) == 0;
		if (i == LOCK)
			have[i] = mlock(reg[i], NPAGES * PG) == 0;
		if (i == ONFAULT)
			have[i] = mlock2(reg[i], NPAGES * PG, MLOCK_ONFAULT) == 0;
		if (i == GUARD)
			have[i] = madvise(reg[i] + PG, PG, MADV_GUARD_INSTALL) == 0 &&
				  madvise(reg[i] + 5 * PG, 2 * PG, MADV_GUARD_INSTALL) == 0;
		if (i == SEAL)
			have[i] = syscall(SYS_mseal, reg[i], NPAGES * PG, 0) == 0;
	}
}

static int is_guard_page(unsigned long i)
{
	return i == 1 || i == 5 || i == 6;
}

static void verify(const char *who, int in_child)
{
	for (int i = 0; i < NREG; i++) {
		if (!reg[i] || !have[i] || i == NONE || i == DROP || i == ONFAULT || i == GUARD)
			continue;
		if (in_child && i == DONTFORK)
			continue;
		zdtm_check(check(reg[i], i * 16 + (in_child && i != WIPE ? 1 : 0)) || (in_child && i == WIPE),
			   "%s: %s: content differs", who, names[i]);
	}
	if (reg[ONFAULT] && have[ONFAULT])
		zdtm_check(reg[ONFAULT][0] == (unsigned char)(ONFAULT * 16 + in_child) && reg[ONFAULT][5 * PG] == 0,
			   "%s: mlock-onfault content differs", who);
	if (reg[GUARD] && have[GUARD])
		for (unsigned long p = 0; p < NPAGES; p++) {
			unsigned char val = 0;
			int f = smaps_faults(reg[GUARD] + p * PG, 0, &val);
			zdtm_check(f == is_guard_page(p), "%s: guard region page %lu %s", who, p,
				   f ? "faults (not a guard page)" : "does not fault (a guard page)");
			zdtm_check(f || val == (unsigned char)(GUARD * 16 + in_child + p), "%s: guard region page %lu content", who, p);
		}
	if (reg[SEAL] && have[SEAL]) {
		zdtm_check(munmap(reg[SEAL], PG) < 0 && errno == EPERM, "%s: munmap of sealed memory: %m", who);
		zdtm_check(mprotect(reg[SEAL], PG, PROT_READ) < 0 && errno == EPERM, "%s: mprotect of sealed memory", who);
	}
	if (reg[LOW])
		zdtm_check((unsigned long)reg[LOW] < (1UL << 32), "%s: MAP_32BIT region at %p", who, reg[LOW]);
}

/* A child forked now: DONTFORK memory is not there, WIPEONFORK memory is zero, the rest is there. */
static void fork_probe(const char *who)
{
	pid_t c = fork();
	if (c == 0) {
		int bad = 0;
		if (reg[DONTFORK] && have[DONTFORK] && !smaps_faults(reg[DONTFORK], 0, NULL))
			bad |= 1;
		if (reg[WIPE] && have[WIPE] && reg[WIPE][0] != 0)
			bad |= 2;
		if (reg[DONTDUMP] && reg[DONTDUMP][0] != (unsigned char)(DONTDUMP * 16))
			bad |= 4;
		_exit(bad);
	}
	int st = 0;
	waitpid(c, &st, 0);
	zdtm_check(WIFEXITED(st) && !(WEXITSTATUS(st) & 1), "%s: a child forked after restore has the DONTFORK region", who);
	zdtm_check(WIFEXITED(st) && !(WEXITSTATUS(st) & 2), "%s: a child forked after restore sees WIPEONFORK memory", who);
	zdtm_check(WIFEXITED(st) && !(WEXITSTATUS(st) & 4), "%s: a child forked after restore lost plain memory", who);
}

static void vmlck(char *out, size_t n)
{
	if (zdtm_status_field("/proc/self/status", "VmLck", out, n) < 0)
		out[0] = 0;
}

static char lck0[32], lck1[32];

static void save(void)
{
	vmlck(lck0, sizeof(lck0));
	mt_layout_save();
}

static void check_all(const char *who, int in_child)
{
	vmlck(lck1, sizeof(lck1));
	mt_layout_check(who);
	zdtm_check(strcmp(lck0, lck1) == 0, "%s: VmLck %s, was %s", who, lck1, lck0);
	verify(who, in_child);
}

static void child_setup(void)
{
	setup(1);
	save();
}

static void child_check(void)
{
	check_all("child", 1);
}

#ifdef ZDTM_FORK_IN_THREAD
static pid_t thread_child;
static int forked[2];

/* Forks the child, says so, and stays (every signal blocked) as the thread that made it. */
static void *forker(void *arg)
{
	sigset_t all;
	thread_child = mt_child(child_setup, child_check);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);	/* after the fork: the child keeps the mask it had */
	if (write(forked[1], "f", 1) != 1)
		exit(2);
	for (;;)
		pause();
	return arg;
}

static pid_t fork_child(void)
{
	pthread_t th;
	char c;
	if (pipe(forked) < 0 || pthread_create(&th, NULL, forker, NULL) != 0 || read(forked[0], &c, 1) != 1) {
		zdtm_fail("no thread to fork the child");
		zdtm_exit();
	}
	return thread_child;
}
#else
static pid_t fork_child(void)
{
	return mt_child(child_setup, child_check);
}
#endif

int main(void)
{
	zdtm_init("vma_flags");
	setup(0);
	if (!have[GUARD] && reg[GUARD])
		zdtm_skip("MADV_GUARD_INSTALL is not supported (Linux 6.13+)");
	fflush(stdout);
	pid_t child = fork_child();
	save();
	zdtm_ready();
	zdtm_wait_sigterm();
	check_all("parent", 0);
	fork_probe("parent");
	mt_child_finish(child);
	zdtm_exit();
}
