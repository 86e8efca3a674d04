// SPDX-License-Identifier: Apache-2.0
// Removed names of inodes that still have, or had, other names. After restore each descriptor is the
// same inode as before, never a copy (a write through one is read through the other), under the name
// it had, still shown removed:
//   kept:     opened as A, linked as A.link beside it, A removed: the fd is A.link's inode;
//   both:     one inode opened twice, as B1 and B2 (two descriptions), both names removed: one inode;
//   replaced: opened as C, C removed and a new file made at C: the fd is still "C (deleted)", the
//             new C is untouched (same inode, content);
//   relinked: opened as D, linked as D.2, D removed, D.2 renamed to D: the fd says "D (deleted)" and
//             is the very inode that D names now;
//   both+new: opened as E, linked as E.k, E removed, a new file made at E;
//   in a removed directory: G/g opened, then g and G removed (G also held open): "G/g (deleted)",
//             and neither G nor G/g exists again afterwards.
#include "fdview.h"

#include <errno.h>
#include <stdlib.h>

enum { KEPT, BOTH1, BOTH2, REPLACED, RELINKED, NEWKEPT, INDIR, DIR, NFD };
static int fd[NFD];
static struct fd_view view[NFD];
static char name[NFD][PATH_MAX], other[NFD][PATH_MAX];
static struct stat other_st[NFD];

static int make(const char *path, const char *content)
{
	int f = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (f < 0 || write(f, content, strlen(content)) != (ssize_t)strlen(content))
		return -1;
	return f;
}

static void path_of(int i, const char *base, const char *suffix)
{
	char b[64];
	snprintf(b, sizeof(b), "%s%s", base, suffix);
	zdtm_path(suffix[0] ? other[i] : name[i], PATH_MAX, b);
}

static int setup(void)
{
	path_of(KEPT, "A", ""); path_of(KEPT, "A", ".link");
	if ((fd[KEPT] = make(name[KEPT], "kept")) < 0 || link(name[KEPT], other[KEPT]) < 0 || unlink(name[KEPT]) < 0)
		return -1;
	path_of(BOTH1, "B1", ""); path_of(BOTH2, "B2", "");
	if ((fd[BOTH1] = make(name[BOTH1], "both")) < 0 || link(name[BOTH1], name[BOTH2]) < 0 ||
	    (fd[BOTH2] = open(name[BOTH2], O_RDWR)) < 0 || unlink(name[BOTH1]) < 0 || unlink(name[BOTH2]) < 0)
		return -1;
	path_of(REPLACED, "C", "");
	int n;
	if ((fd[REPLACED] = make(name[REPLACED], "old C")) < 0 || unlink(name[REPLACED]) < 0 ||
	    (n = make(name[REPLACED], "the new C")) < 0)
		return -1;
	close(n);
	strcpy(other[REPLACED], name[REPLACED]);	/* the new file, left alone */
	path_of(RELINKED, "D", ""); path_of(RELINKED, "D", ".2");
	if ((fd[RELINKED] = make(name[RELINKED], "relinked")) < 0 || link(name[RELINKED], other[RELINKED]) < 0 ||
	    unlink(name[RELINKED]) < 0 || rename(other[RELINKED], name[RELINKED]) < 0)
		return -1;
	strcpy(other[RELINKED], name[RELINKED]);
	path_of(NEWKEPT, "E", ""); path_of(NEWKEPT, "E", ".k");
	if ((fd[NEWKEPT] = make(name[NEWKEPT], "kept E")) < 0 || link(name[NEWKEPT], other[NEWKEPT]) < 0 ||
	    unlink(name[NEWKEPT]) < 0 || (n = make(name[NEWKEPT], "new E")) < 0)
		return -1;
	close(n);
	char gdir[PATH_MAX - 16];
	zdtm_path(gdir, sizeof(gdir), "G");
	snprintf(name[INDIR], PATH_MAX, "%s/g", gdir);
	strcpy(name[DIR], gdir);
	if (mkdir(gdir, 0750) < 0 || (fd[INDIR] = make(name[INDIR], "in G")) < 0 || (fd[DIR] = open(gdir, O_RDONLY)) < 0 ||
	    unlink(name[INDIR]) < 0 || rmdir(gdir) < 0)
		return -1;
	for (int i = 0; i < NFD; i++) {
		lseek(fd[i], i, SEEK_SET);
		fd_view(fd[i], &view[i]);
		if (other[i][0] && stat(other[i], &other_st[i]) < 0)
			return -1;
	}
	return 0;
}

/* A write through fd a is read through fd (or path) b. */
static void shared(const char *what, int a, int b, const char *path_b)
{
	char buf[16] = "";
	int rb = b >= 0 ? b : open(path_b, O_RDONLY);
	zdtm_check(pwrite(a, "X", 1, 0) == 1, "%s: write: %m", what);
	zdtm_check(rb >= 0 && pread(rb, buf, 1, 0) == 1 && buf[0] == 'X', "%s: a write is not seen through %s: two files",
		   what, path_b ? path_b : "the other descriptor");
	if (b < 0 && rb >= 0)
		close(rb);
}

static void verify(void)
{
	char buf[64];
	struct stat st;
	for (int i = 0; i < NFD; i++) {
		/* an inode with no name left is made again (another inode number); one still linked is itself */
		fd_view_check(name[i], fd[i], &view[i], VIEW_SIZE | (view[i].st.st_nlink ? VIEW_INODE : 0));
		zdtm_check(strstr(view[i].link, " (deleted)"), "%s: was not removed before the dump?", name[i]);
	}
	for (int i = 0; i < NFD; i++) {
		if (!other[i][0])
			continue;
		zdtm_check(stat(other[i], &st) == 0 && st.st_ino == other_st[i].st_ino && st.st_size == other_st[i].st_size &&
			   st.st_nlink == other_st[i].st_nlink, "%s: not the file it was (or its links changed)", other[i]);
	}
	zdtm_check(access(name[KEPT], F_OK) < 0 && access(name[BOTH1], F_OK) < 0 && access(name[BOTH2], F_OK) < 0 &&
		   access(name[DIR], F_OK) < 0, "a removed name exists again");
	char buf2[8];
	zdtm_check(pread(fd[INDIR], buf2, 4, 0) == 4 && !memcmp(buf2, "in G", 4), "G/g: content differs");
	int n = open(name[REPLACED], O_RDONLY);
	zdtm_check(n >= 0 && read(n, buf, sizeof(buf)) == 9 && !memcmp(buf, "the new C", 9), "the new C changed");
	close(n);
	shared("A", fd[KEPT], -1, other[KEPT]);
	shared("B1/B2", fd[BOTH1], fd[BOTH2], NULL);
	struct stat b1, b2;
	zdtm_check(fstat(fd[BOTH1], &b1) == 0 && fstat(fd[BOTH2], &b2) == 0 && b1.st_ino == b2.st_ino, "B1, B2: two inodes");
	shared("D", fd[RELINKED], -1, other[RELINKED]);
	shared("E", fd[NEWKEPT], -1, other[NEWKEPT]);
}

int main(void)
{
	zdtm_init("ghost_links");
	if (setup() < 0)
		zdtm_skip("set up: %m");
	zdtm_ready();
	zdtm_wait_sigterm();
	verify();
	zdtm_exit();
}
