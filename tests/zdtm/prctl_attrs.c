// SPDX-License-Identifier: Apache-2.0
// prctl and arch_prctl state, per thread and per process. Threads: rdtsc forbidden
// (PR_SET_TSC) and a parent-death signal of its own, MCE kill policy early / late, CPUID faulting
// (ARCH_SET_CPUID 0) and a personality of its own, and a plain one; every thread also compares
// its speculation controls, parent-death signal and personality (inherited from the main one). Processes: the main one disables
// THP and registers for every membarrier kind the kernel has; a child was forked before that
// (THP on, no registrations) and turns on memory-deny-write-execute. After restore each
// thread reads its own values back, and rdtsc, cpuid and mprotect(PROT_EXEC) fault or fail
// exactly where they did.
#include "zdtm.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define ARCH_GET_CPUID 0x1011
#define ARCH_SET_CPUID 0x1012
#define PR_GET_THP 42
#define PR_SET_THP 41
#define PR_SET_MDWE_ 65
#define PR_GET_MDWE_ 66
#define MB_QUERY 0
#define MB_GET_REGISTRATIONS (1 << 9)
#define MB_REGISTER_MASK ((1 << 2) | (1 << 4) | (1 << 6) | (1 << 8))

enum { T_MAIN, T_TSC, T_MCE_EARLY, T_MCE_LATE, T_CPUID, NT };
static const char *names[NT] = { "main", "tsc", "mce-early", "mce-late", "cpuid" };

struct tstate {
	int tsc, mce, cpuid, spec[3], pdeath, pers;
};
static struct tstate saved[NT];
static volatile int up;
static volatile int winches;
static __thread sigjmp_buf jb;

static void on_winch(int sig)
{
	winches++;	/* the thread's parent-death signal: must not fire (its parent lives) */
}
static __thread volatile int in_probe;

static void on_segv(int sig)
{
	if (in_probe)
		siglongjmp(jb, 1);
	signal(SIGSEGV, SIG_DFL);
	raise(SIGSEGV);
}

/* Does the instruction fault with SIGSEGV in this thread? */
static int faults(int which)
{
	unsigned a = 0, b = 0, c = 0, d = 0;
	in_probe = 1;
	if (sigsetjmp(jb, 1)) {
		in_probe = 0;
		return 1;
	}
	if (which == T_TSC)
		__asm__ volatile("rdtsc" : "=a"(a), "=d"(d));
	else
		__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	in_probe = 0;
	return 0;
}

static void read_state(struct tstate *s)
{
	memset(s, 0, sizeof(*s));
	prctl(PR_GET_TSC, &s->tsc);
	s->mce = prctl(PR_MCE_KILL_GET, 0, 0, 0, 0);
	s->cpuid = syscall(SYS_arch_prctl, ARCH_GET_CPUID, 0);
	for (int i = 0; i < 3; i++)
		s->spec[i] = prctl(PR_GET_SPECULATION_CTRL, i, 0, 0, 0);
	prctl(PR_GET_PDEATHSIG, &s->pdeath);
	s->pers = personality(0xffffffff);
}

static void verify_thread(int i)
{
	struct tstate now;
	read_state(&now);
	const struct tstate *was = &saved[i];
	zdtm_check(now.tsc == was->tsc, "%s: PR_GET_TSC %d, want %d", names[i], now.tsc, was->tsc);
	zdtm_check(now.mce == was->mce, "%s: MCE kill policy %d, want %d", names[i], now.mce, was->mce);
	zdtm_check(now.cpuid == was->cpuid, "%s: ARCH_GET_CPUID %d, want %d", names[i], now.cpuid, was->cpuid);
	zdtm_check(now.pdeath == was->pdeath, "%s: parent-death signal %d, want %d", names[i], now.pdeath, was->pdeath);
	zdtm_check(now.pers == was->pers, "%s: personality %#x, want %#x", names[i], now.pers, was->pers);
	for (int k = 0; k < 3; k++)
		zdtm_check(now.spec[k] == was->spec[k], "%s: speculation control %d is %#x, want %#x", names[i], k,
			   now.spec[k], was->spec[k]);
	zdtm_check(faults(T_TSC) == (i == T_TSC), "%s: rdtsc %s", names[i], i == T_TSC ? "works" : "faults");
	zdtm_check(faults(T_CPUID) == (i == T_CPUID), "%s: cpuid %s", names[i], i == T_CPUID ? "works" : "faults");
}

static void *worker(void *arg)
{
	long i = (long)arg;
	int r = 0;
	if (i == T_TSC)
		r = prctl(PR_SET_TSC, PR_TSC_SIGSEGV) | prctl(PR_SET_PDEATHSIG, SIGWINCH);	/* this thread's own */
	else if (i == T_MCE_EARLY || i == T_MCE_LATE)
		r = prctl(PR_MCE_KILL, PR_MCE_KILL_SET, i == T_MCE_EARLY ? PR_MCE_KILL_EARLY : PR_MCE_KILL_LATE, 0, 0);
	else if (i == T_CPUID)
		r = syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) | (personality(ADDR_NO_RANDOMIZE | READ_IMPLIES_EXEC) < 0);
	zdtm_check(r == 0, "%s: set up: %s", names[i], strerror(errno));
	read_state(&saved[i]);
	__atomic_fetch_add(&up, 1, __ATOMIC_SEQ_CST);
	while (!zdtm_sigterm_received())
		usleep(20000);
	verify_thread((int)i);
	return NULL;
}

/* Forked before the parent disabled THP or registered membarriers; turns MDWE on. */
__attribute__((noreturn)) static void child(void)
{
	int mdwe_ok = prctl(PR_SET_MDWE_, 1 /* REFUSE_EXEC_GAIN */, 0, 0, 0) == 0;
	if (!mdwe_ok)
		printf("note: PR_SET_MDWE unavailable (%s): not checked\n", strerror(errno));
	while (!zdtm_sigterm_received())
		usleep(20000);
	zdtm_check(prctl(PR_GET_THP, 0, 0, 0, 0) == 0, "child: THP disabled (%d)", prctl(PR_GET_THP, 0, 0, 0, 0));
	int reg = syscall(SYS_membarrier, MB_GET_REGISTRATIONS, 0, 0);
	zdtm_check(reg == 0, "child: membarrier registrations %#x, want none", reg);
	if (mdwe_ok) {
		zdtm_check(prctl(PR_GET_MDWE_, 0, 0, 0, 0) == 1, "child: MDWE %d, want 1", prctl(PR_GET_MDWE_, 0, 0, 0, 0));
		void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		errno = 0;
		zdtm_check(mprotect(p, 4096, PROT_READ | PROT_EXEC) < 0 && errno == EACCES,
			   "child: MDWE no longer refuses PROT_EXEC (errno %d)", errno);
	}
	zdtm_exit();
}

int main(void)
{
	pthread_t th[NT];
	zdtm_init("prctl_attrs");
	signal(SIGSEGV, on_segv);
	signal(SIGWINCH, on_winch);
	personality(ADDR_COMPAT_LAYOUT);	/* every thread inherits it; one changes its own */
	pid_t kid = fork();
	if (kid == 0)
		child();
	zdtm_check(prctl(PR_SET_THP, 1, 0, 0, 0) == 0, "PR_SET_THP_DISABLE: %s", strerror(errno));
	int supported = syscall(SYS_membarrier, MB_QUERY, 0, 0), want = supported & MB_REGISTER_MASK;
	for (int bit = 0; bit < 32; bit++)
		if ((want >> bit) & 1 && syscall(SYS_membarrier, 1 << bit, 0, 0) < 0)
			zdtm_fail("membarrier register %#x: %s", 1 << bit, strerror(errno));
	int reg = syscall(SYS_membarrier, MB_GET_REGISTRATIONS, 0, 0);
	printf("membarrier: supported %#x, registered %#x\n", supported, reg);
	for (long i = 1; i < NT; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	read_state(&saved[T_MAIN]);
	while (__atomic_load_n(&up, __ATOMIC_SEQ_CST) < NT - 1)
		usleep(1000);
	zdtm_ready();
	zdtm_wait_sigterm();

	verify_thread(T_MAIN);
	zdtm_check(winches == 0, "a thread's parent-death signal fired %d times", winches);
	zdtm_check(prctl(PR_GET_THP, 0, 0, 0, 0) == 1, "THP disable %d, want 1", prctl(PR_GET_THP, 0, 0, 0, 0));
	int now = syscall(SYS_membarrier, MB_GET_REGISTRATIONS, 0, 0);
	zdtm_check(now == reg, "membarrier registrations %#x, want %#x", now, reg);
	for (int bit = 0; bit < 32; bit++)	/* each registered kind works: REGISTER_X >> 1 is X */
		if ((reg >> bit) & 1 && bit != 2 && syscall(SYS_membarrier, 1 << (bit - 1), 0, 0) < 0)
			zdtm_fail("membarrier %#x after restore: %s", 1 << (bit - 1), strerror(errno));
	for (int i = 1; i < NT; i++)
		pthread_join(th[i], NULL);
	int st = -1;
	kill(kid, SIGTERM);
	zdtm_check(waitpid(kid, &st, 0) == kid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		   "the child's state differs (status %#x)", st);
	zdtm_exit();
}
