// SPDX-License-Identifier: Apache-2.0
// A 256 MiB SysV segment of which only 65 MiB were ever written. After restore: the same
// content, and no more resident pages than before (/proc/sysvipc/shm rss): untouched pages are
// not filled in by the restore.
#include "zdtm.h"

#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#define MiB (1UL << 20)
#define SZ (256 * MiB)

/* The segment's resident bytes, from /proc/sysvipc/shm; -1 if not found. */
static long long rss_of(int id)
{
	static char text[1 << 16];
	if (zdtm_read_file("/proc/sysvipc/shm", text, sizeof(text)) < 0)
		return -1;
	for (char *l = strchr(text, '\n'); l && *l; l = strchr(l + 1, '\n')) {
		int key, shmid;
		long long rss;
		if (sscanf(l + 1, "%d %d %*o %*u %*d %*d %*u %*u %*u %*u %*u %*u %*u %*u %lld", &key, &shmid, &rss) == 3 &&
		    shmid == id)
			return rss;
	}
	return -1;
}

int main(void)
{
	zdtm_init("sysv_shm_big");
	int id = shmget(IPC_PRIVATE, SZ, IPC_CREAT | 0600);
	char *p = id < 0 ? (char *)-1 : shmat(id, NULL, 0);
	if (p == (char *)-1)
		zdtm_skip("a %lu MiB SysV segment: %m", SZ >> 20);
	zdtm_fill(p, 64 * MiB, 11);
	zdtm_fill(p + 200 * MiB, MiB, 12);
	uint64_t h0 = zdtm_hash_add(zdtm_hash(p, 64 * MiB), p + 200 * MiB, MiB);
	long long rss0 = rss_of(id);
	zdtm_ready();
	zdtm_wait_sigterm();

	long long rss1 = rss_of(id);	/* before reading anything: a read would fault pages in */
	zdtm_check(rss1 >= 0 && rss1 == rss0, "segment %d: %lld bytes resident, %lld before", id, rss1, rss0);
	uint64_t h1 = zdtm_hash_add(zdtm_hash(p, 64 * MiB), p + 200 * MiB, MiB);
	zdtm_check(h1 == h0, "content differs");
	zdtm_check(p[150 * MiB] == 0 && p[SZ - 1] == 0, "an untouched page is not zero");
	struct shmid_ds ds;
	zdtm_check(shmctl(id, IPC_STAT, &ds) == 0 && ds.shm_segsz == SZ, "segment %d: size %zu", id, ds.shm_segsz);
	shmdt(p);
	shmctl(id, IPC_RMID, NULL);
	zdtm_exit();
}
