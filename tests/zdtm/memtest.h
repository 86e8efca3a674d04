// SPDX-License-Identifier: Apache-2.0
// Helpers of the memory tests: /proc/self/smaps (each VMA's range and VmFlags, read without malloc:
// the layout must not change between the reads) compared before and after restore, a probe for
// whether an address faults, and a child that checks its own state after restore.
#ifndef FERRY_TESTS_MEMTEST_H
#define FERRY_TESTS_MEMTEST_H

#include "zdtm.h"

#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SMAPS_MAX 1024

struct smaps_vma {
	unsigned long start, end, pgoff;
	char flags[160];	/* the VmFlags value */
	char name[96];
};

struct smaps {
	int n;
	struct smaps_vma v[SMAPS_MAX];
};

static char smaps_raw[1 << 20];

/* Reads /proc/self/smaps into s; 0 or -1. */
static inline int smaps_read(struct smaps *s)
{
	if (zdtm_read_file("/proc/self/smaps", smaps_raw, sizeof(smaps_raw)) < 0)
		return -1;
	s->n = 0;
	for (char *l = smaps_raw; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		unsigned long a, b, off;
		int pos = 0;
		if (sscanf(l, "%lx-%lx %*s %lx %*x:%*x %*u%n", &a, &b, &off, &pos) >= 3 && pos && s->n < SMAPS_MAX) {
			struct smaps_vma *v = &s->v[s->n++];
			v->pgoff = off;
			while (l[pos] == ' ')
				pos++;
			const char *nl = strchr(l + pos, '\n');
			size_t len = nl ? (size_t)(nl - (l + pos)) : strlen(l + pos);
			v->start = a;
			v->end = b;
			v->flags[0] = 0;
			snprintf(v->name, sizeof(v->name), "%.*s", (int)len, l + pos);
		} else if (strncmp(l, "VmFlags:", 8) == 0 && s->n) {
			const char *nl = strchr(l, '\n');
			size_t len = nl ? (size_t)(nl - (l + 8)) : strlen(l + 8);
			snprintf(s->v[s->n - 1].flags, sizeof(s->v[0].flags), "%.*s", (int)len, l + 8);
		}
	}
	return 0;
}

static inline const struct smaps_vma *smaps_find(const struct smaps *s, unsigned long addr)
{
	for (int i = 0; i < s->n; i++)
		if (s->v[i].start <= addr && addr < s->v[i].end)
			return &s->v[i];
	return NULL;
}

/* Whether VmFlags of the VMA holding addr has the two-letter flag f. */
static inline int smaps_has(const struct smaps *s, const void *addr, const char *f)
{
	const struct smaps_vma *v = smaps_find(s, (unsigned long)addr);
	char pat[5] = { ' ', f[0], f[1], ' ', 0 };
	char buf[200];
	if (!v)
		return 0;
	snprintf(buf, sizeof(buf), " %s ", v->flags);
	return strstr(buf, pat) != NULL;
}

/* Every VMA before has one with the same range and VmFlags after; what differs is a failure. */
static inline void smaps_compare(const char *who, const struct smaps *before, const struct smaps *after)
{
	int shown = 0;
	for (int i = 0; i < before->n && shown < 16; i++) {
		const struct smaps_vma *b = &before->v[i], *a = NULL;
		if (strcmp(b->name, "[vsyscall]") == 0)
			continue;
		for (int j = 0; j < after->n && !a; j++)
			if (after->v[j].start == b->start && after->v[j].end == b->end)
				a = &after->v[j];
		if (!a && ++shown)
			zdtm_fail("%s: VMA %lx-%lx %s (VmFlags%s) is gone or changed its range", who, b->start, b->end,
				  b->name, b->flags);
		else if (a && strcmp(a->flags, b->flags) && ++shown)
			zdtm_fail("%s: VMA %lx-%lx %s: VmFlags%s, was%s", who, b->start, b->end, b->name, a->flags,
				  b->flags);
		else if (a && (strcmp(a->name, b->name) || (b->name[0] == '/' && a->pgoff != b->pgoff)) && ++shown)
			zdtm_fail("%s: VMA %lx-%lx: %s at offset %#lx, was %s at %#lx", who, b->start, b->end, a->name,
				  a->pgoff, b->name, b->pgoff);
	}
	if (after->n != before->n)
		zdtm_fail("%s: %d VMAs after restore, %d before", who, after->n, before->n);
}

/* The layout as it was before the dump, and the check that it still is. */
static struct smaps mt_before, mt_after;
static inline void mt_layout_save(void)
{
	smaps_read(&mt_before);
}

static inline void mt_layout_check(const char *who)
{
	smaps_read(&mt_after);
	smaps_compare(who, &mt_before, &mt_after);
}

static sigjmp_buf smaps_jmp;
static void smaps_on_segv(int sig)
{
	siglongjmp(smaps_jmp, 1);
}

/* 1 if reading (write = 0) or writing the byte at p raises SIGSEGV, 0 if not; *val gets what was read. */
static inline int smaps_faults(volatile unsigned char *p, int write, unsigned char *val)
{
	struct sigaction sa = { .sa_handler = smaps_on_segv }, old;
	int faulted;
	sigaction(SIGSEGV, &sa, &old);
	if (sigsetjmp(smaps_jmp, 1)) {
		faulted = 1;
	} else {
		if (write)
			*p = *p;
		else if (val)
			*val = *p;
		else
			(void)*p;
		faulted = 0;
	}
	sigaction(SIGSEGV, &old, NULL);
	return faulted;
}

static volatile sig_atomic_t mt_go;
static void mt_on_term(int sig) { mt_go = 1; }

/*
 * Forks a child that runs setup (may be NULL), tells the parent it is ready, waits for SIGTERM
 * (after the restore), runs check and exits with zdtm_exit(). Returns once the child is ready.
 */
static inline pid_t mt_child(void (*setup)(void), void (*check)(void))
{
	int pp[2];
	char c;
	if (pipe(pp) < 0)
		exit(2);
	pid_t child = fork();
	if (child == 0) {
		struct sigaction sa = { .sa_handler = mt_on_term };
		sigaction(SIGTERM, &sa, NULL);
		if (setup)
			setup();
		if (write(pp[1], "r", 1) != 1)
			_exit(2);
		while (!mt_go)
			pause();
		check();
		zdtm_exit();
	}
	if (child < 0 || read(pp[0], &c, 1) != 1)
		exit(2);
	close(pp[0]);
	close(pp[1]);
	return child;
}

/* The child checks itself now: it must exit 0. */
static inline void mt_child_finish(pid_t child)
{
	int st = 0;
	kill(child, SIGTERM);
	zdtm_check(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		   "the child failed its checks (status %#x)", st);
}

#endif
