// SPDX-License-Identifier: Apache-2.0
// vDSO: [vvar], [vvar_vclock], [vdso] (and [vsyscall]) keep their addresses, AT_SYSINFO_EHDR still points
// at [vdso], and the vDSO clocks work and agree with the real clock_gettime system call.
#include "zdtm.h"

#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *names[] = { "[vvar]", "[vvar_vclock]", "[vdso]", "[vsyscall]" };
#define NN (sizeof(names) / sizeof(names[0]))

static struct zdtm_vma before[NN];
static int present[NN];

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

static void check_clock(const char *name, clockid_t id, int64_t tolerance_ns)
{
	struct timespec v, s;
	int64_t d;

	/* vDSO read, then the system call: the syscall value is later, by a little */
	if (clock_gettime(id, &v) < 0) {
		zdtm_fail("clock_gettime(%s) via vDSO: %m", name);
		return;
	}
	syscall(SYS_clock_gettime, id, &s);
	d = ts_ns(&s) - ts_ns(&v);
	zdtm_check(d >= 0 && d < tolerance_ns, "%s: vDSO and syscall disagree by %lld ns", name, (long long)d);
}

int main(void)
{
	struct zdtm_vma v;
	struct timespec mono0, mono1, real;
	struct timeval tv;
	unsigned long ehdr = getauxval(AT_SYSINFO_EHDR);

	zdtm_init("vdso");
	for (size_t i = 0; i < NN; i++)
		present[i] = zdtm_find_vma_by_name(names[i], &before[i]) == 0;
	if (!present[2])
		zdtm_skip("no [vdso] mapping");
	zdtm_check(ehdr == before[2].start, "AT_SYSINFO_EHDR %#lx is not [vdso] %#lx", ehdr, before[2].start);
	clock_gettime(CLOCK_MONOTONIC, &mono0);

	zdtm_ready();
	zdtm_wait_sigterm();

	for (size_t i = 0; i < NN; i++) {
		int now = zdtm_find_vma_by_name(names[i], &v) == 0;

		if (now != present[i]) {
			zdtm_fail("%s: %s after restore", names[i], now ? "appeared" : "missing");
			continue;
		}
		if (!now)
			continue;
		zdtm_check(v.start == before[i].start && v.end == before[i].end, "%s: %lx-%lx, want %lx-%lx", names[i],
			   v.start, v.end, before[i].start, before[i].end);
		zdtm_check(!strcmp(v.perms, before[i].perms), "%s: perms %s, want %s", names[i], v.perms,
			   before[i].perms);
	}
	zdtm_check(getauxval(AT_SYSINFO_EHDR) == ehdr, "AT_SYSINFO_EHDR changed");

	clock_gettime(CLOCK_MONOTONIC, &mono1);
	zdtm_check(ts_ns(&mono1) > ts_ns(&mono0), "CLOCK_MONOTONIC went backwards");
	for (int i = 0; i < 1000; i++) {
		struct timespec a, b;

		clock_gettime(CLOCK_MONOTONIC, &a);
		clock_gettime(CLOCK_MONOTONIC, &b);
		if (ts_ns(&b) < ts_ns(&a)) {
			zdtm_fail("CLOCK_MONOTONIC not monotonic via vDSO");
			break;
		}
	}
	check_clock("CLOCK_MONOTONIC", CLOCK_MONOTONIC, 50000000);
	check_clock("CLOCK_REALTIME", CLOCK_REALTIME, 50000000);
	check_clock("CLOCK_BOOTTIME", CLOCK_BOOTTIME, 50000000);
	check_clock("CLOCK_MONOTONIC_COARSE", CLOCK_MONOTONIC_COARSE, 50000000);
	clock_gettime(CLOCK_REALTIME, &real);
	zdtm_check(real.tv_sec > 1600000000, "CLOCK_REALTIME %ld is not a plausible date", (long)real.tv_sec);
	gettimeofday(&tv, NULL);
	zdtm_check(tv.tv_sec - real.tv_sec >= 0 && tv.tv_sec - real.tv_sec < 2, "gettimeofday disagrees: %ld vs %ld",
		   (long)tv.tv_sec, (long)real.tv_sec);
	zdtm_check(time(NULL) - real.tv_sec >= 0 && time(NULL) - real.tv_sec < 2, "time() disagrees");
	zdtm_exit();
}
