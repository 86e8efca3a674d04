// SPDX-License-Identifier: Apache-2.0
// Per-process odds and ends: rlimits, cwd, umask, comm, personality, interval timers, robust futex list,
// PDEATHSIG, timer slack, no_new_privs, credentials (res[ug]id, groups) and capability sets.
#include "zdtm.h"

#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

static struct rlimit rl[RLIM_NLIMITS];
static char cwd[PATH_MAX];
static struct stat cwd_st;
static mode_t mask;
static char comm[32];
static int pers;
static struct itimerval itv[3];
static void *robust_head;
static size_t robust_len;
static int pdeath, slack_ok;
static unsigned long slack;
static uid_t ruid, euid, suid;
static gid_t rgid, egid, sgid;
static gid_t groups[64];
static int ngroups;
static char caps[4][32];
static const char *cap_keys[4] = { "CapInh", "CapPrm", "CapEff", "CapBnd" };
static volatile int alarms, usr2s;

static void on_alarm(int sig)
{
	alarms++;
}

static void on_usr2(int sig)
{
	usr2s++;
}

static void xsetrlimit(int res, rlim_t cur, rlim_t max)
{
	struct rlimit r;

	getrlimit(res, &r);
	r.rlim_cur = cur;
	if (max != RLIM_INFINITY || r.rlim_max == RLIM_INFINITY)
		r.rlim_max = max;
	if (r.rlim_cur > r.rlim_max)
		r.rlim_cur = r.rlim_max;
	if (setrlimit(res, &r) < 0)
		perror("setrlimit");
}

static void setup(void)
{
	char path[PATH_MAX];
	gid_t want[] = { 4, 27, 100, 12345 };

	xsetrlimit(RLIMIT_NOFILE, 512, RLIM_INFINITY);
	xsetrlimit(RLIMIT_CORE, 1 << 20, 2 << 20);
	xsetrlimit(RLIMIT_STACK, 6 << 20, RLIM_INFINITY);
	xsetrlimit(RLIMIT_NPROC, 5000, RLIM_INFINITY);
	for (int i = 0; i < RLIM_NLIMITS; i++)
		getrlimit(i, &rl[i]);

	mkdir(zdtm_path(path, sizeof(path), "cwd dir"), 0755);
	if (chdir(path) < 0) {
		perror("chdir");
		exit(2);
	}
	getcwd(cwd, sizeof(cwd));
	stat(".", &cwd_st);
	umask(027);
	mask = 027;
	prctl(PR_SET_NAME, "zdtm-misc");
	prctl(PR_GET_NAME, comm);
	personality(ADDR_NO_RANDOMIZE | READ_IMPLIES_EXEC);
	pers = personality(0xffffffff);

	signal(SIGALRM, on_alarm);
	signal(SIGVTALRM, on_alarm);
	signal(SIGPROF, on_alarm);
	itv[ITIMER_REAL] = (struct itimerval){ { 1000, 250000 }, { 2000, 500000 } };
	itv[ITIMER_VIRTUAL] = (struct itimerval){ { 3000, 0 }, { 4000, 0 } };
	itv[ITIMER_PROF] = (struct itimerval){ { 0, 0 }, { 5000, 0 } };
	for (int i = 0; i < 3; i++) {
		setitimer(i, &itv[i], NULL);
		getitimer(i, &itv[i]);
	}

	syscall(SYS_get_robust_list, 0, &robust_head, &robust_len);
	signal(SIGUSR2, on_usr2);
	prctl(PR_SET_PDEATHSIG, SIGUSR2);
	prctl(PR_GET_PDEATHSIG, &pdeath);
	slack_ok = prctl(PR_SET_TIMERSLACK, 123456) == 0;
	slack = prctl(PR_GET_TIMERSLACK);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);

	if (getuid() == 0) {
		setgroups(sizeof(want) / sizeof(want[0]), want);
		setresgid(0, 0, 7);              /* a distinct saved gid */
		prctl(PR_CAPBSET_DROP, 22 /* CAP_SYS_BOOT */);
	}
	getresuid(&ruid, &euid, &suid);
	getresgid(&rgid, &egid, &sgid);
	ngroups = getgroups(64, groups);
	for (int i = 0; i < 4; i++)
		zdtm_status_field("/proc/self/status", cap_keys[i], caps[i], sizeof(caps[i]));
	printf("setup: comm %s pers %#x uids %d/%d/%d gids %d/%d/%d ngroups %d CapBnd %s\n", comm, pers, ruid,
	       euid, suid, rgid, egid, sgid, ngroups, caps[3]);
}

static long tv_us(struct timeval tv)
{
	return tv.tv_sec * 1000000L + tv.tv_usec;
}

static void verify(void)
{
	struct rlimit r;
	char buf[PATH_MAX], c[32];
	struct stat st;
	struct itimerval now;
	void *head;
	size_t len;
	int v;
	long slop;
	uid_t u[3];
	gid_t g[3], gr[64];

	for (int i = 0; i < RLIM_NLIMITS; i++) {
		getrlimit(i, &r);
		zdtm_check(r.rlim_cur == rl[i].rlim_cur && r.rlim_max == rl[i].rlim_max,
			   "rlimit %d: %llu/%llu, want %llu/%llu", i, (unsigned long long)r.rlim_cur,
			   (unsigned long long)r.rlim_max, (unsigned long long)rl[i].rlim_cur,
			   (unsigned long long)rl[i].rlim_max);
	}
	zdtm_check(getcwd(buf, sizeof(buf)) && !strcmp(buf, cwd), "cwd %s, want %s", buf, cwd);
	zdtm_check(stat(".", &st) == 0 && st.st_ino == cwd_st.st_ino && st.st_dev == cwd_st.st_dev,
		   "cwd is another inode");
	v = umask(0);
	zdtm_check(v == (int)mask, "umask %03o, want %03o", v, mask);
	prctl(PR_GET_NAME, c);
	zdtm_check(!strcmp(c, comm), "comm %s, want %s", c, comm);
	zdtm_read_line("/proc/self/comm", buf, sizeof(buf));
	zdtm_check(!strcmp(buf, comm), "/proc/self/comm %s, want %s", buf, comm);
	v = personality(0xffffffff);
	zdtm_check(v == pers, "personality %#x, want %#x", v, pers);

	for (int i = 0; i < 3; i++) {
		getitimer(i, &now);
		zdtm_check(tv_us(now.it_interval) == tv_us(itv[i].it_interval), "itimer %d: interval %ld us, want %ld",
			   i, tv_us(now.it_interval), tv_us(itv[i].it_interval));
		/* setitimer() of a CPU-time timer adds one tick (TICK_NSEC) to the value, so a restore that
		 * re-arms ITIMER_VIRTUAL/PROF may show up to a tick more; ITIMER_REAL must not grow at all */
		slop = i == ITIMER_REAL ? 0 : 10000;
		zdtm_check(tv_us(now.it_value) <= tv_us(itv[i].it_value) + slop && tv_us(now.it_value) > 0,
			   "itimer %d: value %ld us, want in (0, %ld]", i, tv_us(now.it_value),
			   tv_us(itv[i].it_value) + slop);
	}
	zdtm_check(alarms == 0, "an interval timer fired (%d)", alarms);
	getitimer(ITIMER_REAL, &now);
	zdtm_check(tv_us(itv[ITIMER_REAL].it_value) - tv_us(now.it_value) < 300 * 1000000L,
		   "ITIMER_REAL lost more than 300 s (%ld us left)", tv_us(now.it_value));

	syscall(SYS_get_robust_list, 0, &head, &len);
	zdtm_check(head == robust_head && len == robust_len, "robust list %p/%zu, want %p/%zu", head, len,
		   robust_head, robust_len);
	prctl(PR_GET_PDEATHSIG, &v);
	zdtm_check(v == pdeath, "pdeathsig %d, want %d", v, pdeath);
	zdtm_check(usr2s == 0, "pdeathsig fired");
	if (slack_ok)
		zdtm_check((unsigned long)prctl(PR_GET_TIMERSLACK) == slack, "timerslack %d, want %lu",
			   prctl(PR_GET_TIMERSLACK), slack);
	zdtm_check(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "no_new_privs lost");

	getresuid(&u[0], &u[1], &u[2]);
	getresgid(&g[0], &g[1], &g[2]);
	zdtm_check(u[0] == ruid && u[1] == euid && u[2] == suid, "uids %d/%d/%d, want %d/%d/%d", u[0], u[1], u[2],
		   ruid, euid, suid);
	zdtm_check(g[0] == rgid && g[1] == egid && g[2] == sgid, "gids %d/%d/%d, want %d/%d/%d", g[0], g[1], g[2],
		   rgid, egid, sgid);
	v = getgroups(64, gr);
	zdtm_check(v == ngroups && !memcmp(gr, groups, v * sizeof(gid_t)), "supplementary groups differ (%d, want %d)",
		   v, ngroups);
	for (int i = 0; i < 4; i++) {
		zdtm_status_field("/proc/self/status", cap_keys[i], c, sizeof(c));
		zdtm_check(!strcmp(c, caps[i]), "%s %s, want %s", cap_keys[i], c, caps[i]);
	}
}

int main(void)
{
	zdtm_init("misc");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	verify();
	zdtm_exit();
}
