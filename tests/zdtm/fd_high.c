// SPDX-License-Identifier: Apache-2.0
// A descriptor numbered above the limit of open files ferry itself runs with, in a process that has
// lowered its own limit below it since (self-checking: runs ferry on a child, since the runner's ferry
// has its own limits). Child C raises its soft limit to the hard one, places a file at fd hard-10,
// then sets its limit to 64/64; the test dumps C and restores it (-d) with ferry's soft limit of open
// files at 1024. After restore C has the file at that fd (same content), and its limits are 64/64. A
// restore under a hard limit below that fd fails first, saying so, and leaves no process behind.
#include "zdtm_refuse.h"

#include <sys/resource.h>

int main(void)
{
	zdtm_init("fd_high");
	zr_find_ferry();
	struct rlimit h;
	getrlimit(RLIMIT_NOFILE, &h);
	if (h.rlim_max < 2048 || h.rlim_max == RLIM_INFINITY)
		zdtm_skip("the hard limit of open files (%llu) leaves no room above 1024", (unsigned long long)h.rlim_max);
	int high = (int)(h.rlim_max > 100000 ? 100000 : h.rlim_max - 10);
	char path[4096];
	int fd = open(zdtm_path(path, sizeof(path), "data"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "high", 4) != 4)
		return 1;
	int pfd[2];
	if (pipe(pfd))
		return 1;
	pid_t c = fork();
	if (c == 0) {
		setsid();	/* restored by -d it is init's child: its zombie must not hold our session */
		struct rlimit up = { h.rlim_max, h.rlim_max }, low = { 64, 64 };
		if (setrlimit(RLIMIT_NOFILE, &up) || dup2(fd, high) != high || setrlimit(RLIMIT_NOFILE, &low))
			_exit(3);
		close(pfd[0]);
		if (write(pfd[1], "r", 1) != 1)
			_exit(4);
		for (;;)
			pause();
	}
	close(pfd[1]);
	char b;
	if (read(pfd[0], &b, 1) != 1)
		zdtm_skip("the child could not place fd %d", high);
	struct rlimit lowered = { 1024, h.rlim_max };
	setrlimit(RLIMIT_NOFILE, &lowered);	/* ferry's own soft limit, inherited */
	char img[PATH_MAX], spid[16];
	zdtm_path(img, sizeof(img), "img");
	mkdir(img, 0755);
	snprintf(spid, sizeof(spid), "%d", c);
	int rc = zr_run_ferry("dump.out", (char *[]){ zr_ferry, "dump", "-t", spid, "-D", img, NULL });
	zdtm_check(rc == 0, "ferry dump exited %d", rc);
	waitpid(c, NULL, 0);
	/* with a hard limit below that fd the restore must fail saying so, and leave nothing behind */
	fflush(NULL);
	pid_t low = fork();
	if (low == 0) {
		struct rlimit l = { 1024, 1024 };
		setrlimit(RLIMIT_NOFILE, &l);	/* only lowered: for this fork alone */
		_exit(zr_run_ferry("restore-low.out", (char *[]){ zr_ferry, "restore", "-D", img, "-d", NULL }));
	}
	int st = -1;
	waitpid(low, &st, 0);
	char out[4096] = "", outp[PATH_MAX];
	zdtm_read_file(zdtm_path(outp, sizeof(outp), "restore-low.out"), out, sizeof(out));
	zdtm_check(WIFEXITED(st) && WEXITSTATUS(st) == 1 && strstr(out, "above the hard limit of open files"),
		   "restore under a hard limit of 1024: status %#x: %s", st, out);
	zdtm_check(kill(c, 0) < 0, "pid %d lives after the failed restore", c);
	rc = zr_run_ferry("restore.out", (char *[]){ zr_ferry, "restore", "-D", img, "-d", NULL });
	zdtm_check(rc == 0, "ferry restore -d exited %d", rc);
	char fdpath[64], target[4096] = "";
	snprintf(fdpath, sizeof(fdpath), "/proc/%d/fd/%d", c, high);
	zdtm_check(zdtm_readlink(fdpath, target, sizeof(target)) > 0 && !strcmp(target, path), "fd %d is '%s'", high, target);
	struct rlimit now = { 0, 0 };
	zdtm_check(prlimit(c, RLIMIT_NOFILE, NULL, &now) == 0 && now.rlim_cur == 64 && now.rlim_max == 64,
		   "the child's limit of open files is %llu/%llu", (unsigned long long)now.rlim_cur,
		   (unsigned long long)now.rlim_max);
	kill(c, SIGKILL);	/* init's child now: reaped by init */
	setrlimit(RLIMIT_NOFILE, &h);
	zdtm_ready();
	zdtm_wait_sigterm();
	zdtm_exit();
}
