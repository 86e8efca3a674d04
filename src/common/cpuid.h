/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CPUID feature words a process may act on (instruction sets, XSAVE variants), read on this
 * CPU, recorded in the inventory at dump and compared at restore (engine/precheck.c).
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

enum { CPUID_EAX, CPUID_EBX, CPUID_ECX, CPUID_EDX };

struct cpuid_word {
	uint32_t leaf, subleaf, reg;	/* reg: CPUID_E*X */
	uint32_t value;
};

#define CPUID_NWORDS 9

/* The feature words of this CPU (zero where the leaf is beyond the CPU's maximum). */
void cpuid_words(struct cpuid_word w[CPUID_NWORDS]);

struct cpuid_feature {
	uint32_t leaf, subleaf, reg, bit;
	const char *name;		/* as /proc/cpuinfo names it */
};

/* Features a program may use (and so must find again after a restore); n set to their count. */
const struct cpuid_feature *cpuid_features(size_t *n);
