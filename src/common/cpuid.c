/* SPDX-License-Identifier: Apache-2.0 */
/* CPUID feature words of this CPU, and the features in them a user-space program may use. */
#include <cpuid.h>
#include "common/cpuid.h"

#define F(l, s, r, b, n) { l, s, CPUID_##r, b, n }
static const struct cpuid_feature features[] = {
	F(1, 0, EDX, 0, "fpu"), F(1, 0, EDX, 4, "tsc"), F(1, 0, EDX, 8, "cx8"), F(1, 0, EDX, 15, "cmov"),
	F(1, 0, EDX, 19, "clflush"), F(1, 0, EDX, 23, "mmx"), F(1, 0, EDX, 24, "fxsr"), F(1, 0, EDX, 25, "sse"),
	F(1, 0, EDX, 26, "sse2"),
	F(1, 0, ECX, 0, "pni"), F(1, 0, ECX, 1, "pclmulqdq"), F(1, 0, ECX, 9, "ssse3"), F(1, 0, ECX, 12, "fma"),
	F(1, 0, ECX, 13, "cx16"), F(1, 0, ECX, 19, "sse4_1"), F(1, 0, ECX, 20, "sse4_2"), F(1, 0, ECX, 22, "movbe"),
	F(1, 0, ECX, 23, "popcnt"), F(1, 0, ECX, 25, "aes"), F(1, 0, ECX, 26, "xsave"), F(1, 0, ECX, 28, "avx"),
	F(1, 0, ECX, 29, "f16c"), F(1, 0, ECX, 30, "rdrand"),
	F(7, 0, EBX, 0, "fsgsbase"), F(7, 0, EBX, 3, "bmi1"), F(7, 0, EBX, 4, "hle"), F(7, 0, EBX, 5, "avx2"),
	F(7, 0, EBX, 8, "bmi2"), F(7, 0, EBX, 9, "erms"), F(7, 0, EBX, 11, "rtm"), F(7, 0, EBX, 16, "avx512f"),
	F(7, 0, EBX, 17, "avx512dq"), F(7, 0, EBX, 18, "rdseed"), F(7, 0, EBX, 19, "adx"),
	F(7, 0, EBX, 21, "avx512ifma"), F(7, 0, EBX, 23, "clflushopt"), F(7, 0, EBX, 24, "clwb"),
	F(7, 0, EBX, 26, "avx512pf"), F(7, 0, EBX, 27, "avx512er"), F(7, 0, EBX, 28, "avx512cd"),
	F(7, 0, EBX, 29, "sha_ni"), F(7, 0, EBX, 30, "avx512bw"), F(7, 0, EBX, 31, "avx512vl"),
	F(7, 0, ECX, 1, "avx512vbmi"), F(7, 0, ECX, 5, "waitpkg"), F(7, 0, ECX, 6, "avx512_vbmi2"),
	F(7, 0, ECX, 8, "gfni"), F(7, 0, ECX, 9, "vaes"), F(7, 0, ECX, 10, "vpclmulqdq"),
	F(7, 0, ECX, 11, "avx512_vnni"), F(7, 0, ECX, 12, "avx512_bitalg"), F(7, 0, ECX, 14, "avx512_vpopcntdq"),
	F(7, 0, ECX, 22, "rdpid"), F(7, 0, ECX, 25, "cldemote"), F(7, 0, ECX, 27, "movdiri"),
	F(7, 0, ECX, 28, "movdir64b"),
	F(7, 0, EDX, 4, "fsrm"), F(7, 0, EDX, 8, "avx512_vp2intersect"), F(7, 0, EDX, 14, "serialize"),
	F(7, 0, EDX, 22, "amx_bf16"), F(7, 0, EDX, 23, "avx512_fp16"), F(7, 0, EDX, 24, "amx_tile"),
	F(7, 0, EDX, 25, "amx_int8"),
	F(7, 1, EAX, 4, "avx_vnni"), F(7, 1, EAX, 5, "avx512_bf16"),
	F(0xd, 1, EAX, 0, "xsaveopt"), F(0xd, 1, EAX, 1, "xsavec"), F(0xd, 1, EAX, 2, "xgetbv1"),
	F(0x80000001, 0, ECX, 0, "lahf_lm"), F(0x80000001, 0, ECX, 5, "abm"), F(0x80000001, 0, ECX, 6, "sse4a"),
	F(0x80000001, 0, ECX, 8, "3dnowprefetch"), F(0x80000001, 0, ECX, 11, "xop"),
	F(0x80000001, 0, ECX, 16, "fma4"), F(0x80000001, 0, ECX, 21, "tbm"),
	F(0x80000001, 0, EDX, 27, "rdtscp"), F(0x80000001, 0, EDX, 29, "lm"),
};
#undef F

const struct cpuid_feature *cpuid_features(size_t *n)
{
	*n = sizeof(features) / sizeof(features[0]);
	return features;
}

void cpuid_words(struct cpuid_word w[CPUID_NWORDS])
{
	static const struct { uint32_t leaf, sub; } leaves[] = { { 1, 0 }, { 7, 0 }, { 7, 1 }, { 0xd, 1 }, { 0x80000001, 0 } };
	static const uint8_t regs[][4] = { { CPUID_ECX, CPUID_EDX }, { CPUID_EBX, CPUID_ECX, CPUID_EDX }, { CPUID_EAX },
					   { CPUID_EAX }, { CPUID_ECX, CPUID_EDX } };
	static const uint8_t nregs[] = { 2, 3, 1, 1, 2 };
	unsigned max = __get_cpuid_max(0, 0), xmax = __get_cpuid_max(0x80000000, 0), k = 0;
	for (unsigned i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		unsigned r[4] = { 0 };
		if (leaves[i].leaf <= (leaves[i].leaf & 0x80000000 ? xmax : max))
			__cpuid_count(leaves[i].leaf, leaves[i].sub, r[0], r[1], r[2], r[3]);
		for (unsigned j = 0; j < nregs[i] && k < CPUID_NWORDS; j++, k++)
			w[k] = (struct cpuid_word){ leaves[i].leaf, leaves[i].sub, regs[i][j], r[regs[i][j]] };
	}
}
