/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guardian of a restore's release. Forked with a pidfd of every task and the read end of a
 * pipe whose write end only ferry holds; it reads one byte (the release is over) or EOF (ferry
 * died during the release: pidfd_send_signal(SIGKILL) to every task, so nothing is left half
 * alive). After fork it only makes system calls; it ignores the signals a terminal sends to
 * ferry's process group, so a Ctrl-C reaches ferry, which finishes the release first.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#define LOG_PREFIX "guard: "
#include "common/log.h"
#include "common/util.h"
#include "engine/restore-guard.h"

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static __attribute__((noreturn)) void guardian(int rfd, const int *pidfds, size_t n, const int *keep, size_t nkeep)
{
	static const int quiet[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE };
	for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++)
		signal(quiet[i], SIG_IGN);
	prctl(PR_SET_NAME, "ferry-guard");
	close_all_but(keep, nkeep);
	char c;
	ssize_t r;
	while ((r = read(rfd, &c, 1)) < 0 && errno == EINTR)
		;
	if (r == 1)
		_exit(0);
	for (size_t i = 0; i < n; i++)	/* ferry died in the middle of the release */
		syscall(SYS_pidfd_send_signal, pidfds[i], SIGKILL, NULL, 0);
	_exit(1);
}

int guard_start(struct restore_ctx *ctx, struct restore_guard *g)
{
	int pp[2];
	*g = (struct restore_guard){ .fd = -1 };
	g->pidfds = calloc(ctx->ntasks + 1, sizeof(int));
	int *keep = calloc(ctx->ntasks + 2, sizeof(int));
	if (!g->pidfds || !keep) {
		free(keep);
		return fe_set(ctx->err, ENOMEM, "release guardian");
	}
	for (size_t k = 0; k < ctx->ntasks; k++) {
		if (!ctx->tasks[k].alive)
			continue;
		int fd = syscall(SYS_pidfd_open, ctx->tasks[k].pid, 0);
		if (fd < 0) {
			free(keep);
			return fe_set(ctx->err, errno, "pidfd_open(%d)", ctx->tasks[k].pid);
		}
		g->pidfds[g->n] = keep[g->n] = fd;
		g->n++;
	}
	if (pipe2(pp, O_CLOEXEC) < 0) {
		free(keep);
		return fe_set(ctx->err, errno, "release guardian");
	}
	keep[g->n] = pp[0];
	qsort(keep, g->n + 1, sizeof(int), cmp_int);
	pid_t pid = fork();
	if (pid == 0)
		guardian(pp[0], g->pidfds, g->n, keep, g->n + 1);
	int e = errno;
	close(pp[0]);
	free(keep);
	if (pid < 0) {
		close(pp[1]);
		return fe_set(ctx->err, e, "release guardian");
	}
	g->pid = pid;
	g->fd = pp[1];
	return 0;
}

void guard_stop(struct restore_guard *g)
{
	if (g->fd >= 0 && write(g->fd, "", 1) != 1)
		pr_warn("cannot tell the release guardian %d that the release is over\n", (int)g->pid);
	if (g->fd >= 0)
		close(g->fd);
	while (g->pid > 0 && waitpid(g->pid, NULL, 0) < 0 && errno == EINTR)
		;
	for (size_t i = 0; g->pidfds && i < g->n; i++)
		close(g->pidfds[i]);
	free(g->pidfds);
	*g = (struct restore_guard){ .fd = -1 };
}
