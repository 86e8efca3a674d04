// SPDX-License-Identifier: Apache-2.0
// fanotify: a notification group (FAN_NONBLOCK | FAN_UNLIMITED_QUEUE, events O_RDONLY|O_LARGEFILE)
// with a mark on a file (FAN_OPEN | FAN_MODIFY | FAN_CLOSE), a mark on the mount holding the test
// directory (FAN_OPEN | FAN_ONDIR, and an ignore mask FAN_MODIFY | FAN_ACCESS that survives
// modification), and one on a filesystem (/proc, FAN_CLOSE_WRITE); a second group reporting file ids
// (FAN_REPORT_FID) with an evictable mark on the test directory and a FAN_MARK_IGNORE mark; a third
// group with a mark on a file deleted since, which the task keeps open. After restore fdinfo shows
// the same groups and marks (flags, event flags, each mark's flags and masks, the marked inodes),
// opening the marked file brings an event whose descriptor is that file, and writing the deleted
// file brings FAN_MODIFY in the third group.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fanotify.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef FAN_MARK_EVICTABLE
#define FAN_MARK_EVICTABLE 0x00000200
#endif
#ifndef FAN_MARK_IGNORE_SURV
#define FAN_MARK_IGNORE_SURV 0x00000440
#endif

/* The group's fdinfo without what legitimately changes (pos, mnt_id, ino, sdev, mnt_id of marks). */
static void marks(int fd, char *out, size_t size)
{
	char path[64], text[8192];
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	out[0] = 0;
	if (zdtm_read_file(path, text, sizeof(text)) < 0)
		return;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "fanotify ", 9) != 0 && strncmp(line, "flags:", 6) != 0)
			continue;
		char *p = strstr(line, "mflags:");
		if (strncmp(line, "fanotify ino:", 13) == 0) {	/* keep ino: the file is the same inode */
			char *sdev = strstr(line, " sdev:");
			if (sdev && p)
				memmove(sdev, p - 1, strlen(p - 1) + 1);
		} else if (p && strncmp(line, "fanotify flags:", 15) != 0) {
			memmove(line + 9, p, strlen(p) + 1);
		}
		strncat(out, line, size - strlen(out) - 2);
		strcat(out, "\n");
	}
}

static int mark(int fd, unsigned flags, uint64_t mask, const char *path)
{
	return (int)syscall(SYS_fanotify_mark, fd, flags, mask, AT_FDCWD, path);
}

int main(void)
{
	char file[256], sub[256], before1[4096], before2[4096], after[4096];
	zdtm_init("fanotify");
	snprintf(file, sizeof(file), "%s/marked", zdtm_dir());
	snprintf(sub, sizeof(sub), "%s/sub", zdtm_dir());
	int keep = open(file, O_CREAT | O_RDWR, 0644);
	mkdir(sub, 0755);
	int g1 = (int)syscall(SYS_fanotify_init, FAN_CLASS_NOTIF | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE, O_RDONLY | O_LARGEFILE);
	int g2 = (int)syscall(SYS_fanotify_init, FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_REPORT_FID | FAN_NONBLOCK, O_RDONLY);
	if (keep < 0 || g1 < 0 || g2 < 0)
		zdtm_skip("fanotify_init: %m");
	if (mark(g1, FAN_MARK_ADD, FAN_OPEN | FAN_MODIFY | FAN_CLOSE, file) < 0 ||
	    mark(g1, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_OPEN | FAN_ONDIR, zdtm_dir()) < 0 ||
	    mark(g1, FAN_MARK_ADD | FAN_MARK_MOUNT | FAN_MARK_IGNORED_MASK | FAN_MARK_IGNORED_SURV_MODIFY,
		 FAN_MODIFY | FAN_ACCESS, zdtm_dir()) < 0 ||
	    mark(g1, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_CLOSE_WRITE, "/proc") < 0)
		zdtm_skip("fanotify_mark: %m");
	if (mark(g2, FAN_MARK_ADD | FAN_MARK_EVICTABLE, FAN_CREATE | FAN_ONDIR, sub) < 0 ||
	    mark(g2, FAN_MARK_ADD | FAN_MARK_IGNORE_SURV, FAN_OPEN | FAN_ONDIR, "/etc") < 0)
		zdtm_skip("fanotify_mark (FID group): %m");
	char gone[256];
	snprintf(gone, sizeof(gone), "%s/deleted", zdtm_dir());
	int fgone = open(gone, O_CREAT | O_RDWR, 0644);
	int g3 = (int)syscall(SYS_fanotify_init, FAN_CLASS_NOTIF | FAN_NONBLOCK, O_RDONLY);
	if (fgone < 0 || g3 < 0 || mark(g3, FAN_MARK_ADD, FAN_MODIFY, gone) < 0 || unlink(gone) < 0)
		zdtm_skip("a mark on a deleted file: %m");
	marks(g1, before1, sizeof(before1));
	marks(g2, before2, sizeof(before2));
	char buf[8192];
	while (read(g1, buf, sizeof(buf)) > 0 || read(g2, buf, sizeof(buf)) > 0)
		;
	zdtm_ready();
	while (read(g1, buf, sizeof(buf)) > 0 || read(g2, buf, sizeof(buf)) > 0)
		;	/* the ready file's own events are not the test's */
	zdtm_wait_sigterm();

	marks(g1, after, sizeof(after));
	zdtm_check(!strcmp(before1, after), "group 1 changed:\n%s--- now:\n%s", before1, after);
	marks(g2, after, sizeof(after));
	zdtm_check(!strcmp(before2, after), "group 2 changed:\n%s--- now:\n%s", before2, after);
	zdtm_check(fcntl(g2, F_GETFD) == FD_CLOEXEC && fcntl(g1, F_GETFD) == 0, "close-on-exec: %d %d",
		   fcntl(g1, F_GETFD), fcntl(g2, F_GETFD));
	while (read(g1, buf, sizeof(buf)) > 0)
		;
	int f = open(file, O_RDONLY), found = 0;
	ssize_t n = 0;
	/*
	 * The mount mark sees the whole system's opens too (some of which cannot be opened again for an
	 * event: read fails for those): look through what comes until the file's event.
	 */
	for (int i = 0; i < 1000 && !found; i++) {
		if ((n = read(g1, buf, sizeof(buf))) <= 0) {
			if (n < 0 && errno == EAGAIN)
				usleep(10000);
			continue;
		}
		for (struct fanotify_event_metadata *m = (void *)buf; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
			struct stat a, b;
			if (m->fd >= 0 && fstat(m->fd, &a) == 0 && fstat(keep, &b) == 0 && a.st_ino == b.st_ino &&
			    (m->mask & FAN_OPEN))
				found = 1;
			if (m->fd >= 0)
				close(m->fd);
		}
	}
	zdtm_check(f >= 0 && found, "no FAN_OPEN event for the marked file after restore (read %zd)", n);
	marks(g3, after, sizeof(after));
	zdtm_check(strstr(after, "mflags:0 mask:2 ignored_mask:0") != NULL, "the deleted file's mark: %s", after);
	zdtm_check(write(fgone, "x", 1) == 1, "write: %m");
	n = read(g3, buf, sizeof(buf));
	struct fanotify_event_metadata *m = (void *)buf;
	zdtm_check(n > 0 && FAN_EVENT_OK(m, n) && (m->mask & FAN_MODIFY), "no FAN_MODIFY for the deleted file (%zd)", n);
	zdtm_exit();
}
