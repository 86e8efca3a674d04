/* SPDX-License-Identifier: Apache-2.0 */
/* One probe of what this kernel and CPU offer; `ferry check` prints it and the engine consults it. */
#pragma once
#include <stdint.h>
#include <stdio.h>

struct kprobe {
	char release[65];
	uint64_t vvar_size, vvar_vclock_size, vdso_size;	/* bytes; 0 when absent */
	int uffd_wp_async;	/* userfaultfd with WP_ASYNC | WP_UNPOPULATED */
	int pagemap_scan;	/* PAGEMAP_SCAN ioctl on /proc/PID/pagemap */
	int soft_dirty;		/* bit 55 of pagemap after clear_refs=4 */
	int clone3_set_tid;
	int ns_last_pid;
	int pidfd_getfd;
	int kcmp;
	int time_ns;
	int rseq;
	int map_vdso;		/* arch_prctl(ARCH_MAP_VDSO_64) */
	int timer_restore_ids;	/* PR_TIMER_CREATE_RESTORE_IDS */
	int ptrace_get_rseq;
	uint64_t xcr0;
	uint32_t xsave_size;
	char cpu_model[64];
};

/* Runs the probe once per process and returns the cached result. */
const struct kprobe *kprobe_get(void);
void kprobe_print(const struct kprobe *kp, FILE *out, int json);
/* XSAVE area size and XCR0 of this CPU (0 when XSAVE is not enabled). */
void cpu_xsave_info(uint64_t *xcr0, uint32_t *size);
