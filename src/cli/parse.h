/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict parsing of command-line values: the whole string or nothing, decimal digits only (no
 * sign, no spaces, no hex), range-checked. 0 on success; -EINVAL when it is not a number of the
 * expected form, -ERANGE when it is one but out of range.
 */
#pragma once
#include <stdint.h>

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* A number of bytes with an optional binary suffix: 4096, 64K, 1M, 2G, 1T (also KiB, k...). */
int parse_size(const char *s, uint64_t *out);
/* The largest PID this kernel hands out (/proc/sys/kernel/pid_max), for range checks. */
uint64_t pid_max(void);
