// SPDX-License-Identifier: Apache-2.0
// FPU/vector state: ymm0..15 (or, built with -DZDTM_AVX512, zmm0..31 and k1..7) and three x87 stack
// registers hold known values across the futex wait in which the process is checkpointed; the x87
// control word, MXCSR and the rounding mode (FE_UPWARD, FTZ/DAZ, 53-bit x87 precision) survive too.
#include "zdtm.h"

#include <cpuid.h>
#include <fenv.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static unsigned char vin[32 * 64] __attribute__((aligned(64)));
static unsigned char vout[32 * 64] __attribute__((aligned(64)));
static uint16_t kin[8], kout[8];
static long double x87_in[3] = { 3.14159265358979323846L, -2.5e300L, 1.0L / 3 };
static long double x87_out[3];
static char ready_tmp[PATH_MAX + 16], ready_final[PATH_MAX + 16];

/* Everything the asm needs, reached through one register (offsets are used in the asm text). */
static struct asm_args {
	void *in;                  /* 0 */
	void *out;                 /* 8 */
	char *tmp;                 /* 16 */
	char *fin;                 /* 24 */
	volatile int *word;        /* 32 */
	long double *x87;          /* 40 */
	long double *x87o;         /* 48 */
	uint16_t *kin;             /* 56 */
	uint16_t *kout;            /* 64 */
	long ret;                  /* 72 */
} args = { vin, vout, ready_tmp, ready_final, NULL, x87_in, x87_out, kin, kout, 0 };

#define LD(n) "vmovdqu " #n "*32(%%r8), %%ymm" #n "\n\t"
#define ST(n) "vmovdqu %%ymm" #n ", " #n "*32(%%r8)\n\t"
#define ZLD(n) "vmovdqu64 " #n "*64(%%r8), %%zmm" #n "\n\t"
#define ZST(n) "vmovdqu64 %%zmm" #n ", " #n "*64(%%r8)\n\t"
#define IN "mov 0(%[a]), %%r8\n\t"
#define OUT "mov 8(%[a]), %%r8\n\t"

/* push three x87 values, rename(ready.tmp, ready), futex-wait on the SIGTERM word, pop the x87 values:
 * nothing in between touches a vector register */
#define READY_AND_WAIT                                                                                  \
	"mov 40(%[a]), %%r8\n\tfldt 0(%%r8)\n\tfldt 16(%%r8)\n\tfldt 32(%%r8)\n\t"                       \
	"mov $82, %%eax\n\tmov 16(%[a]), %%rdi\n\tmov 24(%[a]), %%rsi\n\tsyscall\n\tmov %%rax, 72(%[a])\n\t" \
	"mov 32(%[a]), %%rdi\n\t"                                                                       \
	"1:\n\tmov $202, %%eax\n\tmov $128, %%esi\n\txor %%edx, %%edx\n\t"                                 \
	"xor %%r10d, %%r10d\n\tsyscall\n\tcmpl $0, (%%rdi)\n\tje 1b\n\t"                                  \
	"mov 48(%[a]), %%r8\n\tfstpt 32(%%r8)\n\tfstpt 16(%%r8)\n\tfstpt 0(%%r8)\n\t"

#define GP_CLOBBERS "rax", "rdi", "rsi", "rdx", "r8", "r10", "rcx", "r11", "memory", "cc", "st", "st(1)", "st(2)"

#ifndef ZDTM_AVX512
static long vector_block(void)
{
	asm volatile(IN LD(0) LD(1) LD(2) LD(3) LD(4) LD(5) LD(6) LD(7) LD(8) LD(9) LD(10) LD(11) LD(12) LD(13)
		     LD(14) LD(15) READY_AND_WAIT
		     OUT ST(0) ST(1) ST(2) ST(3) ST(4) ST(5) ST(6) ST(7) ST(8) ST(9) ST(10) ST(11) ST(12) ST(13)
		     ST(14) ST(15)
		     :
		     : [a] "r"(&args)
		     : GP_CLOBBERS,
		       "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
		       "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
	return args.ret;
}
#define VBYTES (16 * 32)
#define VREG 32
#else
__attribute__((target("avx512f"))) static long vector_block(void)
{
	asm volatile("mov 56(%[a]), %%r8\n\t"
		     "kmovw 2(%%r8), %%k1\n\tkmovw 4(%%r8), %%k2\n\tkmovw 6(%%r8), %%k3\n\t"
		     "kmovw 8(%%r8), %%k4\n\tkmovw 10(%%r8), %%k5\n\tkmovw 12(%%r8), %%k6\n\t"
		     "kmovw 14(%%r8), %%k7\n\t"
		     IN ZLD(0) ZLD(1) ZLD(2) ZLD(3) ZLD(4) ZLD(5) ZLD(6) ZLD(7) ZLD(8) ZLD(9) ZLD(10) ZLD(11) ZLD(12)
		     ZLD(13) ZLD(14) ZLD(15) ZLD(16) ZLD(17) ZLD(18) ZLD(19) ZLD(20) ZLD(21) ZLD(22) ZLD(23)
		     ZLD(24) ZLD(25) ZLD(26) ZLD(27) ZLD(28) ZLD(29) ZLD(30) ZLD(31) READY_AND_WAIT
		     OUT ZST(0) ZST(1) ZST(2) ZST(3) ZST(4) ZST(5) ZST(6) ZST(7) ZST(8) ZST(9) ZST(10) ZST(11) ZST(12)
		     ZST(13) ZST(14) ZST(15) ZST(16) ZST(17) ZST(18) ZST(19) ZST(20) ZST(21) ZST(22) ZST(23)
		     ZST(24) ZST(25) ZST(26) ZST(27) ZST(28) ZST(29) ZST(30) ZST(31)
		     "mov 64(%[a]), %%r8\n\t"
		     "kmovw %%k1, 2(%%r8)\n\tkmovw %%k2, 4(%%r8)\n\tkmovw %%k3, 6(%%r8)\n\t"
		     "kmovw %%k4, 8(%%r8)\n\tkmovw %%k5, 10(%%r8)\n\tkmovw %%k6, 12(%%r8)\n\t"
		     "kmovw %%k7, 14(%%r8)\n\t"
		     :
		     : [a] "r"(&args)
		     : GP_CLOBBERS,
		       "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
		       "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20",
		       "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30",
		       "xmm31", "k1", "k2", "k3", "k4", "k5", "k6", "k7");
	return args.ret;
}
#define VBYTES (32 * 64)
#define VREG 64
#endif

static void require_cpu(void)
{
	unsigned int a, b, c, d, lo, hi;
	uint64_t xcr0, need = 0x7;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX))
		zdtm_skip("no AVX/OSXSAVE in cpuid");
	asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	xcr0 = ((uint64_t)hi << 32) | lo;
#ifdef ZDTM_AVX512
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & bit_AVX512F))
		zdtm_skip("no AVX-512F in cpuid");
	need = 0xe7;
#endif
	if ((xcr0 & need) != need)
		zdtm_skip("XCR0 %#llx lacks state bits %#llx", (unsigned long long)xcr0, (unsigned long long)need);
}

static uint16_t get_cw(void)
{
	uint16_t cw;

	asm volatile("fnstcw %0" : "=m"(cw));
	return cw;
}

static uint32_t get_mxcsr(void)
{
	uint32_t m;

	asm volatile("stmxcsr %0" : "=m"(m));
	return m;
}

int main(void)
{
	volatile double one = 1.0, three = 3.0, q_before, q_after;
	volatile long double lone = 1.0L, lseven = 7.0L, lq_before, lq_after;
	uint16_t cw_before, cw;
	uint32_t mx_before, mx;
	long r;

	zdtm_init("fpu");
	require_cpu();
	zdtm_fill(vin, sizeof(vin), 0xf00);
	zdtm_fill(kin, sizeof(kin), 0xbeef);

	fesetround(FE_UPWARD);
	cw = get_cw();
	cw = (cw & ~0x300) | 0x200;                     /* x87 precision: 53 bits */
	asm volatile("fldcw %0" : : "m"(cw));
	mx = get_mxcsr() | (1 << 15) | (1 << 6);        /* FTZ | DAZ */
	asm volatile("ldmxcsr %0" : : "m"(mx));
	q_before = one / three;
	lq_before = lone / lseven;
	cw_before = get_cw();
	mx_before = get_mxcsr() & ~0x3fu;               /* without the sticky exception flags */

	zdtm_ready_prepare(ready_tmp, ready_final, sizeof(ready_tmp));
	fflush(stdout);
	args.word = zdtm_sigterm_word();
	r = vector_block();
	zdtm_wait_sigterm();

	zdtm_check(r == 0, "rename of the ready file failed: %ld", r);
	for (int i = 0; i < VBYTES; i++) {
		if (vin[i] != vout[i]) {
			zdtm_fail("vector register %d byte %d: %#x, want %#x", i / VREG, i % VREG, vout[i], vin[i]);
			break;
		}
	}
#ifdef ZDTM_AVX512
	for (int i = 1; i < 8; i++)
		zdtm_check(kin[i] == kout[i], "k%d: %#x, want %#x", i, kout[i], kin[i]);
#endif
	for (int i = 0; i < 3; i++)
		zdtm_check(!memcmp(&x87_in[i], &x87_out[i], 10), "x87 st(%d) %Lg, want %Lg", 2 - i, x87_out[i],
			   x87_in[i]);
	cw = get_cw();
	mx = get_mxcsr() & ~0x3fu;
	zdtm_check(cw == cw_before, "x87 control word %#x, want %#x", cw, cw_before);
	zdtm_check(mx == mx_before, "MXCSR %#x, want %#x", mx, mx_before);
	zdtm_check(fegetround() == FE_UPWARD, "fegetround %#x, want FE_UPWARD", fegetround());
	q_after = one / three;
	lq_after = lone / lseven;
	zdtm_check(q_after == q_before, "1/3 rounds differently: %a vs %a", q_after, q_before);
	zdtm_check(lq_after == lq_before, "x87 1/7 rounds differently: %La vs %La", lq_after, lq_before);
	zdtm_exit();
}
