// SPDX-License-Identifier: Apache-2.0
/*
 * membw: this machine's memory reference figures for the ferry benchmark.
 *
 *   membw [TOUCH_MIB [COPY_MIB [RUNS]]]     defaults: 512 256 5
 *
 * Prints key=value lines (bandwidth in GB/s = 1e9 bytes/s, times in seconds):
 *   memcpy_gbps         best memcpy() rate between two pre-faulted COPY_MIB buffers
 *   memset_gbps         best memset() rate over a pre-faulted COPY_MIB buffer
 *   touch_s_per_gib     fresh mmap of TOUCH_MIB, one byte written per 4 KiB page
 *                       (page-fault + zeroing cost), scaled to seconds per GiB
 *   touchset_s_per_gib  fresh mmap of TOUCH_MIB, memset() of the whole range
 *   munmap_s_per_gib    munmap() of the touched range, seconds per GiB
 * Every figure is the best (lowest time) of RUNS runs; touch_first_s_per_gib and
 * touchset_first_s_per_gib are the first run's, whose memory is the least likely to have been
 * touched just before (on a VM, the first touch of guest memory costs several times a second).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define GIB (1024.0 * 1024.0 * 1024.0)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Keep the compiler from dropping stores it thinks nobody reads. */
static inline void escape(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "membw: mmap %zu bytes: %s\n", len, strerror(errno));
		exit(1);
	}
	return p;
}

static unsigned long arg(int argc, char **argv, int i, unsigned long def)
{
	if (argc <= i)
		return def;
	char *end;
	unsigned long v = strtoul(argv[i], &end, 10);
	if (*end || v == 0) {
		fprintf(stderr, "usage: membw [TOUCH_MIB [COPY_MIB [RUNS]]]\n");
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	size_t touch_len = arg(argc, argv, 1, 512) << 20;
	size_t copy_len = arg(argc, argv, 2, 256) << 20;
	int runs = (int)arg(argc, argv, 3, 5);

	/* (a) memcpy / memset between pre-faulted buffers */
	char *src = map(copy_len), *dst = map(copy_len);
	memset(src, 0x5a, copy_len);
	memset(dst, 0xa5, copy_len);
	for (size_t i = 0; i < copy_len; i += PAGE)
		src[i] = (char)(i >> 12);
	double best_cpy = 1e30, best_set = 1e30;
	for (int r = 0; r < runs; r++) {
		double t0 = now();
		memcpy(dst, src, copy_len);
		escape(dst);
		double t1 = now();
		if (t1 - t0 < best_cpy)
			best_cpy = t1 - t0;
		if (memcmp(dst + copy_len - PAGE, src + copy_len - PAGE, PAGE)) {
			fprintf(stderr, "membw: memcpy check failed\n");
			return 1;
		}
		t0 = now();
		memset(dst, r + 1, copy_len);
		escape(dst);
		t1 = now();
		if (t1 - t0 < best_set)
			best_set = t1 - t0;
	}
	munmap(src, copy_len);
	munmap(dst, copy_len);

	/* (b) cost of touching fresh memory */
	double best_touch = 1e30, best_touchset = 1e30, best_unmap = 1e30, first_touch = 0, first_touchset = 0;
	for (int r = 0; r < runs; r++) {
		char *p = map(touch_len);
		double t0 = now();
		for (size_t i = 0; i < touch_len; i += PAGE)
			p[i] = 1;
		escape(p);
		double t1 = now();
		munmap(p, touch_len);
		double t2 = now();
		if (t1 - t0 < best_touch)
			best_touch = t1 - t0;
		if (!r)
			first_touch = t1 - t0;
		if (t2 - t1 < best_unmap)
			best_unmap = t2 - t1;

		p = map(touch_len);
		t0 = now();
		memset(p, 0x77, touch_len);
		escape(p);
		t1 = now();
		munmap(p, touch_len);
		if (t1 - t0 < best_touchset)
			best_touchset = t1 - t0;
		if (!r)
			first_touchset = t1 - t0;
	}

	double gib_touch = touch_len / GIB;
	printf("copy_mib=%zu\n", copy_len >> 20);
	printf("touch_mib=%zu\n", touch_len >> 20);
	printf("runs=%d\n", runs);
	printf("memcpy_gbps=%.3f\n", copy_len / best_cpy / 1e9);
	printf("memset_gbps=%.3f\n", copy_len / best_set / 1e9);
	printf("touch_s_per_gib=%.5f\n", best_touch / gib_touch);
	printf("touchset_s_per_gib=%.5f\n", best_touchset / gib_touch);
	printf("munmap_s_per_gib=%.5f\n", best_unmap / gib_touch);
	printf("touch_first_s_per_gib=%.5f\n", first_touch / gib_touch);
	printf("touchset_first_s_per_gib=%.5f\n", first_touchset / gib_touch);
	return 0;
}
