// SPDX-License-Identifier: Apache-2.0
// Futexes shared between processes, keyed by the kernel on the memory object rather than the address
// space: a child waits (FUTEX_WAIT, not private) on a word in MAP_SHARED anonymous memory, a second
// child on a word in a MAP_SHARED file mapping, a third on a word of a memfd it mapped at another
// address than the parent, and a thread of the parent on a private futex of its own. After restore
// none has woken on its own, and a FUTEX_WAKE from the parent on its own mapping of each word reaches
// exactly the one waiter (wake returns 1), which then sees the new value.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define N 3

static long futex(volatile int *w, int op, int val)
{
	return syscall(SYS_futex, w, op, val, NULL, NULL, 0);
}

/* Waits until *w leaves 0; exits 0 if it became 7 and no wait ended early, else 1. */
static void waiter(volatile int *w, volatile int *started)
{
	__atomic_store_n(started, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(w, __ATOMIC_SEQ_CST) == 0) {
		long r = futex(w, FUTEX_WAIT, 0);
		if (r == 0 && __atomic_load_n(w, __ATOMIC_SEQ_CST) == 0)
			_exit(2);	/* woken without a wake */
		if (r < 0 && errno != EAGAIN && errno != EINTR)
			_exit(3);
	}
	_exit(*w == 7 ? 0 : 1);
}

static volatile int priv_word, priv_done;

static void *priv_waiter(void *arg)
{
	while (__atomic_load_n(&priv_word, __ATOMIC_SEQ_CST) == 0)
		futex(&priv_word, FUTEX_WAIT_PRIVATE, 0);
	priv_done = 1;
	return NULL;
}

int main(void)
{
	zdtm_init("futex_shared");
	char path[4096];
	volatile int *words[N], *started;
	started = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	words[0] = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int fd = open(zdtm_path(path, sizeof(path), "futex.file"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	int mfd = memfd_create("futex", 0);
	if (fd < 0 || mfd < 0 || ftruncate(fd, 8192) < 0 || ftruncate(mfd, 8192) < 0)
		return 1;
	words[1] = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	words[1] += 1024 + 5;	/* the second page, not at its start */
	words[2] = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	pid_t kids[N];
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			volatile int *w = words[i];
			if (i == 2) {	/* its own mapping of the memfd, elsewhere */
				munmap((void *)words[2], 8192);
				char *m = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
				w = (volatile int *)m;
			}
			waiter(w, &started[i]);
		}
	}
	pthread_t t;
	pthread_create(&t, NULL, priv_waiter, NULL);
	for (int i = 0; i < N; i++)
		while (!started[i])
			usleep(1000);
	usleep(100000);
	zdtm_ready();
	zdtm_wait_sigterm();

	usleep(100000);
	for (int i = 0; i < N; i++) {
		int st;
		zdtm_check(waitpid(kids[i], &st, WNOHANG) == 0, "waiter %d ended on its own (%#x)", i, st);
	}
	zdtm_check(!priv_done, "the private waiter ended on its own");
	for (int i = 0; i < N; i++) {
		__atomic_store_n(words[i], 7, __ATOMIC_SEQ_CST);
		long woken = 0;
		for (int k = 0; k < 100 && woken == 0; k++) {	/* until the waiter is back in its wait */
			woken = futex(words[i], FUTEX_WAKE, 1);
			if (!woken)
				usleep(10000);
		}
		int st = -1;
		waitpid(kids[i], &st, 0);
		zdtm_check(woken == 1 || (WIFEXITED(st) && WEXITSTATUS(st) == 0), "wake %d reached %ld waiters", i, woken);
		zdtm_check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "waiter %d: status %#x", i, st);
	}
	__atomic_store_n(&priv_word, 1, __ATOMIC_SEQ_CST);
	zdtm_check(futex(&priv_word, FUTEX_WAKE_PRIVATE, 1) == 1, "the private wake reached nobody");
	pthread_join(t, NULL);
	zdtm_exit();
}
