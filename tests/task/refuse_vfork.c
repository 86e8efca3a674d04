// SPDX-License-Identifier: Apache-2.0
// Refused at dump: a child P waits in vfork() for its child V, which shares P's memory until it
// calls exec or exits (no ptrace stop reaches P meanwhile). The dump must fail naming P, not hang;
// after it the tree runs on: on SIGTERM, V exits and P collects it.
#include "zdtm.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	int pfd[2];
	zdtm_init("refuse_vfork");
	if (pipe(pfd) < 0)
		return 1;
	pid_t p = fork();
	if (p == 0) {
		close(pfd[1]);
		pid_t v = vfork();
		if (v == 0) {
			char c;
			syscall(SYS_read, pfd[0], &c, 1);	/* until the root closes its end */
			_exit(7);
		}
		int st = 0;
		_exit(waitpid(v, &st, 0) == v && WIFEXITED(st) && WEXITSTATUS(st) == 7 ? 0 : 1);
	}
	close(pfd[0]);
	for (int i = 0; i < 500; i++) {	/* until P is blocked in vfork */
		char path[64], st[512];
		snprintf(path, sizeof(path), "/proc/%d/stat", p);
		if (zdtm_read_file(path, st, sizeof(st)) > 0 && strstr(st, ") D "))
			break;
		usleep(10000);
	}
	zdtm_ready();
	zdtm_wait_sigterm();
	close(pfd[1]);
	int st = -1;
	zdtm_check(waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 0, "P: status %#x", st);
	zdtm_exit();
}
