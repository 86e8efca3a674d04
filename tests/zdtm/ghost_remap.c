// SPDX-License-Identifier: Apache-2.0
// --link-remap (asked for in dump.opts): a file opened as sub1/f, linked as sub2/g in another directory,
// then sub1/f removed. Its inode still has a name, but not beside the removed one, so the dump links
// it to a hidden name beside sub1/f and the restore links it back. After restore the descriptor and a
// shared mapping of it are g's very inode (writes through each are seen through the other and through
// g), the descriptor shows "sub1/f (deleted)", and no hidden link is left anywhere.
#include "fdview.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#define SIZE 8192

static int hidden_left(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	while (d && (de = readdir(d)))
		n += !strncmp(de->d_name, ".ferry", 6);
	if (d)
		closedir(d);
	return n;
}

int main(void)
{
	char sub1[PATH_MAX], sub2[PATH_MAX], f[PATH_MAX + 8], g[PATH_MAX + 8], opts[PATH_MAX];
	static char buf[SIZE];
	struct fd_view v;
	struct stat gst;
	zdtm_init("ghost_remap");
	FILE *o = fopen(zdtm_path(opts, sizeof(opts), "dump.opts"), "w");
	if (!o || fputs("--link-remap\n", o) < 0 || fclose(o))
		zdtm_skip("write dump.opts: %m");
	zdtm_path(sub1, sizeof(sub1), "sub1");
	zdtm_path(sub2, sizeof(sub2), "sub2");
	snprintf(f, sizeof(f), "%s/f", sub1);
	snprintf(g, sizeof(g), "%s/g", sub2);
	zdtm_fill(buf, SIZE, 5);
	int fd = -1;
	if (mkdir(sub1, 0755) < 0 || mkdir(sub2, 0755) < 0 || (fd = open(f, O_RDWR | O_CREAT, 0600)) < 0 ||
	    write(fd, buf, SIZE) != SIZE || link(f, g) < 0 || unlink(f) < 0)
		zdtm_skip("set up: %m");
	char *map = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		zdtm_skip("mmap: %m");
	lseek(fd, 123, SEEK_SET);
	fd_view(fd, &v);
	stat(g, &gst);
	zdtm_ready();
	zdtm_wait_sigterm();

	fd_view_check(f, fd, &v, VIEW_INODE | VIEW_SIZE);
	zdtm_check(access(f, F_OK) < 0, "%s exists again", f);
	struct stat st;
	zdtm_check(stat(g, &st) == 0 && st.st_ino == gst.st_ino && st.st_nlink == 1, "%s: not the file it was", g);
	zdtm_check(!memcmp(map, buf, SIZE), "the mapping's content differs");
	map[10] = 'M';
	int gfd = open(g, O_RDWR);
	char c = 0;
	zdtm_check(gfd >= 0 && pread(gfd, &c, 1, 10) == 1 && c == 'M', "a write through the mapping is not in %s", g);
	zdtm_check(pwrite(gfd, "G", 1, 20) == 1 && map[20] == 'G', "a write through %s is not in the mapping", g);
	zdtm_check(pread(fd, &c, 1, 20) == 1 && c == 'G', "a write through %s is not seen through the descriptor", g);
	zdtm_check(!hidden_left(sub1) && !hidden_left(sub2) && !hidden_left(zdtm_dir()), "a hidden link is left behind");
	zdtm_exit();
}
