// SPDX-License-Identifier: Apache-2.0
// SysV shared memory in a tree: a keyed segment attached by the parent and inherited by the child,
// attached a second time read-only, and a private segment already marked for removal (IPC_RMID)
// while attached. After restore: same ids, content, and still shared both ways.
#include "zdtm.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#define SZ (256 << 10)

static volatile sig_atomic_t go;
static void on_term(int s) { go = 1; }

int main(void)
{
	zdtm_init("sysv_shm");
	key_t key = (key_t)(0x46520000 | (getpid() & 0xffff));
	int id1 = shmget(key, SZ, IPC_CREAT | IPC_EXCL | 0600);
	int id2 = shmget(IPC_PRIVATE, SZ, IPC_CREAT | 0600);
	if (id1 < 0 || id2 < 0) {
		printf("FAIL: shmget: %m\n");
		return 1;
	}
	char *a = shmat(id1, NULL, 0), *ro = shmat(id1, NULL, SHM_RDONLY), *b = shmat(id2, NULL, 0);
	shmctl(id2, IPC_RMID, NULL);	/* lives while attached */
	for (int i = 0; i < SZ; i += 512) {
		a[i] = (char)(i / 512);
		b[i] = (char)(i / 512 + 7);
	}
	pid_t child = fork();
	if (!child) {
		struct sigaction sa = { .sa_handler = on_term };
		sigaction(SIGTERM, &sa, NULL);
		while (!go)
			pause();
		int ok = a[SZ - 1] == 'P' && b[SZ - 1] == 'P' && ro[SZ - 1] == 'P';
		a[SZ - 2] = b[SZ - 2] = ok ? 'C' : 'X';
		_exit(ok ? 0 : 1);
	}
	zdtm_ready();
	zdtm_wait_sigterm();

	int bad = 0;
	for (int i = 0; i < SZ - 512; i += 512)
		bad += a[i] != (char)(i / 512) || b[i] != (char)(i / 512 + 7) || ro[i] != a[i];
	zdtm_check(!bad, "%d SysV shm bytes differ", bad);
	struct shmid_ds ds;
	zdtm_check(shmctl(id1, IPC_STAT, &ds) == 0 && ds.shm_perm.__key == key && ds.shm_segsz == SZ,
		   "segment %d is not the keyed one (key %#x)", id1, ds.shm_perm.__key);
	zdtm_check(shmctl(id2, IPC_STAT, &ds) == 0 && (ds.shm_perm.mode & SHM_DEST), "segment %d lost its removal mark", id2);
	a[SZ - 1] = b[SZ - 1] = 'P';
	kill(child, SIGTERM);
	int st;
	zdtm_check(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		   "child did not see the parent's writes (status %#x)", st);
	zdtm_check(a[SZ - 2] == 'C' && b[SZ - 2] == 'C', "parent does not see the child's writes");
	shmdt(a);
	shmdt(ro);
	shmdt(b);
	shmctl(id1, IPC_RMID, NULL);
	zdtm_exit();
}
