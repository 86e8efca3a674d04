// SPDX-License-Identifier: Apache-2.0
// Tree shapes for the restore's scheduling: a chain five deep and a fan-out of nine children,
// restored while their pages are written in parallel. Memory of every kind the page filler
// writes: private anonymous (big and small runs, read-only, PROT_NONE), copy-on-write pages of
// a private file mapping, shared anonymous memory; pages children still share copy-on-write with
// the parent (the same physical pages after restore) next to pages they changed; a parent's big
// area no child has (the restore keeps it out of the forks, and later forks inherit it again), and
// one it made MADV_DONTFORK before forking (still DONTFORK after restore: no child has it, nor a
// later fork); threads in a child, a zombie, a process group with a member, a session. Nothing
// of the restore's userfaultfd may be left: no descriptor, no registered VMA.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096UL
#define MIB (1024UL * 1024)
#define DEPTH 5
#define FAN 9
#define COW_LEN (2 * MIB)
#define HIDE_LEN (3 * MIB)
#define DFORK_LEN (2 * MIB)
#define SHARED_LEN MIB
#define FILE_LEN (512 * 1024UL)
#define RO_LEN (1536 * 1024UL)
#define NONE_LEN (256 * 1024UL)

static char *cow, *hide, *dfork, *shared, *fmap, *ro, *none;
static char *base;	/* areas are placed apart, so that none merges with a neighbour */
static size_t used;
static volatile sig_atomic_t go;

static void on_term(int s) { (void)s; go = 1; }

static void wait_term(void)
{
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	while (!go && !zdtm_sigterm_received())
		pause();
}

/* Whether p holds zdtm_fill(seed) over n bytes, checked a page at a time. */
static int holds(const char *p, size_t n, uint64_t seed)
{
	static char want[8 * MIB];
	if (n > sizeof(want))
		return 0;
	zdtm_fill(want, n, seed);
	return memcmp(p, want, n) == 0;
}

/* Room for anonymous areas with a hole after each one. */
static char *place(size_t len, int flags)
{
	char *p = mmap(base + used, len, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	used += len + PG;
	return p == MAP_FAILED ? NULL : p;
}

static char *area(size_t len, int prot, uint64_t seed)
{
	char *p = place(len, MAP_PRIVATE);
	if (!p)
		return NULL;
	zdtm_fill(p, len, seed);
	if (prot != (PROT_READ | PROT_WRITE))
		mprotect(p, len, prot);
	return p;
}

/* The copy-on-write area as a task sees it: odd pages rewritten by the last writer (seed), if any. */
static int cow_ok(uint64_t seed)
{
	static char page[PG];
	for (size_t off = 0; off < COW_LEN; off += PG) {
		int rewritten = seed && (off / PG) % 2;
		zdtm_fill(page, PG, rewritten ? seed * 1000 + off / PG : 7000 + off / PG);
		if (memcmp(cow + off, page, PG))
			return 0;
	}
	return 1;
}

static void cow_write(uint64_t seed)
{
	for (size_t off = PG; off < COW_LEN; off += 2 * PG)
		zdtm_fill(cow + off, PG, seed * 1000 + off / PG);
}

/* Nothing of a userfaultfd: no such descriptor, no VMA registered in missing mode ("um"). */
static int no_uffd_left(void)
{
	static char buf[1 << 20];
	char path[64], link[128];
	for (int fd = 0; fd < 256; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (zdtm_readlink(path, link, sizeof(link)) > 0 && strstr(link, "userfaultfd"))
			return 0;
	}
	if (zdtm_read_file("/proc/self/smaps", buf, sizeof(buf)) < 0)
		return 0;
	for (char *l = strstr(buf, "VmFlags:"); l; l = strstr(l + 1, "VmFlags:")) {
		char *nl = strchr(l, '\n');
		char *um = strstr(l, " um");
		if (um && (!nl || um < nl))
			return 0;
	}
	return 1;
}

/* Whether the VMA holding addr has VmFlags flag fl (" xx") in /proc/self/smaps; -1 if not found. */
static int vmflag(void *addr, const char *fl)
{
	static char buf[1 << 20];
	char head[32];
	struct zdtm_vma vma;
	if (zdtm_find_vma((unsigned long)addr, &vma) < 0 || zdtm_read_file("/proc/self/smaps", buf, sizeof(buf)) < 0)
		return -1;
	snprintf(head, sizeof(head), "%lx-", vma.start);
	char *v = strstr(buf, head);
	char *f = v ? strstr(v, "VmFlags:") : NULL;
	char *nl = f ? strchr(f, '\n') : NULL;
	if (!f)
		return -1;
	if (nl)
		*nl = 0;
	return strstr(f, fl) != NULL;
}

struct kid {
	pid_t pid;
	int wrote_cow;
};

/* Tells a child to check itself and collects its verdict. */
static void reap_kid(pid_t pid, const char *what)
{
	int st;
	kill(pid, SIGTERM);
	pid_t w = waitpid(pid, &st, 0);
	zdtm_check(w == pid, "%s %d: waitpid returned %d (%s)", what, pid, w, strerror(errno));
	zdtm_check(w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s %d reports failure (status %#x)", what, pid, st);
}

/* A child's own checks; what fails is said on stdout (test.out), the verdict is its exit status. */
static int child_common(pid_t want_ppid, uint64_t cow_seed, uint64_t seed, const char *own, size_t own_len)
{
	struct zdtm_vma v;
	const char *bad = getppid() != want_ppid ? "parent" : !cow_ok(cow_seed) ? "copy-on-write area" :
			  own && !holds(own, own_len, seed) ? "own area" :
			  !holds(shared, SHARED_LEN / 2, 77) || shared[SHARED_LEN / 2] != 1 ? "shared area" :
			  zdtm_find_vma((unsigned long)hide, &v) != -ENOENT ? "has the root's area" :
			  zdtm_find_vma((unsigned long)dfork, &v) != -ENOENT ? "has the root's DONTFORK area" :
			  !no_uffd_left() ? "userfaultfd left" : NULL;
	if (bad)
		printf("child %d (seed %llu): %s differs\n", getpid(), (unsigned long long)seed, bad);
	fflush(stdout);
	return !bad;
}

/* Level d of the chain: its own area, on odd levels a write into the copy-on-write pages, its child. */
static __attribute__((noreturn)) void chain(int d, pid_t parent, uint64_t cow_seed)
{
	if (d == 1)
		munmap(hide, HIDE_LEN);
	char *own = area(MIB + 256 * 1024 * (size_t)d, PROT_READ | PROT_WRITE, 100 + d);
	if (d % 2)
		cow_write(cow_seed = 100 + d);
	pid_t kid = 0, self = getpid();
	if (d < DEPTH && !(kid = fork()))
		chain(d + 1, self, cow_seed);
	wait_term();
	int ok = 1;
	if (kid) {
		int st;
		kill(kid, SIGTERM);
		ok = waitpid(kid, &st, 0) == kid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	ok = ok && own && child_common(parent, cow_seed, 100 + d, own, MIB + 256 * 1024 * (size_t)d);
	_exit(ok ? 0 : 1);
}

static volatile int thread_seen[3];

static void *spin(void *arg)
{
	long i = (long)arg;
	volatile char stackbuf[64 * 1024];
	memset((char *)stackbuf, (int)i + 1, sizeof(stackbuf));
	thread_seen[i] = 1;
	while (!go)
		usleep(1000);
	for (size_t k = 0; k < sizeof(stackbuf); k++)
		if (stackbuf[k] != (char)(i + 1))
			thread_seen[i] = 2;
	return NULL;
}

/* Fan-out child k: own memory of a size that depends on k, and one special trait. */
static void fan(int k, pid_t parent)
{
	munmap(hide, HIDE_LEN);
	size_t len = k == 4 ? 3 * MIB : (size_t)(k + 1) * 16 * PG;
	char *own = area(len, PROT_READ | PROT_WRITE, 200 + k);
	if (k % 3 == 0)
		cow_write(200 + k);
	shared[SHARED_LEN / 2 + PG + k] = (char)(k + 1);
	pthread_t th[3];
	pid_t member = 0;
	if (k == 1) {	/* three threads; SIGTERM is for the main one */
		sigset_t term, old;
		sigemptyset(&term);
		sigaddset(&term, SIGTERM);
		pthread_sigmask(SIG_BLOCK, &term, &old);
		for (long i = 0; i < 3; i++)
			pthread_create(&th[i], NULL, spin, (void *)i);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (k == 2) {	/* leads a process group with a member */
		setpgid(0, 0);
		if (!(member = fork())) {
			pid_t leader = getppid();
			wait_term();
			_exit(getpgid(0) == leader && getppid() == leader ? 0 : 1);
		}
	}
	if (k == 3)
		setsid();
	while (k == 1 && !(thread_seen[0] && thread_seen[1] && thread_seen[2]))
		usleep(1000);
	wait_term();
	int ok = child_common(parent, k % 3 == 0 ? 200 + k : 0, 200 + k, own, len);
	if (k == 1) {
		for (int i = 0; i < 3; i++)
			pthread_join(th[i], NULL);
		ok = ok && thread_seen[0] == 1 && thread_seen[1] == 1 && thread_seen[2] == 1;
	}
	if (k == 2) {
		int st;
		ok = ok && getpgid(0) == getpid() && getpgid(member) == getpid();
		kill(member, SIGTERM);
		ok = ok && waitpid(member, &st, 0) == member && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	if (k == 3)
		ok = ok && getsid(0) == getpid();
	_exit(ok ? 0 : 1);
}

/* After restore: pages a child did not write are the root's own physical pages again. */
static void check_sharing(pid_t kid, int wrote)
{
	char path[64];
	uint64_t mine[COW_LEN / PG], theirs[COW_LEN / PG];
	snprintf(path, sizeof(path), "/proc/%d/pagemap", kid);
	int a = open("/proc/self/pagemap", O_RDONLY), b = open(path, O_RDONLY);
	off_t at = (off_t)((uintptr_t)cow / PG * 8);
	int ok = a >= 0 && b >= 0 && pread(a, mine, sizeof(mine), at) == (ssize_t)sizeof(mine) &&
		 pread(b, theirs, sizeof(theirs), at) == (ssize_t)sizeof(theirs);
	zdtm_check(ok, "read the pagemaps of %d and of child %d: %s", getpid(), kid, strerror(errno));
	ok = ok && (mine[0] & ((1ULL << 55) - 1));	/* physical page numbers are shown to root only */
	size_t same = 0, want = 0;
	for (size_t i = 0; ok && i < COW_LEN / PG; i++) {
		uint64_t pfn = mine[i] & ((1ULL << 55) - 1);
		if (wrote && i % 2)
			zdtm_check(pfn != (theirs[i] & ((1ULL << 55) - 1)), "child %d shares page %zu it wrote", kid, i);
		else
			same += pfn && pfn == (theirs[i] & ((1ULL << 55) - 1)), want++;
	}
	zdtm_check(!ok || !want || same == want, "child %d shares %zu of the %zu pages it never wrote", kid, same, want);
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
}

int main(void)
{
	zdtm_init("tree_shapes");
	base = mmap(NULL, 64 * MIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED || munmap(base, 64 * MIB))
		zdtm_skip("mmap: %s", strerror(errno));
	char path[4096];
	int fd = open(zdtm_path(path, sizeof(path), "tree_shapes.data"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	static char fbuf[FILE_LEN];
	zdtm_fill(fbuf, FILE_LEN, 55);
	if (fd < 0 || write(fd, fbuf, FILE_LEN) != (ssize_t)FILE_LEN)
		zdtm_skip("cannot write %s: %s", path, strerror(errno));
	fmap = mmap(NULL, FILE_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	for (size_t off = 0; off < FILE_LEN; off += 4 * PG)	/* every fourth page leaves the file */
		zdtm_fill(fmap + off, PG, 5500 + off / PG);
	cow = place(COW_LEN, MAP_PRIVATE);
	shared = place(SHARED_LEN, MAP_SHARED);
	if (!cow || !shared)
		zdtm_skip("mmap: %s", strerror(errno));
	for (size_t off = 0; off < COW_LEN; off += PG)
		zdtm_fill(cow + off, PG, 7000 + off / PG);
	zdtm_fill(shared, SHARED_LEN / 2, 77);
	hide = area(HIDE_LEN, PROT_READ | PROT_WRITE, 88);
	dfork = area(DFORK_LEN, PROT_READ | PROT_WRITE, 133);
	if (!dfork || madvise(dfork, DFORK_LEN, MADV_DONTFORK) < 0)
		zdtm_skip("MADV_DONTFORK: %s", strerror(errno));
	ro = area(RO_LEN, PROT_READ, 99);
	none = area(NONE_LEN, PROT_NONE, 111);
	char *big = area(5 * MIB, PROT_READ | PROT_WRITE, 122);
	if (fmap == MAP_FAILED || !hide || !ro || !none || !big)
		zdtm_skip("mmap: %s", strerror(errno));

	pid_t me = getpid();
	struct kid kids[FAN + 1];
	kids[0].pid = fork();
	kids[0].wrote_cow = 1;	/* level 1 writes */
	if (!kids[0].pid)
		chain(1, me, 0);
	for (int k = 0; k < FAN; k++) {
		kids[k + 1].wrote_cow = k % 3 == 0;
		if (!(kids[k + 1].pid = fork()))
			fan(k, me);
	}
	pid_t zombie = fork();
	if (!zombie)
		_exit(7);
	usleep(300000);	/* the children set themselves up; the zombie dies */
	zdtm_ready();
	zdtm_wait_sigterm();

	zdtm_check(holds(big, 5 * MIB, 122), "the root's 5 MiB area differs");
	zdtm_check(holds(hide, HIDE_LEN, 88), "the area no child has differs");
	zdtm_check(holds(ro, RO_LEN, 99), "the read-only area differs");
	struct zdtm_vma v;
	zdtm_check(zdtm_find_vma((unsigned long)ro, &v) == 0 && !strcmp(v.perms, "r--p"), "read-only area: %s", v.perms);
	zdtm_check(zdtm_find_vma((unsigned long)none, &v) == 0 && !strcmp(v.perms, "---p"), "PROT_NONE area: %s", v.perms);
	mprotect(none, NONE_LEN, PROT_READ);
	zdtm_check(holds(none, NONE_LEN, 111), "the PROT_NONE area differs");
	for (size_t off = 0; off < FILE_LEN; off += PG) {
		char page[PG];
		if (off % (4 * PG))
			memcpy(page, fbuf + off, PG);
		else
			zdtm_fill(page, PG, 5500 + off / PG);
		zdtm_check(!memcmp(fmap + off, page, PG), "private file mapping: page %zu differs", off / PG);
	}
	zdtm_check(cow_ok(0), "the root's copy-on-write area differs");
	for (int k = 0; k < FAN; k++)
		zdtm_check(shared[SHARED_LEN / 2 + PG + k] == k + 1, "shared area: child %d's byte is %d", k,
			   shared[SHARED_LEN / 2 + PG + k]);
	zdtm_check(vmflag(hide, " dc") == 0, "the area no child has is still kept out of forks (dc)");
	zdtm_check(vmflag(dfork, " dc") == 1, "the DONTFORK area lost its flag (dc)");
	zdtm_check(holds(dfork, DFORK_LEN, 133), "the DONTFORK area differs");
	zdtm_check(no_uffd_left(), "a userfaultfd (or a VMA registered with one) is left");
	for (int k = 0; k <= FAN; k++)
		check_sharing(kids[k].pid, kids[k].wrote_cow);

	pid_t later = fork();	/* a fork after restore inherits every area again */
	if (!later)
		_exit(holds(hide, HIDE_LEN, 88) && cow_ok(0) && zdtm_find_vma((unsigned long)dfork, &v) == -ENOENT ? 0 : 1);
	reap_kid(later, "a child forked after restore");
	shared[SHARED_LEN / 2] = 1;	/* the shared area is one object still */
	reap_kid(kids[0].pid, "chain");
	for (int k = 1; k <= FAN; k++)
		reap_kid(kids[k].pid, "fan-out child");
	int st;
	zdtm_check(waitpid(zombie, &st, WNOHANG) == zombie && WIFEXITED(st) && WEXITSTATUS(st) == 7,
		   "zombie %d: status %#x, want exit 7", zombie, st);
	zdtm_exit();
}
