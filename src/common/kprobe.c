/* SPDX-License-Identifier: Apache-2.0 */
/* Kernel and CPU feature probe. Each check is a harmless call whose errno tells the answer. */
#include <cpuid.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>
#include "common/cleanup.h"
#include "common/kprobe.h"
#include "common/util.h"
#include "mem/pagemap-scan.h"

#ifndef ARCH_MAP_VDSO_64
#define ARCH_MAP_VDSO_64 0x2003
#endif
#ifndef PR_TIMER_CREATE_RESTORE_IDS
#define PR_TIMER_CREATE_RESTORE_IDS 77
#endif
#define PR_TIMER_CREATE_RESTORE_IDS_GET 2

static void probe_vdso(struct kprobe *kp)
{
	_cleanup_free_ char *maps = NULL;
	if (read_file("/proc/self/maps", &maps, NULL) < 0)
		return;
	for (char *line = strtok(maps, "\n"); line; line = strtok(NULL, "\n")) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx", &s, &e) != 2)
			continue;
		if (strstr(line, "[vvar_vclock]"))
			kp->vvar_vclock_size = e - s;
		else if (strstr(line, "[vvar]"))
			kp->vvar_size = e - s;
		else if (strstr(line, "[vdso]"))
			kp->vdso_size = e - s;
	}
}

static void probe_uffd(struct kprobe *kp)
{
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		return;
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED };
	if (ioctl(fd, UFFDIO_API, &api) == 0)
		kp->uffd_wp_async = 1;
	close(fd);
}

static void probe_pagemap(struct kprobe *kp)
{
	_cleanup_close_ int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return;
	p[0] = 1;
	struct page_region reg;
	struct pm_scan_arg arg = {
		.size = sizeof(arg), .start = (uintptr_t)p, .end = (uintptr_t)p + 4096,
		.vec = (uintptr_t)&reg, .vec_len = 1,
		.category_anyof_mask = PAGE_IS_PRESENT, .return_mask = PAGE_IS_PRESENT,
	};
	if (ioctl(fd, PAGEMAP_SCAN, &arg) >= 0)
		kp->pagemap_scan = 1;
	/* soft-dirty: clear, write, look at bit 55 */
	int cr = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	if (cr >= 0) {
		if (write(cr, "4", 1) == 1) {
			uint64_t ent = 0;
			p[0] = 2;
			if (pread(fd, &ent, sizeof(ent), ((uintptr_t)p / 4096) * 8) == sizeof(ent))
				kp->soft_dirty = !!(ent & (1ULL << 55));
		}
		close(cr);
	}
	munmap(p, 4096);
}

void cpu_xsave_info(uint64_t *xcr0, uint32_t *size)
{
	unsigned a, b, c, d;
	*xcr0 = 0;
	*size = 0;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27)))	/* OSXSAVE */
		return;
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	*xcr0 = ((uint64_t)hi << 32) | lo;
	__cpuid_count(0xd, 0, a, b, c, d);
	*size = b;
}

static void probe_cpu(struct kprobe *kp)
{
	cpu_xsave_info(&kp->xcr0, &kp->xsave_size);
	unsigned regs[12];
	if (__get_cpuid_max(0x80000000, NULL) >= 0x80000004) {
		for (unsigned i = 0; i < 3; i++)
			__cpuid(0x80000002 + i, regs[i * 4], regs[i * 4 + 1], regs[i * 4 + 2], regs[i * 4 + 3]);
		memcpy(kp->cpu_model, regs, sizeof(regs));
		kp->cpu_model[sizeof(regs) < sizeof(kp->cpu_model) ? sizeof(regs) : sizeof(kp->cpu_model) - 1] = 0;
	}
}

static void probe_syscalls(struct kprobe *kp)
{
	/* clone3 with a too-small size argument: EINVAL means the call exists. */
	kp->clone3_set_tid = syscall(SYS_clone3, NULL, 0) < 0 && errno == EINVAL;
	kp->ns_last_pid = access("/proc/sys/kernel/ns_last_pid", W_OK) == 0;
	kp->pidfd_getfd = syscall(SYS_pidfd_getfd, -1, 0, 0) < 0 && errno == EBADF;
	kp->kcmp = syscall(SYS_kcmp, getpid(), getpid(), 0 /* KCMP_FILE */, 0, 0) >= 0;
	kp->time_ns = access("/proc/self/ns/time", F_OK) == 0;
	kp->rseq = !(syscall(SYS_rseq, NULL, 0, 0x12345, 0) < 0 && errno == ENOSYS);
	/* With our vdso mapped, a supported ARCH_MAP_VDSO_64 answers EEXIST. */
	kp->map_vdso = syscall(SYS_arch_prctl, ARCH_MAP_VDSO_64, 0x10000) < 0 && errno == EEXIST;
	kp->timer_restore_ids = prctl(PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_GET, 0, 0, 0) >= 0;
	struct utsname u;
	int maj = 0, min = 0;
	if (uname(&u) == 0) {
		snprintf(kp->release, sizeof(kp->release), "%s", u.release);
		sscanf(u.release, "%d.%d", &maj, &min);
	}
	kp->ptrace_get_rseq = maj > 5 || (maj == 5 && min >= 13);
}

/* What the machine offers does not change: probed once per process, by whichever operation asks first. */
static struct kprobe probed;
static pthread_once_t probed_once = PTHREAD_ONCE_INIT;

static void probe_all(void)
{
	probe_vdso(&probed);
	probe_uffd(&probed);
	probe_pagemap(&probed);
	probe_cpu(&probed);
	probe_syscalls(&probed);
}

const struct kprobe *kprobe_get(void)
{
	pthread_once(&probed_once, probe_all);
	return &probed;
}

void kprobe_print(const struct kprobe *kp, FILE *out, int json)
{
	json_t *j = json_pack("{s:s, s:s, s:{s:I, s:I, s:I}, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:s, s:i}",
		"kernel", kp->release, "cpu", kp->cpu_model,
		"vdso_layout", "vvar", (json_int_t)kp->vvar_size, "vvar_vclock", (json_int_t)kp->vvar_vclock_size,
		"vdso", (json_int_t)kp->vdso_size,
		"userfaultfd_wp_async", kp->uffd_wp_async, "pagemap_scan", kp->pagemap_scan,
		"soft_dirty", kp->soft_dirty, "clone3_set_tid", kp->clone3_set_tid,
		"ns_last_pid", kp->ns_last_pid, "pidfd_getfd", kp->pidfd_getfd, "kcmp", kp->kcmp,
		"time_namespace", kp->time_ns, "rseq", kp->rseq, "arch_map_vdso", kp->map_vdso,
		"timer_create_restore_ids", kp->timer_restore_ids, "ptrace_get_rseq_configuration", kp->ptrace_get_rseq,
		"xcr0", "", "xsave_size", (int)kp->xsave_size);
	char x[24];
	snprintf(x, sizeof(x), "0x%llx", (unsigned long long)kp->xcr0);
	json_object_set_new(j, "xcr0", json_string(x));
	if (json) {
		json_dumpf(j, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', out);
	} else {
		const char *key;
		json_t *v;
		json_object_foreach(j, key, v) {
			if (json_is_object(v)) {
				char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
				fprintf(out, "%-30s %s\n", key, s);
				free(s);
			} else if (json_is_boolean(v)) {
				fprintf(out, "%-30s %s\n", key, json_is_true(v) ? "yes" : "no");
			} else if (json_is_string(v)) {
				fprintf(out, "%-30s %s\n", key, json_string_value(v));
			} else {
				fprintf(out, "%-30s %lld\n", key, (long long)json_integer_value(v));
			}
		}
	}
	json_decref(j);
}
