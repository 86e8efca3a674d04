// SPDX-License-Identifier: Apache-2.0
// Removed inodes held by what is not a descriptor, and watched: one inode for every holder.
//   thread U left the process's fs (unshare(CLONE_FS)), its cwd is a directory removed since, which
//            nothing else holds; an inotify watch (IN_ATTRIB) and a fanotify mark (FAN_OPEN |
//            FAN_ONDIR) are on it;
//   thread V left the process's fs too, its cwd a removed directory also held by a descriptor;
//   a file removed since is held by a shared mapping only; a watch (IN_ATTRIB | IN_MODIFY) and a
//            mark (FAN_MODIFY) are on it.
// After restore: each thread's cwd reads "DIR (deleted)", getcwd() fails, its umask is its own;
// V's "." and the descriptor are one inode; the mapping's file has no links and its bytes; fdinfo
// puts the watches and marks on the inodes of U's "." and of the mapping's file; a chmod of "."
// in U and of the mapping's file bring IN_ATTRIB on their wds, opening "." in U a FAN_OPEN event
// and a write to the file a FAN_MODIFY event whose descriptors are those very inodes. (The dump
// opens neither: the marks would see it.)
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAP_LEN 8192

static char dir_u[PATH_MAX], dir_v[PATH_MAX], file_m[PATH_MAX];
static volatile int up, step;	/* step: 1 = U checks and acts, 2 = V checks, 3 = checked, 4 = exit */
static pid_t tid_u, tid_v;
static struct stat st_u;	/* U's "." after restore */
static int fa;

static void check_own_cwd(const char *who, const char *dir, mode_t want_umask)
{
	char link[PATH_MAX + 32], proc[64], want[PATH_MAX + 16], cwd[PATH_MAX];
	snprintf(proc, sizeof(proc), "/proc/self/task/%d/cwd", zdtm_gettid());
	snprintf(want, sizeof(want), "%s (deleted)", dir);
	zdtm_check(zdtm_readlink(proc, link, sizeof(link)) > 0 && !strcmp(link, want), "%s: cwd reads %s, want %s",
		   who, link, want);
	errno = 0;
	zdtm_check(!getcwd(cwd, sizeof(cwd)) && errno == ENOENT, "%s: getcwd: %s (%s)", who, strerror(errno), cwd);
	mode_t m = umask(want_umask);
	zdtm_check(m == want_umask, "%s: umask %03o, want %03o", who, m, want_umask);
}

static void *thread_u(void *arg)
{
	tid_u = zdtm_gettid();
	if (unshare(CLONE_FS) < 0 || chdir(dir_u) < 0)
		zdtm_fail("thread U: set up: %s", strerror(errno));
	umask(027);
	__atomic_fetch_add(&up, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&step, __ATOMIC_SEQ_CST) != 1)
		usleep(10000);
	check_own_cwd("thread U", dir_u, 027);
	zdtm_check(stat(".", &st_u) == 0 && S_ISDIR(st_u.st_mode) && st_u.st_nlink == 0,
		   "thread U: \".\" is not a removed directory (%lu links)", (unsigned long)st_u.st_nlink);
	zdtm_check(chmod(".", 0750) == 0, "thread U: chmod .: %m");
	int d = open(".", O_RDONLY | O_DIRECTORY);
	zdtm_check(d >= 0, "thread U: open .: %m");
	close(d);
	__atomic_store_n(&step, 2, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&step, __ATOMIC_SEQ_CST) != 4)	/* its cwd is all that keeps the directory */
		usleep(10000);
	return NULL;
}

static void *thread_v(void *arg)
{
	int dfd = *(int *)arg;
	tid_v = zdtm_gettid();
	if (unshare(CLONE_FS) < 0 || chdir(dir_v) < 0)
		zdtm_fail("thread V: set up: %s", strerror(errno));
	umask(077);
	__atomic_fetch_add(&up, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&step, __ATOMIC_SEQ_CST) != 2)
		usleep(10000);
	check_own_cwd("thread V", dir_v, 077);
	struct stat a, b;
	zdtm_check(stat(".", &a) == 0 && fstat(dfd, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev &&
		   a.st_nlink == 0, "thread V: \".\" (inode %lu) and the descriptor (inode %lu) are not one removed "
		   "directory", (unsigned long)a.st_ino, (unsigned long)b.st_ino);
	__atomic_store_n(&step, 3, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&step, __ATOMIC_SEQ_CST) != 4)
		usleep(10000);
	return NULL;
}

/* The inode of watch wd (inotify) or of the first inode mark (fanotify) in fd's fdinfo; 0 if none. */
static unsigned long long watched_ino(int fd, const char *key, int nth)
{
	char path[64], text[8192];
	unsigned long long ino = 0;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (zdtm_read_file(path, text, sizeof(text)) < 0)
		return 0;
	char *p = text;
	for (int i = 0; i <= nth && p; i++)
		if ((p = strstr(p, key)))
			p += strlen(key);
	return p && sscanf(p, "%llx", &ino) == 1 ? ino : 0;
}

static int inotify_event(int fd, int wd, uint32_t mask)
{
	char buf[4096];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int found = 0;
	while (!found && poll(&p, 1, 3000) == 1) {
		ssize_t n = read(fd, buf, sizeof(buf));
		for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= n;) {
			struct inotify_event *ev = (void *)(buf + off);
			found |= ev->wd == wd && (ev->mask & mask);
			off += sizeof(*ev) + ev->len;
		}
	}
	return found;
}

/* A fanotify event with mask whose descriptor is inode ino. */
static int fanotify_event(uint64_t mask, ino_t ino)
{
	char buf[4096] __attribute__((aligned(8)));
	struct pollfd p = { .fd = fa, .events = POLLIN };
	int found = 0;
	while (!found && poll(&p, 1, 3000) == 1) {
		ssize_t n = read(fa, buf, sizeof(buf));
		for (struct fanotify_event_metadata *m = (void *)buf; n > 0 && FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
			struct stat st;
			found |= (m->mask & mask) && m->fd >= 0 && fstat(m->fd, &st) == 0 && st.st_ino == ino;
			if (m->fd >= 0)
				close(m->fd);
		}
	}
	return found;
}

static void drain(int fd)
{
	char buf[4096];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

int main(void)
{
	pthread_t u, v;
	zdtm_init("ghost_watch");
	zdtm_path(dir_u, sizeof(dir_u), "u");
	zdtm_path(dir_v, sizeof(dir_v), "v");
	zdtm_path(file_m, sizeof(file_m), "mapped");
	char pattern[MAP_LEN];
	zdtm_fill(pattern, sizeof(pattern), 7);
	int mfd = open(file_m, O_RDWR | O_CREAT | O_EXCL, 0640);
	if (mkdir(dir_u, 0700) < 0 || mkdir(dir_v, 0700) < 0 || mfd < 0 || write(mfd, pattern, MAP_LEN) != MAP_LEN)
		zdtm_skip("set up: %m");
	char *map = mmap(NULL, MAP_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	int in = inotify_init1(IN_NONBLOCK);
	fa = (int)syscall(SYS_fanotify_init, FAN_CLASS_NOTIF | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE);
	if (map == MAP_FAILED || in < 0 || fa < 0)
		zdtm_skip("mmap, inotify_init1, fanotify_init: %m");
	close(mfd);
	int w1 = inotify_add_watch(in, dir_u, IN_ATTRIB), w2 = inotify_add_watch(in, file_m, IN_ATTRIB | IN_MODIFY);
	if (w1 != 1 || w2 != 2 ||
	    syscall(SYS_fanotify_mark, fa, FAN_MARK_ADD, FAN_OPEN | FAN_ONDIR, AT_FDCWD, dir_u) < 0 ||
	    syscall(SYS_fanotify_mark, fa, FAN_MARK_ADD, FAN_MODIFY, AT_FDCWD, file_m) < 0)
		zdtm_skip("watches and marks: %m");
	int dfd = open(dir_v, O_RDONLY | O_DIRECTORY);
	if (dfd < 0 || pthread_create(&u, NULL, thread_u, NULL) || pthread_create(&v, NULL, thread_v, &dfd))
		zdtm_skip("threads: %m");
	while (__atomic_load_n(&up, __ATOMIC_SEQ_CST) != 2)
		usleep(10000);
	if (rmdir(dir_u) < 0 || rmdir(dir_v) < 0 || unlink(file_m) < 0)
		zdtm_skip("remove: %m");
	drain(in);
	drain(fa);
	zdtm_ready();
	zdtm_wait_sigterm();

	char mapped[64];
	struct stat st_m;
	snprintf(mapped, sizeof(mapped), "/proc/self/map_files/%lx-%lx", (unsigned long)map, (unsigned long)map + MAP_LEN);
	zdtm_check(!memcmp(map, pattern, MAP_LEN), "the removed file's mapping lost its bytes");
	zdtm_check(stat(mapped, &st_m) == 0 && st_m.st_nlink == 0 && st_m.st_size == MAP_LEN,
		   "the mapped file is not a removed file of %d bytes (%lu links)", MAP_LEN, (unsigned long)st_m.st_nlink);
	drain(in);
	drain(fa);
	__atomic_store_n(&step, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 1000 && __atomic_load_n(&step, __ATOMIC_SEQ_CST) != 3; i++)
		usleep(10000);
	zdtm_check(step == 3, "the threads did not finish their checks (step %d)", step);
	zdtm_check(watched_ino(in, "inotify wd:1 ino:", 0) == st_u.st_ino, "wd 1 is on inode %llx, thread U's cwd is %lx",
		   watched_ino(in, "inotify wd:1 ino:", 0), (unsigned long)st_u.st_ino);
	zdtm_check(watched_ino(in, "inotify wd:2 ino:", 0) == st_m.st_ino, "wd 2 is on inode %llx, the mapping's is %lx",
		   watched_ino(in, "inotify wd:2 ino:", 0), (unsigned long)st_m.st_ino);
	unsigned long long m0 = watched_ino(fa, "fanotify ino:", 0), m1 = watched_ino(fa, "fanotify ino:", 1);
	zdtm_check((m0 == st_u.st_ino && m1 == st_m.st_ino) || (m1 == st_u.st_ino && m0 == st_m.st_ino),
		   "fanotify marks on inodes %llx and %llx, want %lx and %lx", m0, m1, (unsigned long)st_u.st_ino,
		   (unsigned long)st_m.st_ino);
	zdtm_check(inotify_event(in, 1, IN_ATTRIB), "no IN_ATTRIB on wd 1 after a chmod of thread U's cwd");
	zdtm_check(fanotify_event(FAN_OPEN, st_u.st_ino), "no FAN_OPEN on thread U's cwd after opening it");
	int wfd = open(mapped, O_WRONLY);
	zdtm_check(wfd >= 0 && pwrite(wfd, "x", 1, 0) == 1, "write through %s: %m", mapped);
	zdtm_check(fanotify_event(FAN_MODIFY, st_m.st_ino), "no FAN_MODIFY on the mapped file after a write");
	zdtm_check(inotify_event(in, 2, IN_MODIFY), "no IN_MODIFY on wd 2 after a write to the mapped file");
	zdtm_check(map[0] == 'x', "the mapping does not see a write to its file");
	zdtm_check(fchmod(wfd, 0600) == 0 && inotify_event(in, 2, IN_ATTRIB), "no IN_ATTRIB on wd 2 after a chmod");
	__atomic_store_n(&step, 4, __ATOMIC_SEQ_CST);
	pthread_join(u, NULL);
	pthread_join(v, NULL);
	zdtm_exit();
}
