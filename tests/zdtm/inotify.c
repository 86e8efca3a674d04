// SPDX-License-Identifier: Apache-2.0
// inotify: watches on a directory (IN_CREATE|IN_DELETE, wd 1), a removed watch leaving a gap (wd 2), a file
// (IN_MODIFY|IN_ONESHOT, wd 3) and a second directory (IN_EXCL_UNLINK|IN_MOVED_TO, wd 4), on a non-blocking
// instance. After restore fdinfo lists the same wds and masks, and events come with the same wds.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

static int in, wd_dir, wd_file, wd_dir2, fl;
static char dir[PATH_MAX], dir2[PATH_MAX], file[PATH_MAX], watches[1024];

/* "wd:mask" of each watch from fdinfo, by wd. */
static void list_watches(char *out, size_t size)
{
	char path[64], text[4096], w[16][32] = { { 0 } };
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", in);
	out[0] = 0;
	if (zdtm_read_file(path, text, sizeof(text)) < 0)
		return;
	for (char *p = text; (p = strstr(p, "inotify wd:")); p++) {
		unsigned wd, mask;
		if (sscanf(p, "inotify wd:%x ino:%*x sdev:%*x mask:%x", &wd, &mask) == 2 && wd < 16)
			snprintf(w[wd], sizeof(w[wd]), "%u:%x ", wd, mask);
	}
	size_t len = 0;
	for (int i = 0; i < 16; i++)
		len += snprintf(out + len, size - len, "%s", w[i]);
}

static void setup(void)
{
	zdtm_path(dir, sizeof(dir), "watched");
	zdtm_path(dir2, sizeof(dir2), "watched2");
	zdtm_path(file, sizeof(file), "file.txt");
	mkdir(dir, 0755);
	mkdir(dir2, 0755);
	close(open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644));
	in = inotify_init1(IN_NONBLOCK);
	wd_dir = inotify_add_watch(in, dir, IN_CREATE | IN_DELETE);
	int gap = inotify_add_watch(in, zdtm_dir(), IN_ATTRIB);
	wd_file = inotify_add_watch(in, file, IN_MODIFY | IN_ONESHOT);
	inotify_rm_watch(in, gap);
	wd_dir2 = inotify_add_watch(in, dir2, IN_MOVED_TO | IN_EXCL_UNLINK);
	if (in < 0 || wd_dir != 1 || gap != 2 || wd_file != 3 || wd_dir2 != 4)
		zdtm_skip("inotify setup: fd %d, wds %d %d %d %d", in, wd_dir, gap, wd_file, wd_dir2);
	char buf[4096];
	while (read(in, buf, sizeof(buf)) > 0)	/* the IN_IGNORED of the removed watch */
		;
	fl = fcntl(in, F_GETFL);
	list_watches(watches, sizeof(watches));
}

/* Takes the next event (reading, waiting up to 2 s, when none is buffered); NULL if none came. */
static struct inotify_event *next_event(void)
{
	static char buf[4096] __attribute__((aligned(8)));
	static ssize_t len, off;
	for (int i = 0; i < 200 && off >= len; i++) {
		off = 0;
		len = read(in, buf, sizeof(buf));
		if (len < 0 && errno != EAGAIN)
			break;
		if (len < 0)
			usleep(10000);
	}
	if (off >= len)
		return NULL;
	struct inotify_event *ev = (void *)(buf + off);
	off += sizeof(*ev) + ev->len;
	return ev;
}

/* Checks the next event's wd, mask and name. */
static void expect(int wd, uint32_t mask, const char *name)
{
	struct inotify_event *ev = next_event();
	if (!ev) {
		zdtm_fail("no event %#x for wd %d (%s): %m", mask, wd, name ? name : "");
		return;
	}
	zdtm_check(ev->wd == wd && ev->mask == mask, "event wd %d mask %#x, want wd %d mask %#x", ev->wd, ev->mask,
		   wd, mask);
	if (name)
		zdtm_check(ev->len && !strcmp(ev->name, name), "event name '%s', want '%s'", ev->len ? ev->name : "",
			   name);
}

static void verify(void)
{
	char now[1024], path[PATH_MAX + 16];
	list_watches(now, sizeof(now));
	zdtm_check(!strcmp(now, watches), "watches [%s], want [%s]", now, watches);
	zdtm_check(fcntl(in, F_GETFL) == fl, "flags %#o, want %#o", fcntl(in, F_GETFL), fl);
	char buf[256];
	zdtm_check(read(in, buf, sizeof(buf)) < 0 && errno == EAGAIN, "events queued right after restore");

	snprintf(path, sizeof(path), "%s/new-file", dir);
	close(open(path, O_WRONLY | O_CREAT, 0644));
	expect(wd_dir, IN_CREATE, "new-file");
	unlink(path);
	expect(wd_dir, IN_DELETE, "new-file");

	int fd = open(file, O_WRONLY | O_APPEND);
	zdtm_check(write(fd, "x", 1) == 1, "write: %m");
	expect(wd_file, IN_MODIFY, NULL);
	expect(wd_file, IN_IGNORED, NULL);	/* one-shot: removed after its event */
	zdtm_check(write(fd, "y", 1) == 1, "write: %m");
	close(fd);
	zdtm_check(read(in, buf, sizeof(buf)) < 0 && errno == EAGAIN, "one-shot watch fired twice");

	snprintf(path, sizeof(path), "%s/moved", dir2);
	char from[PATH_MAX + 16];
	snprintf(from, sizeof(from), "%s/tmp-moved", zdtm_dir());
	close(open(from, O_WRONLY | O_CREAT, 0644));
	zdtm_check(rename(from, path) == 0, "rename: %m");
	expect(wd_dir2, IN_MOVED_TO, "moved");
	unlink(path);

	int wd = inotify_add_watch(in, zdtm_dir(), IN_ATTRIB);
	zdtm_check(wd > wd_dir2, "a new watch got wd %d, not above the restored ones", wd);
}

int main(void)
{
	zdtm_init("inotify");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	verify();
	zdtm_exit();
}
