// SPDX-License-Identifier: Apache-2.0
// Files made with O_TMPFILE, which never had a name, on ext4 and tmpfs: one read-write with content
// and mode 0640, one write-only and append-only at an offset, one also opened a second time through
// /proc/self/fd (two descriptions of one inode). After restore each is still unnamed in the same
// directory ("DIR/#INODE (deleted)" with its new inode number), with the same fdinfo flags (O_TMPFILE
// included), offset, mode, owner and content; the two descriptions are one inode; and the file can be
// linked into the directory with linkat(), giving it a name that holds the content. A fourth one was
// linked to a name before the dump and stays open: after restore it is that very inode (same number,
// so the same "#INODE (deleted)" name), the one fdinfo difference being that the flags cannot show
// O_TMPFILE any more (only an open with O_TMPFILE sets it, and that makes a new inode).
#include "fdview.h"

#include <errno.h>
#include <stdlib.h>

struct tf {
	int fd, again;
	int flags;
	char dir[PATH_MAX];
	struct fd_view v, va;
};
static struct tf tfs[6];
static int ntf;
#define SIZE 5000

static int setup(const char *dir, int flags, int again)
{
	static char buf[SIZE];
	struct tf *t = &tfs[ntf];
	snprintf(t->dir, sizeof(t->dir), "%s", dir);
	t->flags = flags;
	t->fd = open(dir, flags | O_TMPFILE, 0640);
	if (t->fd < 0)
		return -1;
	zdtm_fill(buf, SIZE, ntf);
	if (pwrite(t->fd, buf, SIZE, 0) != SIZE)
		return -1;
	if (fchown(t->fd, 321, 654) < 0)
		return -1;
	lseek(t->fd, 33 + ntf, SEEK_SET);
	t->again = -1;
	if (again) {
		char p[64];
		snprintf(p, sizeof(p), "/proc/self/fd/%d", t->fd);
		if ((t->again = open(p, O_RDONLY)) < 0)
			return -1;
		lseek(t->again, 44, SEEK_SET);
		fd_view(t->again, &t->va);
	}
	fd_view(t->fd, &t->v);
	ntf++;
	return 0;
}

static void verify(struct tf *t)
{
	static char buf[SIZE], want[SIZE];
	char link[PATH_MAX + 32], p[64], name[PATH_MAX + 16];
	struct stat st;
	fstat(t->fd, &st);
	snprintf(link, sizeof(link), "%s/#%lu (deleted)", t->dir, (unsigned long)st.st_ino);
	snprintf(t->v.link, sizeof(t->v.link), "%s", link);	/* a new inode number: that is all that differs */
	fd_view_check(t->dir, t->fd, &t->v, VIEW_SIZE);
	zdtm_check(strtoul(t->v.flags, NULL, 8) & 020000000, "%s: flags %s lack O_TMPFILE", t->dir, t->v.flags);
	if (t->again >= 0) {
		struct stat sa;
		snprintf(t->va.link, sizeof(t->va.link), "%s", link);
		fd_view_check("the second description", t->again, &t->va, VIEW_SIZE);
		zdtm_check(fstat(t->again, &sa) == 0 && sa.st_ino == st.st_ino, "%s: two inodes", t->dir);
	}
	zdtm_fill(want, SIZE, (int)(t - tfs));
	snprintf(p, sizeof(p), "/proc/self/fd/%d", t->fd);
	snprintf(name, sizeof(name), "%s/linked-%d", t->dir, (int)(t - tfs));
	zdtm_check(linkat(AT_FDCWD, p, AT_FDCWD, name, AT_SYMLINK_FOLLOW) == 0, "%s: linkat: %m", t->dir);
	int r = open(name, O_RDONLY);
	zdtm_check(r >= 0 && read(r, buf, SIZE) == SIZE && !memcmp(buf, want, SIZE), "%s: linked file's content differs",
		   name);
	close(r);
	unlink(name);
}

static int linked_fd = -1;
static struct fd_view linked_v;
static char linked_name[PATH_MAX];

static int setup_linked(const char *dir)
{
	char p[64];
	linked_fd = open(dir, O_RDWR | O_TMPFILE, 0600);
	snprintf(p, sizeof(p), "/proc/self/fd/%d", linked_fd);
	snprintf(linked_name, sizeof(linked_name), "%s/named-tmpfile", dir);
	if (linked_fd < 0 || write(linked_fd, "named", 5) != 5 || linkat(AT_FDCWD, p, AT_FDCWD, linked_name, AT_SYMLINK_FOLLOW) < 0)
		return -1;
	fd_view(linked_fd, &linked_v);
	return 0;
}

static void verify_linked(void)
{
	struct stat st;
	struct fd_view now;
	unsigned long mask = ~(020000000UL | O_DIRECTORY);
	fd_view(linked_fd, &now);
	zdtm_check((strtoul(now.flags, NULL, 8) & mask) == (strtoul(linked_v.flags, NULL, 8) & mask),
		   "linked O_TMPFILE file: flags %s, were %s", now.flags, linked_v.flags);
	strcpy(linked_v.flags, now.flags);	/* checked above, O_TMPFILE aside */
	fd_view_check("linked O_TMPFILE file", linked_fd, &linked_v, VIEW_INODE | VIEW_SIZE);
	zdtm_check(stat(linked_name, &st) == 0 && st.st_ino == linked_v.st.st_ino, "%s: not the file's inode", linked_name);
}

int main(void)
{
	char shm[PATH_MAX];
	zdtm_init("tmpfile");
	const char *dirs[2] = { zdtm_dir(), tmpfs_dir(shm, sizeof(shm), "tmpfile") };
	for (int d = 0; d < 2; d++) {
		if (!dirs[d])
			continue;
		if (setup(dirs[d], O_RDWR, 0) < 0 || setup(dirs[d], O_WRONLY | O_APPEND, 0) < 0 ||
		    setup(dirs[d], O_RDWR, 1) < 0)
			zdtm_skip("O_TMPFILE in %s: %m", dirs[d]);
	}
	if (setup_linked(zdtm_dir()) < 0)
		zdtm_skip("linked O_TMPFILE: %m");
	zdtm_ready();
	zdtm_wait_sigterm();
	for (int i = 0; i < ntf; i++)
		verify(&tfs[i]);
	verify_linked();
	if (dirs[1])
		rmdir(dirs[1]);
	zdtm_exit();
}
