/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checksums: XXH3-64 from libxxhash. On x86-64 the calls go to the library's dispatching entry
 * points, which pick the SSE2, AVX2 or AVX-512 kernel for this CPU at run time (the plain entry
 * points of Debian's build are SSE2 only: hashing page data ran at half the speed of AVX2).
 */
#pragma once
#include <xxhash.h>
#if defined(__x86_64__)
#include <xxh_x86dispatch.h>
#endif
