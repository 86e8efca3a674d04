// SPDX-License-Identifier: Apache-2.0
// Refused at dump: a child process whose main thread has exited (pthread_exit) while its other
// thread runs on; /proc shows its leader as a zombie, but the process lives (it used to be saved
// as a zombie). After the refused dump the child's thread still answers over a pipe.
#include "zdtm.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static int req[2], rep[2];

static void *worker(void *arg)
{
	char c;
	while (read(req[0], &c, 1) == 1) {
		c++;
		write(rep[1], &c, 1);
	}
	_exit(0);
}

int main(void)
{
	zdtm_init("refuse_leader_exited");
	if (pipe(req) < 0 || pipe(rep) < 0)
		return 1;
	pid_t c = fork();
	if (c == 0) {
		pthread_t t;
		pthread_create(&t, NULL, worker, NULL);
		pthread_exit(NULL);
	}
	char b = 'a';
	if (write(req[1], &b, 1) != 1 || read(rep[0], &b, 1) != 1 || b != 'b')
		zdtm_fail("the child does not answer");
	zdtm_ready();
	zdtm_wait_sigterm();
	b = 'x';
	zdtm_check(write(req[1], &b, 1) == 1 && read(rep[0], &b, 1) == 1 && b == 'y', "the child no longer answers");
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	zdtm_exit();
}
