// SPDX-License-Identifier: Apache-2.0
// zdtm: the test-side half of the runner protocol (ready file, SIGTERM wait, PASS/FAIL report) and
// helpers for reading /proc/self and hashing memory. Allocation-free so it never perturbs a test's heap.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static char dir[PATH_MAX];
static const char *test_name = "zdtm";
static volatile int sigterm_word;

static char fail_buf[16384];
static size_t fail_len;
static int fail_count;
static int fail_lock;

static void on_sigterm(int sig)
{
	int saved = errno;

	(void)sig;
	__atomic_store_n(&sigterm_word, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &sigterm_word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
	errno = saved;
}

void zdtm_init(const char *name)
{
	const char *env = getenv("ZDTM_DIR");
	struct sigaction sa;

	test_name = name;
	if (!env || !*env)
		env = ".";
	if (!realpath(env, dir)) {
		fprintf(stderr, "%s: ZDTM_DIR %s: %s\n", name, env, strerror(errno));
		exit(2);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigterm;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0) {
		perror("sigaction(SIGTERM)");
		exit(2);
	}
}

const char *zdtm_dir(void)
{
	return dir;
}

char *zdtm_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
	return buf;
}

void zdtm_ready_prepare(char *tmp, char *final, size_t size)
{
	char pid[32];
	int fd, n;

	zdtm_path(tmp, size, "ready.tmp");
	zdtm_path(final, size, "ready");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "%s: open %s: %s\n", test_name, tmp, strerror(errno));
		exit(2);
	}
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (write(fd, pid, n) != n) {
		fprintf(stderr, "%s: write %s: %s\n", test_name, tmp, strerror(errno));
		exit(2);
	}
	close(fd);
}

void zdtm_ready(void)
{
	char tmp[PATH_MAX + 16], final[PATH_MAX + 16];

	fflush(stdout);
	fflush(stderr);
	zdtm_ready_prepare(tmp, final, sizeof(tmp));
	if (rename(tmp, final) < 0) {
		fprintf(stderr, "%s: rename %s: %s\n", test_name, final, strerror(errno));
		exit(2);
	}
}

volatile int *zdtm_sigterm_word(void)
{
	return &sigterm_word;
}

int zdtm_sigterm_received(void)
{
	return __atomic_load_n(&sigterm_word, __ATOMIC_SEQ_CST);
}

void zdtm_wait_sigterm(void)
{
	/* A futex wait has no lost-wakeup window: if SIGTERM lands before the call, the word is 1 and
	 * FUTEX_WAIT returns EAGAIN at once. Interrupted waits (EINTR) just loop. */
	while (!zdtm_sigterm_received())
		syscall(SYS_futex, &sigterm_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
}

void zdtm_fail(const char *fmt, ...)
{
	va_list ap;
	int n;

	while (__atomic_exchange_n(&fail_lock, 1, __ATOMIC_ACQUIRE))
		;
	fail_count++;
	if (fail_len + 8 < sizeof(fail_buf)) {
		memcpy(fail_buf + fail_len, "FAIL: ", 6);
		fail_len += 6;
		va_start(ap, fmt);
		n = vsnprintf(fail_buf + fail_len, sizeof(fail_buf) - fail_len - 1, fmt, ap);
		va_end(ap);
		if (n > 0)
			fail_len += (size_t)n < sizeof(fail_buf) - fail_len - 1 ? (size_t)n
								       : sizeof(fail_buf) - fail_len - 2;
		fail_buf[fail_len++] = '\n';
		fail_buf[fail_len] = 0;
	}
	__atomic_store_n(&fail_lock, 0, __ATOMIC_RELEASE);
}

int zdtm_failed(void)
{
	return __atomic_load_n(&fail_count, __ATOMIC_SEQ_CST);
}

void zdtm_exit(void)
{
	if (fail_count) {
		fputs(fail_buf, stdout);
		if (fail_len + 8 >= sizeof(fail_buf))
			printf("FAIL: (more failures not shown)\n");
		printf("FAIL: %s: %d check(s) failed\n", test_name, fail_count);
		fflush(stdout);
		exit(1);
	}
	printf("PASS\n");
	fflush(stdout);
	exit(0);
}

void zdtm_skip(const char *fmt, ...)
{
	va_list ap;

	printf("SKIP: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(ZDTM_EXIT_SKIP);
}

uint64_t zdtm_hash_add(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

void zdtm_file_survey(int fd, uint64_t size, char *map, size_t len, uint64_t *hash)
{
	static char buf[1 << 20];
	off_t d, h;
	map[0] = 0;
	for (off_t at = 0; (uint64_t)at < size && (d = lseek(fd, at, SEEK_DATA)) >= 0; at = h) {
		h = lseek(fd, d, SEEK_HOLE);
		snprintf(map + strlen(map), len - strlen(map), "%lld-%lld ", (long long)d, (long long)h);
	}
	*hash = ZDTM_HASH_INIT;
	for (off_t off = 0; (uint64_t)off < size;) {
		ssize_t n = pread(fd, buf, sizeof(buf), off);
		if (n <= 0)
			break;
		*hash = zdtm_hash_add(*hash, buf, (size_t)n);
		off += n;
	}
}

void zdtm_fill(void *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
	unsigned char *c = p;

	for (size_t i = 0; i < n; i += 8) {
		/* xorshift64 */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(c + i, &x, n - i < 8 ? n - i : 8);
	}
}

ssize_t zdtm_read_file(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t r;
	int fd;

	if (size == 0)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (len + 1 < size) {
		r = read(fd, buf + len, size - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			r = -errno;
			close(fd);
			return r;
		}
		if (r == 0)
			break;
		len += r;
	}
	buf[len] = 0;
	close(fd);
	return len;
}

ssize_t zdtm_read_line(const char *path, char *buf, size_t size)
{
	ssize_t n = zdtm_read_file(path, buf, size);

	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = 0;
	return n;
}

int zdtm_status_field(const char *path, const char *key, char *out, size_t size)
{
	static __thread char buf[65536]; /* threads of one test read their own status */
	size_t klen = strlen(key);
	char *line, *v, *end;
	ssize_t n;

	n = zdtm_read_file(path, buf, sizeof(buf));
	if (n < 0)
		return n;
	for (line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, key, klen) || line[klen] != ':')
			continue;
		v = line + klen + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		end = strchr(v, '\n');
		n = end ? end - v : (ssize_t)strlen(v);
		if ((size_t)n >= size)
			n = size - 1;
		memcpy(out, v, n);
		out[n] = 0;
		return 0;
	}
	return -ENOENT;
}

ssize_t zdtm_readlink(const char *path, char *buf, size_t size)
{
	ssize_t n = readlink(path, buf, size - 1);

	if (n < 0)
		return -errno;
	buf[n] = 0;
	return n;
}

int zdtm_parse_vma(const char *line, struct zdtm_vma *v)
{
	int pos = 0;

	memset(v, 0, sizeof(*v));
	if (sscanf(line, "%lx-%lx %4s %lx %x:%x %lu%n", &v->start, &v->end, v->perms, &v->pgoff,
		   &v->dev_major, &v->dev_minor, &v->inode, &pos) < 7)
		return -EINVAL;
	if (pos > 0) {
		const char *p = line + pos;
		size_t n;

		while (*p == ' ' || *p == '\t')    /* not past the newline: anonymous lines have no path */
			p++;
		n = strcspn(p, "\n");

		if (n >= sizeof(v->path))
			n = sizeof(v->path) - 1;
		memcpy(v->path, p, n);
		v->path[n] = 0;
	}
	return 0;
}

static int find_vma(unsigned long addr, const char *name, struct zdtm_vma *v)
{
	static __thread char buf[1 << 18];
	char *line;

	if (zdtm_read_file("/proc/self/maps", buf, sizeof(buf)) < 0)
		return -EIO;
	for (line = buf; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line)) {
		if (zdtm_parse_vma(line, v))
			continue;
		if (name ? !strcmp(v->path, name) : (addr >= v->start && addr < v->end))
			return 0;
	}
	return -ENOENT;
}

int zdtm_find_vma(unsigned long addr, struct zdtm_vma *v)
{
	return find_vma(addr, NULL, v);
}

int zdtm_find_vma_by_name(const char *name, struct zdtm_vma *v)
{
	return find_vma(0, name, v);
}

int zdtm_tty_nr(void)
{
	char buf[1024];
	int nr = -1;
	if (zdtm_read_file("/proc/self/stat", buf, sizeof(buf)) < 0)
		return -1;
	const char *p = strrchr(buf, ')');
	return p && sscanf(p + 2, "%*c %*d %*d %*d %d", &nr) == 1 ? nr : -1;
}

pid_t zdtm_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

int64_t zdtm_now_ns(int clockid)
{
	struct timespec ts;

	clock_gettime(clockid, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
