// SPDX-License-Identifier: Apache-2.0
// inotify watches whose watched name is gone: wd 1 on a file deleted since but still open in the task
// (the watch lives on its inode), wd 2 on a file whose name was removed while a hard link in a
// subdirectory keeps it (found by scanning the --irmap-scan-path directory, given in dump.opts),
// wd 3 on a plain file. After restore fdinfo lists wds 1-3 with their masks, a write through the
// deleted file's descriptor brings IN_MODIFY on wd 1, a chmod of the hard link IN_ATTRIB on wd 2, and
// a write to the plain file IN_MODIFY on wd 3.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

static char path_del[256], path_b[256], path_link[256], path_plain[256];

/* The "inotify wd:" lines of fd's fdinfo, wd and mask only. */
static void watches(int fd, char *out, size_t size)
{
	char path[64], text[8192];
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	out[0] = 0;
	if (zdtm_read_file(path, text, sizeof(text)) < 0)
		return;
	for (char *p = text; (p = strstr(p, "inotify wd:")); p++) {
		unsigned wd, mask;
		char line[64];
		if (sscanf(p, "inotify wd:%x ino:%*x sdev:%*x mask:%x", &wd, &mask) == 2) {
			snprintf(line, sizeof(line), "%u:%x;", wd, mask);
			strncat(out, line, size - strlen(out) - 1);
		}
	}
}

/* Waits for an event on wd with mask bits; drains the rest. */
static int event(int fd, int wd, uint32_t mask)
{
	char buf[4096];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int found = 0;
	while (!found && poll(&p, 1, 3000) == 1) {
		ssize_t n = read(fd, buf, sizeof(buf));
		for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= n;) {
			struct inotify_event *ev = (void *)(buf + off);
			if (ev->wd == wd && (ev->mask & mask))
				found = 1;
			off += sizeof(*ev) + ev->len;
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
	char sub[256], before[512], after[512], opts[300];
	zdtm_init("inotify_irmap");
	snprintf(path_del, sizeof(path_del), "%s/deleted", zdtm_dir());
	snprintf(path_b, sizeof(path_b), "%s/linked", zdtm_dir());
	snprintf(sub, sizeof(sub), "%s/sub", zdtm_dir());
	snprintf(path_link, sizeof(path_link), "%s/sub/other-name", zdtm_dir());
	snprintf(path_plain, sizeof(path_plain), "%s/plain", zdtm_dir());
	mkdir(sub, 0755);
	int fdel = open(path_del, O_CREAT | O_RDWR, 0644), fb = open(path_b, O_CREAT | O_RDWR, 0644);
	int fplain = open(path_plain, O_CREAT | O_RDWR, 0644);
	int in = inotify_init1(IN_NONBLOCK);
	if (fdel < 0 || fb < 0 || fplain < 0 || in < 0 || link(path_b, path_link) < 0)
		zdtm_skip("setup: %m");
	close(fb);
	int w1 = inotify_add_watch(in, path_del, IN_MODIFY | IN_ATTRIB);
	int w2 = inotify_add_watch(in, path_b, IN_ATTRIB | IN_DELETE_SELF);
	int w3 = inotify_add_watch(in, path_plain, IN_MODIFY);
	if (w1 != 1 || w2 != 2 || w3 != 3 || unlink(path_del) < 0 || unlink(path_b) < 0)
		zdtm_skip("watches: %m");
	drain(in);
	watches(in, before, sizeof(before));
	snprintf(opts, sizeof(opts), "%s/dump.opts", zdtm_dir());
	FILE *f = fopen(opts, "w");
	if (!f || fprintf(f, "--irmap-scan-path %s\n", sub) < 0 || fclose(f) != 0)
		zdtm_skip("dump.opts: %m");
	zdtm_ready();
	zdtm_wait_sigterm();

	watches(in, after, sizeof(after));
	zdtm_check(!strcmp(before, after) && !strcmp(before, "3:2;2:404;1:6;"), "watches %s, were %s", after, before);
	drain(in);
	zdtm_check(write(fdel, "x", 1) == 1 && event(in, 1, IN_MODIFY), "no IN_MODIFY on the deleted file's watch");
	zdtm_check(chmod(path_link, 0600) == 0 && event(in, 2, IN_ATTRIB), "no IN_ATTRIB on the hard link's watch");
	zdtm_check(write(fplain, "x", 1) == 1 && event(in, 3, IN_MODIFY), "no IN_MODIFY on the plain file's watch");
	struct stat st;
	zdtm_check(fstat(fdel, &st) == 0 && st.st_nlink == 0, "the deleted file has %lu links", (unsigned long)st.st_nlink);
	zdtm_exit();
}
