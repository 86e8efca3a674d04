// SPDX-License-Identifier: Apache-2.0
// TLS and rseq: fs_base/gs_base (arch_prctl), a __thread variable's address and value, and glibc's rseq
// registration (same area, length and signature; the kernel keeps updating cpu_id) after restore.
#include "zdtm.h"

#include <asm/prctl.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RSEQ_SIG
#define RSEQ_SIG 0x53053053
#endif

static __thread long tls_var = 0x1234abcd;
static __thread char tls_buf[100];

static void on_usr1(int sig)
{
}

static struct rseq *rseq_area(void)
{
	return (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
}

/* With the exact registered area, length and signature the kernel answers EBUSY; anything else differs. */
static int rseq_probe(void)
{
	unsigned int len = __rseq_size < 32 ? 32 : __rseq_size;

	if (syscall(SYS_rseq, rseq_area(), len, 0, RSEQ_SIG) == 0) {
		syscall(SYS_rseq, rseq_area(), len, 1 /* RSEQ_FLAG_UNREGISTER */, RSEQ_SIG);
		return -ENOENT;
	}
	return -errno;
}

int main(void)
{
	unsigned long fs_before = 0, gs_before = 0, fs = 0, gs = 0;
	long *tls_addr;
	int rseq_on, cpu;
	struct rseq *rs;

	zdtm_init("tls_rseq");
	syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_before);
	syscall(SYS_arch_prctl, ARCH_GET_GS, &gs_before);
	tls_var = 0x600dcafe;
	tls_addr = &tls_var;
	strcpy(tls_buf, "thread-local string");
	rseq_on = __rseq_size > 0;
	if (rseq_on) {
		rs = rseq_area();
		zdtm_check(rseq_probe() == -EBUSY, "before dump: rseq probe %d (glibc registration not found)",
			   rseq_probe());
		zdtm_check((int)rs->cpu_id >= 0, "before dump: rseq cpu_id %d", (int)rs->cpu_id);
	}
	if (zdtm_failed())
		zdtm_exit();

	zdtm_ready();
	zdtm_wait_sigterm();

	syscall(SYS_arch_prctl, ARCH_GET_FS, &fs);
	syscall(SYS_arch_prctl, ARCH_GET_GS, &gs);
	zdtm_check(fs == fs_before, "fs_base %#lx, want %#lx", fs, fs_before);
	zdtm_check(gs == gs_before, "gs_base %#lx, want %#lx", gs, gs_before);
	zdtm_check((unsigned long)__builtin_thread_pointer() == fs_before, "thread pointer %p, want %#lx",
		   __builtin_thread_pointer(), fs_before);
	zdtm_check(&tls_var == tls_addr, "&tls_var %p, want %p", (void *)&tls_var, (void *)tls_addr);
	zdtm_check(tls_var == 0x600dcafe, "tls_var %#lx", tls_var);
	zdtm_check(!strcmp(tls_buf, "thread-local string"), "tls_buf \"%.20s\"", tls_buf);
	if (rseq_on) {
		int r = rseq_probe();

		zdtm_check(r == -EBUSY, "rseq not registered as before (probe: %s)",
			   r == -ENOENT ? "not registered" : strerror(-r));
		rs = rseq_area();
		sched_yield();
		cpu = sched_getcpu();
		zdtm_check((int)rs->cpu_id >= 0, "rseq cpu_id %d after restore (kernel no longer updates it)",
			   (int)rs->cpu_id);
		zdtm_check((int)rs->cpu_id_start >= 0, "rseq cpu_id_start %d", (int)rs->cpu_id_start);
		zdtm_check(cpu >= 0, "sched_getcpu %d", cpu);
		/* a fresh value must be written by the kernel on the next return to user space */
		rs->cpu_id = (uint32_t)-2;
		signal(SIGUSR1, on_usr1);
		raise(SIGUSR1);         /* signal delivery makes the kernel rewrite the rseq fields */
		zdtm_check((int)rs->cpu_id >= 0, "rseq cpu_id not refreshed by the kernel (%d)", (int)rs->cpu_id);
	} else {
		printf("note: glibc rseq registration disabled; only TLS checked\n");
	}
	tls_var++;
	zdtm_exit();
}
