// SPDX-License-Identifier: Apache-2.0
// A tree that never holds still (a shell loop, a thread pool that churns): child F forks a grandchild
// that exits at once, reaps it and checks its status, over and over; child T creates a thread, joins it
// and checks its result, over and over. The dump must freeze the tree while processes and threads are
// being born and must not lose or half-take any of them (CRIU's thread-bomb idea). After restore both
// children make progress again, every status seen was right, and the root's only children are F and T.
#include "zdtm.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

struct shared {
	volatile long forks, threads, bad;
};
static struct shared *sh;

static void *one(void *arg) { return (char *)arg + 1; }

static void fork_loop(void)
{
	for (;;) {
		pid_t p = fork();
		if (p == 0)
			_exit(3);
		int st = 0;
		if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 3)
			__atomic_add_fetch(&sh->bad, 1, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&sh->forks, 1, __ATOMIC_SEQ_CST);
	}
}

static void thread_loop(void)
{
	static char mark;
	for (;;) {
		pthread_t t;
		void *res = NULL;
		if (pthread_create(&t, NULL, one, &mark) || pthread_join(t, &res) || res != &mark + 1)
			__atomic_add_fetch(&sh->bad, 1, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&sh->threads, 1, __ATOMIC_SEQ_CST);
	}
}

static pid_t spawn(void (*fn)(void))
{
	pid_t p = fork();
	if (p == 0) {
		fn();
		_exit(1);
	}
	return p;
}

int main(void)
{
	zdtm_init("fork_storm");
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	pid_t f = spawn(fork_loop), t = spawn(thread_loop);
	while (sh->forks < 100 || sh->threads < 100)
		usleep(10000);
	zdtm_ready();
	zdtm_wait_sigterm();

	long f0 = sh->forks, t0 = sh->threads;
	for (int i = 0; i < 500 && (sh->forks < f0 + 50 || sh->threads < t0 + 50); i++)
		usleep(10000);
	zdtm_check(sh->forks >= f0 + 50, "the forking child stopped at %ld forks", sh->forks);
	zdtm_check(sh->threads >= t0 + 50, "the thread-making child stopped at %ld threads", sh->threads);
	zdtm_check(sh->bad == 0, "%ld wrong exit statuses or thread results", sh->bad);
	kill(f, SIGKILL);
	kill(t, SIGKILL);
	int st;
	zdtm_check(waitpid(f, &st, 0) == f && WIFSIGNALED(st), "reaping F: %#x", st);
	zdtm_check(waitpid(t, &st, 0) == t && WIFSIGNALED(st), "reaping T: %#x", st);
	errno = 0;
	zdtm_check(waitpid(-1, &st, WNOHANG) < 0 && errno == ECHILD, "another child of the root is left");
	zdtm_exit();
}
