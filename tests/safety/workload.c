// SPDX-License-Identifier: Apache-2.0
// The workload of tests/safety: a process (or a small tree) that records everything a failed or
// killed checkpoint could disturb and re-checks it on demand, so the suite proves state, not
// survival: memory (heap, .bss, an anonymous mapping, a canary on the main thread's stack right
// above where it blocks, which is where ferry borrows its scratch bytes), /proc/self/maps, every
// descriptor (target, flags, offset, unread bytes of a pipe and a socket), every thread's signal
// mask and pending signals, the process-wide pending signals and dispositions, the thread list,
// that no thread is stopped or traced, that sleeping threads were never woken with EINTR, and that
// time goes on (a ticker thread), each thread's seccomp filter count.
//
//   workload DIR            a process with 4 threads
//   workload DIR tree       that, plus two children with 2 threads each
//   workload DIR traps      a process with 5 threads that makes the dump use its other ways:
//                           a SIGTRAP handler (injection under PTRACE_SYSCALL, not single steps),
//                           a seccomp filter all threads share (the sharing probe's extra
//                           thread), and a thread under syscall user dispatch that checks, every
//                           5 ms, that a system call from outside libc still raises SIGSYS
//   workload DIR spawn      posix_spawn()s /bin/true in a loop (vfork children come and go)
//   workload DIR trace PID  seizes PID and holds it in a ptrace stop until SIGTERM
//   workload DIR reap CMD…  runs CMD as a child subreaper: orphans that die with it (a restore
//                           killed with its tree) are collected at once, not seconds later by
//                           PID 1; exits as CMD did, 0.3 s after it
//
// Protocol: DIR/pids lists the PIDs (root first) once DIR/ready exists. `kill -USR2 PID` makes
// that process write DIR/check-PID ("PASS", or "FAIL: ..." lines); `kill -PWR PID` the same with
// what a restore may change left out (pipe and socket inode numbers, adjacent anonymous mappings
// merged by the kernel). SIGTERM ends it (the root ends its children first).

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define HEAP_SIZE (4 << 20)
#define MAP_SIZE (1 << 20)
#define MAX_THREADS 8
#define SNAP_SIZE 65536

static const char *dir;
static uint8_t bss_area[256 << 10];
static uint8_t *heap_area, *map_area;
static uint64_t sum_bss, sum_heap, sum_map;
static int pipe_never[2], pipe_data[2], sock[2], file_fd, efd;
static pid_t children[2];
static int nchildren;

static volatile long ticks;
static volatile int thread_failed;
static char thread_why[256];

static char snap_maps[SNAP_SIZE], snap_fds[SNAP_SIZE], snap_sig[SNAP_SIZE];
static char cur[SNAP_SIZE];

static uint64_t hash(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		p[i] = (uint8_t)seed;
	}
}

static void thread_fail(const char *what, int err)
{
	if (!thread_failed)
		snprintf(thread_why, sizeof(thread_why), "%s%s%s", what, err ? ": " : "", err ? strerror(err) : "");
	thread_failed = 1;
}

/* Reads a (proc) file into buf without malloc; returns its length. */
static ssize_t slurp(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t n = 0;
	ssize_t r;
	while (n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) > 0)
		n += r;
	close(fd);
	buf[n] = 0;
	return (ssize_t)n;
}

static const char *field(const char *text, const char *key, char *out, size_t size)
{
	size_t kl = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, kl) && p[kl] == ':') {
			p += kl + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			size_t n = strcspn(p, "\n");
			if (n >= size)
				n = size - 1;
			memcpy(out, p, n);
			out[n] = 0;
			return out;
		}
	snprintf(out, size, "?");
	return out;
}

/* Directory entries (numbers only), sorted, into ids[]; no malloc. */
static int list_ids(const char *path, int *ids, int max)
{
	static char dbuf[16384];
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), n = 0;
	if (fd < 0)
		return -1;
	long got;
	while ((got = syscall(SYS_getdents64, fd, dbuf, sizeof(dbuf))) > 0)
		for (long off = 0; off < got;) {
			struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; } *d =
				(void *)(dbuf + off);
			if (d->name[0] >= '0' && d->name[0] <= '9' && n < max)
				ids[n++] = atoi(d->name);
			off += d->reclen;
		}
	for (int i = 1; i < n; i++)
		for (int k = i; k > 0 && ids[k - 1] > ids[k]; k--) {
			int t = ids[k];
			ids[k] = ids[k - 1];
			ids[k - 1] = t;
		}
	close(fd);
	return n == max ? -1 : n;
}

static void append(char *buf, size_t size, const char *fmt, ...)
{
	size_t l = strlen(buf);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + l, size - l, fmt, ap);
	va_end(ap);
}

/* Every descriptor: number, target, flags and offset; unread bytes of the pipe and the socket. */
static void snapshot_fds(char *out)
{
	int ids[512], n, listing = open("/dev/null", O_RDONLY | O_CLOEXEC);
	close(listing);	/* the number list_ids' own descriptor gets */
	out[0] = 0;
	n = list_ids("/proc/self/fd", ids, 512);
	for (int i = 0; i < n; i++) {
		char path[64], link[256], info[1024], pos[32], flags[32];
		if (ids[i] == listing)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", ids[i]);
		ssize_t l = readlink(path, link, sizeof(link) - 1);
		link[l > 0 ? l : 0] = 0;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ids[i]);
		slurp(path, info, sizeof(info));
		append(out, SNAP_SIZE, "%d %s pos=%s flags=%s\n", ids[i], link, field(info, "pos", pos, sizeof(pos)),
		       field(info, "flags", flags, sizeof(flags)));
	}
	int inq = -1, sinq = -1;
	ioctl(pipe_data[0], FIONREAD, &inq);
	ioctl(sock[1], FIONREAD, &sinq);
	append(out, SNAP_SIZE, "pipe unread %d, socket unread %d\n", inq, sinq);
}

/* Per thread: mask and pending signals; process-wide: pending, caught, ignored; thread count. */
static void snapshot_signals(char *out, char *why, size_t whysize)
{
	int ids[MAX_THREADS * 2], n = list_ids("/proc/self/task", ids, MAX_THREADS * 2);
	char st[4096], v[64], s[8];
	out[0] = 0;
	for (int i = 0; i < n; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/task/%d/status", ids[i]);
		slurp(path, st, sizeof(st));
		append(out, SNAP_SIZE, "thread %d SigBlk %s", ids[i], field(st, "SigBlk", v, sizeof(v)));
		append(out, SNAP_SIZE, " SigPnd %s", field(st, "SigPnd", v, sizeof(v)));
		append(out, SNAP_SIZE, " Seccomp_filters %s\n", field(st, "Seccomp_filters", v, sizeof(v)));
		if (strcmp(field(st, "TracerPid", v, sizeof(v)), "0"))
			append(why, whysize, "FAIL: thread %d is traced by %s\n", ids[i], v);
		field(st, "State", s, sizeof(s));
		if (s[0] == 'T' || s[0] == 't')
			append(why, whysize, "FAIL: thread %d is stopped (%s)\n", ids[i], s);
	}
	slurp("/proc/self/status", st, sizeof(st));
	append(out, SNAP_SIZE, "ShdPnd %s", field(st, "ShdPnd", v, sizeof(v)));
	append(out, SNAP_SIZE, " SigCgt %s", field(st, "SigCgt", v, sizeof(v)));
	append(out, SNAP_SIZE, " SigIgn %s", field(st, "SigIgn", v, sizeof(v)));
	append(out, SNAP_SIZE, " Threads %s\n", field(st, "Threads", v, sizeof(v)));
}

/* maps with adjacent mappings of the same kind merged and no inode numbers of anonymous files. */
static void normalize_maps(const char *in, char *out)
{
	unsigned long ps = 0, pe = 0, s, e, off;
	char pperm[8] = "", ppath[512] = "", perm[8], path[512];
	out[0] = 0;
	for (const char *p = in; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		char line[1024];
		snprintf(line, sizeof(line), "%.*s", (int)strcspn(p, "\n"), p);
		path[0] = 0;
		if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %511[^\n]", &s, &e, perm, &off, path) < 4)
			continue;
		if (s == pe && !strcmp(perm, pperm) && !strcmp(path, ppath) && !path[0]) {
			pe = e;
			continue;
		}
		if (pe)
			append(out, SNAP_SIZE, "%lx-%lx %s %s\n", ps, pe, pperm, ppath);
		ps = s, pe = e;
		snprintf(pperm, sizeof(pperm), "%s", perm);
		snprintf(ppath, sizeof(ppath), "%s", path);
	}
	append(out, SNAP_SIZE, "%lx-%lx %s %s\n", ps, pe, pperm, ppath);
}

/* pipe:[123] -> pipe:[] */
static void strip_inodes(char *t)
{
	char *w = t;
	for (char *r = t; *r; r++) {
		*w++ = *r;
		if (*r == '[' && r[1] >= '0' && r[1] <= '9')
			while (r[1] >= '0' && r[1] <= '9')
				r++;
	}
	*w = 0;
}

static void compare(const char *what, const char *was, const char *now, char *why, size_t whysize)
{
	if (!strcmp(was, now))
		return;
	const char *a = was, *b = now;
	while (*a && *a == *b)
		a++, b++;
	while (a > was && a[-1] != '\n')
		a--, b--;
	append(why, whysize, "FAIL: %s changed: was '%.*s', now '%.*s'\n", what, (int)strcspn(a, "\n"), a,
	       (int)strcspn(b, "\n"), b);
}

static uint64_t canary_sum;

static char snap_maps_n[SNAP_SIZE], snap_fds_n[SNAP_SIZE], cur_n[SNAP_SIZE];

static void check(volatile uint64_t *canary, int ncanary, int loose)
{
	static char why[8192];
	static long last_ticks = -1;
	why[0] = 0;
	if (hash(bss_area, sizeof(bss_area)) != sum_bss)
		append(why, sizeof(why), "FAIL: .bss area changed\n");
	if (hash(heap_area, HEAP_SIZE) != sum_heap)
		append(why, sizeof(why), "FAIL: heap area changed\n");
	if (hash(map_area, MAP_SIZE) != sum_map)
		append(why, sizeof(why), "FAIL: mapped area changed\n");
	if (hash((const void *)canary, ncanary * sizeof(*canary)) != canary_sum)
		append(why, sizeof(why), "FAIL: the canary on the main thread's stack changed\n");
	slurp("/proc/self/maps", cur, sizeof(cur));
	if (loose) {
		normalize_maps(cur, cur_n);
		compare("/proc/self/maps", snap_maps_n, cur_n, why, sizeof(why));
	} else {
		compare("/proc/self/maps", snap_maps, cur, why, sizeof(why));
	}
	snapshot_fds(cur);
	if (loose)
		strip_inodes(cur);
	compare("descriptors", loose ? snap_fds_n : snap_fds, cur, why, sizeof(why));
	snapshot_signals(cur, why, sizeof(why));
	/* A thread inside its SIGSYS handler (every 5 ms, for a moment) has SIGSYS blocked: look again. */
	for (int k = 0; k < 100 && strcmp(snap_sig, cur); k++) {
		char scratch[256] = "";
		usleep(1000);
		snapshot_signals(cur, scratch, sizeof(scratch));
	}
	compare("signal state", snap_sig, cur, why, sizeof(why));
	if (thread_failed)
		append(why, sizeof(why), "FAIL: %s\n", thread_why);
	if (ticks == last_ticks)
		append(why, sizeof(why), "FAIL: the ticker thread stands still (%ld ticks)\n", ticks);
	last_ticks = ticks;
	for (int i = 0; i < nchildren; i++) {
		int st;
		if (waitpid(children[i], &st, WNOHANG) != 0)
			append(why, sizeof(why), "FAIL: child %d exited (%s %d)\n", children[i],
			       WIFSIGNALED(st) ? "killed by signal" : "exit code", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	}
	char path[4096], final[4096];
	snprintf(path, sizeof(path), "%s/check-%d.tmp", dir, getpid());
	snprintf(final, sizeof(final), "%s/check-%d", dir, getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	const char *res = why[0] ? why : "PASS\n";
	if (write(fd, res, strlen(res)) < 0)
		why[0] = 0;
	close(fd);
	rename(path, final);
}

static void mask(int how, const int *sigs, int n)
{
	sigset_t m;
	sigemptyset(&m);
	for (int i = 0; i < n; i++)
		sigaddset(&m, sigs[i]);
	pthread_sigmask(how, &m, NULL);
}

static void block(const int *sigs, int n)
{
	mask(SIG_BLOCK, sigs, n);
}

/*
 * Every thread starts with all the threads' own signals blocked (no signal may find a thread
 * before it set its mask) and keeps only its own: each thread's mask is different.
 */
static void keep_only(int sig1, int sig2)
{
	int all[] = { SIGRTMIN + 1, SIGRTMIN + 2, SIGRTMIN + 3, SIGWINCH }, drop[4], n = 0;
	for (int i = 0; i < 4; i++)
		if (all[i] != sig1 && all[i] != sig2)
			drop[n++] = all[i];
	mask(SIG_UNBLOCK, drop, n);
}

static volatile pid_t sleeper_tid;

static void *ticker(void *arg)
{
	keep_only(SIGRTMIN + 1, 0);
	for (;;) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		int r = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
		if (r)
			thread_fail("the ticker's clock_nanosleep", r);
		ticks++;
	}
	return arg;
}

static void *reader(void *arg)
{
	char c;
	keep_only(SIGRTMIN + 2, 0);
	ssize_t r = read(pipe_never[0], &c, 1);
	thread_fail("read() of an empty pipe returned", r < 0 ? errno : 0);
	return arg;
}

static void *sleeper(void *arg)
{
	keep_only(SIGRTMIN + 3, SIGWINCH);
	sleeper_tid = (pid_t)syscall(SYS_gettid);
	struct timespec ts = { 3600, 0 };
	int r = nanosleep(&ts, NULL);
	thread_fail("nanosleep(1 hour) returned", r < 0 ? errno : 0);
	return arg;
}

static void on_rt5(int sig)
{
	(void)sig;
}

/* ---- traps mode */

#define SUD_ON 1			/* PR_SYS_DISPATCH_ON */
#define SUD_BLOCK 1			/* SYSCALL_DISPATCH_FILTER_BLOCK */
static volatile char sud_selector;
static volatile int sud_sigsys;

static void on_sigsys(int sig)
{
	(void)sig;
	sud_sigsys++;
}

static void on_sigtrap(int sig)
{
	(void)sig;
	thread_fail("SIGTRAP delivered", 0);
}

/* getpid by a `syscall` instruction in this program's own code, outside libc. */
static long raw_getpid(void)
{
	long r = SYS_getpid;
	__asm__ volatile("syscall" : "+a"(r) : : "rcx", "r11", "memory");
	return r;
}

/* The executable mapping holding addr (libc's code, for usleep). */
static int code_range(uintptr_t addr, unsigned long *start, unsigned long *end)
{
	static char maps[SNAP_SIZE];
	slurp("/proc/self/maps", maps, sizeof(maps));
	for (const char *p = maps; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (sscanf(p, "%lx-%lx", start, end) == 2 && addr >= *start && addr < *end)
			return 0;
	return -1;
}

/* Under syscall user dispatch (only libc may make system calls): a dump must leave it on. */
static void *sud_thread(void *arg)
{
	unsigned long s, e;
	keep_only(0, 0);
	if (code_range((uintptr_t)&usleep, &s, &e) < 0 ||
	    prctl(59 /* PR_SET_SYSCALL_USER_DISPATCH */, SUD_ON, s, e - s, &sud_selector) < 0) {
		thread_fail("PR_SET_SYSCALL_USER_DISPATCH", errno);
		return arg;
	}
	sud_selector = SUD_BLOCK;
	for (;;) {
		int before = sud_sigsys;
		raw_getpid();
		if (sud_sigsys != before + 1)
			thread_fail("a system call from outside libc raised no SIGSYS: syscall user dispatch is off", 0);
		usleep(5000);
	}
	return arg;
}

/* An allow-all filter, installed before the threads exist: every thread shares the object. */
static void install_filter(void)
{
	struct sock_filter allow[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
	struct sock_fprog fp = { 1, allow };
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) < 0) {
		perror("workload: seccomp");
		exit(2);
	}
}

static void setup_files(void)
{
	char path[4096], junk[10000];
	snprintf(path, sizeof(path), "%s/data-%d", dir, getpid());
	file_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	memset(junk, 'x', sizeof(junk));
	if (file_fd < 0 || write(file_fd, junk, sizeof(junk)) != sizeof(junk) || lseek(file_fd, 1234, SEEK_SET) != 1234 ||
	    dup2(file_fd, 100) < 0 || pipe2(pipe_never, O_CLOEXEC) < 0 || pipe(pipe_data) < 0 ||
	    write(pipe_data[1], junk, 100) != 100 || socketpair(AF_UNIX, SOCK_STREAM, 0, sock) < 0 ||
	    send(sock[0], junk, 50, 0) != 50 || (efd = eventfd(7, EFD_NONBLOCK)) < 0 ||
	    open("/dev/null", O_WRONLY | O_APPEND) < 0) {
		perror("workload: setup");
		exit(2);
	}
}

static void publish(const char *name, const char *content)
{
	char path[4096], final[4096];
	snprintf(path, sizeof(path), "%s/%s.tmp", dir, name);
	snprintf(final, sizeof(final), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, content, strlen(content)) < 0 || close(fd) < 0 || rename(path, final) < 0)
		exit(2);
}

/*
 * Records the state, says it is ready, then answers checks until SIGTERM. Its frame holds the
 * canary, right above the frames of sigwaitinfo() where the main thread blocks (and where a
 * dump borrows its scratch bytes).
 */
static __attribute__((noinline)) void serve(int is_root)
{
	volatile uint64_t canary[48];
	char why[256] = "", name[64], pids[256] = "";
	for (int i = 0; i < 48; i++)
		canary[i] = 0x5afe0000c0ffeeULL * (i + 1) ^ (uint64_t)getpid();
	canary_sum = hash((const void *)canary, sizeof(canary));
	slurp("/proc/self/maps", snap_maps, sizeof(snap_maps));
	normalize_maps(snap_maps, snap_maps_n);
	snapshot_fds(snap_fds);
	memcpy(snap_fds_n, snap_fds, sizeof(snap_fds));
	strip_inodes(snap_fds_n);
	snapshot_signals(snap_sig, why, sizeof(why));
	snprintf(name, sizeof(name), "ready-%d", getpid());
	publish(name, "");
	if (is_root) {
		append(pids, sizeof(pids), "%d\n", getpid());
		for (int i = 0; i < nchildren; i++)
			append(pids, sizeof(pids), "%d\n", children[i]);
		publish("pids", pids);
		publish("ready", "");
	}
	sigset_t w;
	sigemptyset(&w);
	sigaddset(&w, SIGUSR2);
	sigaddset(&w, SIGPWR);
	sigaddset(&w, SIGTERM);
	for (;;) {
		int sig = sigwaitinfo(&w, NULL);
		if (sig == SIGUSR2 || sig == SIGPWR)
			check(canary, 48, sig == SIGPWR);
		else if (sig == SIGTERM)
			return;
	}
}

/* Sets up one process: memory, files, signals, threads; then answers checks until SIGTERM. */
static __attribute__((noreturn)) void run(int nthreads, int is_root, int traps)
{
	void *(*fns[])(void *) = { ticker, reader, sleeper, sud_thread };
	int ctl[] = { SIGUSR1, SIGUSR2, SIGPWR, SIGTERM, SIGRTMIN };
	block(ctl, 5);	/* inherited by every thread: SIGUSR2 and SIGTERM are taken by sigwaitinfo */
	fill(bss_area, sizeof(bss_area), getpid());
	heap_area = malloc(HEAP_SIZE);
	map_area = mmap(NULL, MAP_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!heap_area || map_area == MAP_FAILED)
		exit(2);
	fill(heap_area, HEAP_SIZE, getpid() * 3);
	fill(map_area, MAP_SIZE, getpid() * 7);
	sum_bss = hash(bss_area, sizeof(bss_area));
	sum_heap = hash(heap_area, HEAP_SIZE);
	sum_map = hash(map_area, MAP_SIZE);
	setup_files();
	struct sigaction sa = { .sa_handler = on_rt5 };
	sigaction(SIGRTMIN + 5, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (traps) {
		struct sigaction st = { .sa_handler = on_sigtrap }, ss = { .sa_handler = on_sigsys };
		sigaction(SIGTRAP, &st, NULL);
		sigaction(SIGSYS, &ss, NULL);
		install_filter();
	}
	pthread_t th[MAX_THREADS];
	int own[] = { SIGRTMIN + 1, SIGRTMIN + 2, SIGRTMIN + 3, SIGWINCH };
	block(own, 4);
	for (int i = 0; i < nthreads && i < 4; i++)
		if (pthread_create(&th[i], NULL, fns[i], NULL)) {
			perror("workload: pthread_create");
			exit(2);
		}
	keep_only(0, 0);
	kill(getpid(), SIGUSR1);	/* pending for the process: blocked everywhere */
	for (int i = 0; traps && i < 20000 && sud_selector != SUD_BLOCK && !thread_failed; i++)
		usleep(500);
	if (nthreads > 2) {	/* pending for one thread only, once it blocks it */
		for (int i = 0; i < 20000 && !sleeper_tid; i++)
			usleep(500);
		syscall(SYS_tgkill, getpid(), sleeper_tid, SIGRTMIN + 3);
	}
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	nanosleep(&ts, NULL);	/* every thread in its blocking call */
	serve(is_root);
	for (int i = 0; i < nchildren; i++) {
		kill(children[i], SIGTERM);
		waitpid(children[i], NULL, 0);
	}
	exit(0);
}

static void wait_file(const char *name, pid_t pid)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s-%d", dir, name, pid);
	for (int i = 0; i < 2000 && access(path, F_OK) < 0; i++)
		usleep(5000);
}

static __attribute__((noreturn)) void spawn_loop(void)
{
	char *argv[] = { "true", NULL };
	char pids[32];
	snprintf(pids, sizeof(pids), "%d\n", getpid());
	publish("pids", pids);
	publish("ready", "");
	for (;;) {
		pid_t pid;
		if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) == 0)
			waitpid(pid, NULL, 0);
	}
}

static int trace(pid_t pid)
{
	int st;
	if (ptrace(PTRACE_SEIZE, pid, NULL, NULL) < 0 || ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) < 0 ||
	    waitpid(pid, &st, __WALL) != pid) {
		perror("workload: trace");
		return 2;
	}
	publish("traced", "");
	pause();	/* SIGTERM ends us; the kernel then lets PID go from its event stop */
	return 0;
}

static pid_t reaped_cmd;

static void forward(int sig)
{
	if (reaped_cmd > 0)
		kill(reaped_cmd, sig);
}

static int reap(char **cmd)
{
	int st = 0, status = 0;
	struct sigaction sa = { .sa_handler = forward };
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	pid_t c = fork();
	if (c == 0) {
		execv(cmd[0], cmd);
		_exit(127);
	}
	reaped_cmd = c;
	for (;;) {
		pid_t r = waitpid(-1, &st, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || r == c)
			break;
	}
	status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	for (int i = 0; i < 30; i++) {	/* what dies with it meanwhile */
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		usleep(10000);
	}
	return status;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: workload DIR [tree|traps|spawn|trace PID]\n");
		return 2;
	}
	dir = argv[1];
	const char *mode = argc > 2 ? argv[2] : "proc";
	if (!strcmp(mode, "spawn"))
		spawn_loop();
	if (!strcmp(mode, "reap"))
		return argc > 3 ? reap(argv + 3) : 2;
	if (!strcmp(mode, "trace"))
		return argc > 3 ? trace(atoi(argv[3])) : 2;
	if (!strcmp(mode, "tree"))
		for (int i = 0; i < 2; i++) {
			pid_t c = fork();
			if (c < 0)
				return 2;
			if (c == 0) {
				nchildren = 0;
				run(1, 0, 0);
			}
			children[nchildren++] = c;
			wait_file("ready", c);
		}
	if (!strcmp(mode, "traps"))
		run(4, 1, 1);
	run(3, 1, 0);
}
