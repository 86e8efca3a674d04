// SPDX-License-Identifier: Apache-2.0
// The workload of tests/paths/run.sh: holds one kind of file by path, chosen by HOLD_MODE, and on
// SIGTERM checks it is still held as it was (zdtm protocol: PASS/FAIL on stdout).
//   big        a removed file of HOLD_SIZE bytes (default 2 MiB), data at both ends
//   elsewhere  sub1/f removed while sub2/g still links it (needs --link-remap)
//   file       "data" (or HOLD_FILE), 100 bytes, O_RDWR (O_WRONLY|O_APPEND with HOLD_APPEND=1: a log); after
//              restore: HOLD_EXPECT bytes (default 100), mode HOLD_PERM (default: as it was), and the inode "data"
//              names unless HOLD_SAME=0
//   cwd        its working directory is "wd"
//   mount      a file on a tmpfs mounted at "mnt", which is then lazily unmounted
//   deep       a file 5000 bytes of path below the test directory (more than PATH_MAX)
//   sockgone   an O_PATH descriptor of the file of its own unix listener "sk", removed since
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static const char *env(const char *k, const char *def) { const char *v = getenv(k); return v && *v ? v : def; }

int main(void)
{
	char p1[PATH_MAX], p2[PATH_MAX + 32], buf[100];
	const char *mode = env("HOLD_MODE", "file");
	struct stat st0, st;
	int fd = -1;
	zdtm_init("hold");
	memset(buf, 'h', sizeof(buf));
	if (!strcmp(mode, "big")) {
		off_t size = atoll(env("HOLD_SIZE", "2097152"));
		fd = open(zdtm_path(p1, sizeof(p1), "big"), O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd < 0 || pwrite(fd, buf, 100, 0) != 100 || pwrite(fd, buf, 100, size - 100) != 100 || unlink(p1) < 0)
			zdtm_skip("big: %m");
	} else if (!strcmp(mode, "elsewhere")) {
		char f[PATH_MAX + 8], g[PATH_MAX + 40];
		zdtm_path(p1, sizeof(p1), "sub1");
		zdtm_path(p2, sizeof(p2), "sub2");
		snprintf(f, sizeof(f), "%s/f", p1);
		snprintf(g, sizeof(g), "%s/g", p2);
		if (mkdir(p1, 0755) < 0 || mkdir(p2, 0755) < 0 || (fd = open(f, O_RDWR | O_CREAT, 0600)) < 0 ||
		    write(fd, buf, 100) != 100 || link(f, g) < 0 || unlink(f) < 0)
			zdtm_skip("elsewhere: %m");
	} else if (!strcmp(mode, "file")) {
		const char *name = env("HOLD_FILE", "data");
		if (name[0] == '/')
			snprintf(p1, sizeof(p1), "%s", name);
		else
			zdtm_path(p1, sizeof(p1), name);
		int append = !strcmp(env("HOLD_APPEND", "0"), "1");
		fd = open(p1, (append ? O_WRONLY | O_APPEND : O_RDWR) | O_CREAT | O_EXCL, 0644);
		if (fd < 0 || write(fd, buf, 100) != 100)
			zdtm_skip("file: %m");
	} else if (!strcmp(mode, "cwd")) {
		if (mkdir(zdtm_path(p1, sizeof(p1), "wd"), 0755) < 0 || chdir(p1) < 0)
			zdtm_skip("cwd: %m");
	} else if (!strcmp(mode, "mount")) {
		zdtm_path(p1, sizeof(p1), "mnt");
		snprintf(p2, sizeof(p2), "%s/f", p1);
		if (mkdir(p1, 0755) < 0 || mount("ferry-test", p1, "tmpfs", 0, "size=1m") < 0)
			zdtm_skip("mount tmpfs: %m");
		fd = open(p2, O_RDWR | O_CREAT, 0600);
		if (fd < 0 || write(fd, buf, 100) != 100 || umount2(p1, MNT_DETACH) < 0)
			zdtm_skip("mount: %m");
	} else if (!strcmp(mode, "deep")) {	/* a file 5000 bytes below the test directory */
		char comp[201];
		memset(comp, 'd', 200);
		comp[200] = 0;
		int dfd = open(zdtm_dir(), O_PATH | O_DIRECTORY);
		for (int i = 0; dfd >= 0 && i < 25; i++) {
			int next = mkdirat(dfd, comp, 0755) < 0 ? -1 : openat(dfd, comp, O_PATH | O_DIRECTORY);
			close(dfd);
			dfd = next;
		}
		if (dfd < 0 || (fd = openat(dfd, "deep", O_RDWR | O_CREAT, 0600)) < 0 || write(fd, buf, 100) != 100)
			zdtm_skip("deep: %m");
	} else if (!strcmp(mode, "sockgone")) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", zdtm_path(p1, sizeof(p1), "sk"));
		int sk = socket(AF_UNIX, SOCK_STREAM, 0);
		if (sk < 0 || bind(sk, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(sk, 1) < 0 ||
		    open(p1, O_PATH) < 0 || unlink(p1) < 0)
			zdtm_skip("sockgone: %m");
	} else {
		zdtm_skip("unknown HOLD_MODE %s", mode);
	}
	if (fd >= 0)
		fstat(fd, &st0);
	zdtm_ready();
	zdtm_wait_sigterm();
	if (fd >= 0) {
		mode_t want = getenv("HOLD_PERM") ? (st0.st_mode & ~07777u) | strtoul(getenv("HOLD_PERM"), NULL, 8) : st0.st_mode;
		zdtm_check(fstat(fd, &st) == 0 && st.st_mode == want, "mode %o, want %o", st.st_mode, want);
		char self[64];
		snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);	/* fd may be write-only */
		int rfd = open(self, O_RDONLY);
		zdtm_check(rfd >= 0 && pread(rfd, p2, 100, 0) == 100 && !memcmp(p2, buf, 100), "content differs");
		if (rfd >= 0)
			close(rfd);
	}
	if (!strcmp(mode, "file")) {
		struct stat now;
		zdtm_check(st.st_size == atoll(env("HOLD_EXPECT", "100")), "size %lld", (long long)st.st_size);
		if (strcmp(env("HOLD_SAME", "1"), "0"))
			zdtm_check(stat(p1, &now) == 0 && now.st_ino == st.st_ino, "not the file data names");
	}
	if (!strcmp(mode, "cwd"))
		zdtm_check(getcwd(p2, sizeof(p2)) && !strcmp(p2, p1), "cwd %s, want %s", p2, p1);
	zdtm_exit();
}
