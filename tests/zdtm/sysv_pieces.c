// SPDX-License-Identifier: Apache-2.0
// SysV shared memory the task cut up: an attachment whose first pages it unmapped, whose middle it
// made read-only, with a hole it refilled with other memory; a second attachment read-only
// (SHM_RDONLY); the segment locked in memory (SHM_LOCK). After restore the layout and VmFlags are
// those of before, the read-only attachment still refuses mprotect(PROT_WRITE) while the reprotected
// piece may be made writable again, shmdt() at the original address detaches every piece, nattch
// and SHM_LOCKED are as they were, and the content is there.
#include "zdtm.h"
#include "memtest.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#define PG 4096UL
#define NP 16
static struct smaps before, after;

static int nattch(int id, int *locked)
{
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) < 0)
		return -1;
	*locked = !!(ds.shm_perm.mode & SHM_LOCKED);
	return (int)ds.shm_nattch;
}

int main(void)
{
	int locked0, locked1;
	zdtm_init("sysv_pieces");
	int id = shmget(IPC_PRIVATE, NP * PG, IPC_CREAT | 0600);
	if (id < 0)
		zdtm_skip("shmget: %m");
	char *a = shmat(id, NULL, 0), *ro = shmat(id, NULL, SHM_RDONLY);
	shmctl(id, IPC_RMID, NULL);
	if (a == (void *)-1 || ro == (void *)-1)
		return 2;
	for (unsigned long i = 0; i < NP; i++)
		memset(a + i * PG, (int)i + 1, PG);
	munmap(a, 2 * PG);
	mprotect(a + 4 * PG, 2 * PG, PROT_READ);
	munmap(a + 8 * PG, PG);
	char *other = mmap(a + 8 * PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (other == MAP_FAILED)
		return 2;
	memset(other, 0x77, PG);
	int locking = shmctl(id, SHM_LOCK, NULL) == 0;
	int n0 = nattch(id, &locked0);
	smaps_read(&before);
	zdtm_ready();
	zdtm_wait_sigterm();
	smaps_read(&after);
	smaps_compare("sysv", &before, &after);
	int n1 = nattch(id, &locked1);
	zdtm_check(n1 == n0, "nattch %d, was %d", n1, n0);
	zdtm_check(!locking || locked1 == locked0, "SHM_LOCKED %d, was %d", locked1, locked0);
	for (unsigned long i = 2; i < NP; i++)
		zdtm_check(i == 8 ? a[i * PG] == 0x77 : a[i * PG] == (char)(i + 1), "page %lu: %d", i, a[i * PG]);
	zdtm_check(ro[3 * PG] == 4, "the read-only attachment's content");
	zdtm_check(mprotect(ro, PG, PROT_READ | PROT_WRITE) < 0 && errno == EACCES, "SHM_RDONLY memory could be made writable");
	zdtm_check(mprotect(a + 4 * PG, 2 * PG, PROT_READ | PROT_WRITE) == 0, "the reprotected piece: %m");
	a[4 * PG] = 'w';
	zdtm_check(ro[4 * PG] == 'w', "the two attachments are not one segment");
	zdtm_check(shmdt(a) == 0, "shmdt at the attachment's address: %m");
	zdtm_check(smaps_read(&after) == 0 && !smaps_find(&after, (unsigned long)a + 2 * PG) &&
		   !smaps_find(&after, (unsigned long)a + 9 * PG) && smaps_find(&after, (unsigned long)other),
		   "shmdt did not detach every piece (or took the other mapping)");
	zdtm_exit();
}
