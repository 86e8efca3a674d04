/* SPDX-License-Identifier: Apache-2.0 */
/* The operation handle (ferry.h): life, callbacks, running, cancel, and the result's accessors. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "common/util.h"
#include "image/image.h"
#include "lib/op.h"
#include "transform/format.h"
#include "transport/protocol.h"

_Static_assert((int)FERRY_ERR_INVALID == (int)FE_INVALID && (int)FERRY_ERR_CANCELLED == (int)FE_CANCELLED &&
	       (int)FERRY_ERR_PID_TAKEN == (int)FE_PID_TAKEN, "ferry.h and common/error.h disagree on classes");
_Static_assert((int)FERRY_TREE_NOT_RUNNING == (int)OP_TREE_NOT_RUNNING && (int)FERRY_UNIT_BYTES == (int)OP_UNIT_BYTES,
	       "ferry.h and engine.h disagree");
_Static_assert((int)FERRY_LOG_DEBUG == (int)LOG_DEBUG, "ferry.h and log.h disagree on levels");

FERRY_API const char *ferry_version(void)
{
	return FERRY_VERSION;
}

FERRY_API int ferry_format_version(const char *what, int *major, int *minor)
{
	int ma = -1, mi = 0;
	if (!strcmp(what, "image"))
		ma = FERRY_FORMAT_MAJOR, mi = FERRY_FORMAT_MINOR;
	else if (!strcmp(what, "protocol"))
		ma = WIRE_MAJOR, mi = WIRE_MINOR;
	else if (!strcmp(what, "encoding"))
		ma = TF_VERSION;
	if (ma < 0)
		return -ENOENT;
	*major = ma;
	*minor = mi;
	return 0;
}

FERRY_API ferry_op *ferry_op_new(enum ferry_op_kind kind)
{
	if (kind < FERRY_OP_DUMP || kind > FERRY_OP_MIGRATE) {
		errno = EINVAL;
		return NULL;
	}
	ferry_op *op = calloc(1, sizeof(*op));
	if (!op)
		return NULL;
	op->kind = kind;
	pthread_mutex_init(&op->log_lock, NULL);
	op_defaults(op);
	return op;
}

static void free_list(char ***l, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free((*l)[i]);
	free(*l);
	*l = NULL;
	*n = 0;
}

static void clear_result(ferry_op *op)
{
	fe_clear(&op->err);
	op->rc = 0;
	free_list(&op->chain, &op->nchain);
	free_list(&op->warnings, &op->nwarnings);
	free_list(&op->findings, &op->nfindings);
	free(op->report.pids);
	memset(&op->report, 0, sizeof(op->report));
	op->image_id[0] = 0;
}

FERRY_API void ferry_op_free(ferry_op *op)
{
	if (!op)
		return;
	clear_result(op);
	free_list(&op->strs, &op->nstrs);
	free(op->irmap);
	free(op->inherit);
	if (op->shim_fd >= 0)
		close(op->shim_fd);
	pthread_mutex_destroy(&op->log_lock);
	free(op);
}

FERRY_API enum ferry_op_kind ferry_op_get_kind(const ferry_op *op)
{
	return op->kind;
}

FERRY_API int ferry_op_set_output(ferry_op *op, FILE *out)
{
	op->out = out ? out : stdout;
	return 0;
}

FERRY_API int ferry_op_set_log(ferry_op *op, ferry_log_fn fn, int level, void *arg)
{
	op->log_fn = fn;
	op->log_level = level;
	op->log_arg = arg;
	return 0;
}

FERRY_API int ferry_op_set_progress(ferry_op *op, ferry_progress_fn fn, void *arg)
{
	op->progress_fn = fn;
	op->progress_arg = arg;
	return 0;
}

FERRY_API int ferry_op_set_hook(ferry_op *op, ferry_stage_fn fn, void *arg)
{
	op->hook_fn = fn;
	op->hook_arg = arg;
	return 0;
}

FERRY_API int ferry_op_set_ready(ferry_op *op, ferry_ready_fn fn, void *arg)
{
	op->ready_fn = fn;
	op->ready_arg = arg;
	return 0;
}

static int push_str(char ***l, size_t *n, const char *s)
{
	char **nl = realloc(*l, (*n + 1) * sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	*l = nl;
	if (!(nl[*n] = strdup(s)))
		return -ENOMEM;
	(*n)++;
	return 0;
}

void op_log(void *arg, int level, const char *msg)
{
	ferry_op *op = arg;
	pthread_mutex_lock(&op->log_lock);
	if ((level == LOG_WARN || level == LOG_ERROR) && op->nwarnings < 1000) {
		size_t len = strlen(msg);
		char line[2048];
		snprintf(line, sizeof(line), "%.*s", (int)(len && msg[len - 1] == '\n' ? len - 1 : len), msg);
		push_str(&op->warnings, &op->nwarnings, line);
	}
	if (op->log_fn && level <= op->log_level)
		op->log_fn(op->log_arg, level, msg);
	pthread_mutex_unlock(&op->log_lock);
}

void op_progress(void *arg, const char *phase, uint64_t done, uint64_t total, int unit, int tree)
{
	ferry_op *op = arg;
	struct ferry_progress p = { .size = sizeof(p), .phase = phase, .done = done, .total = total, .unit = unit,
				    .tree = tree };
	if (op->progress_fn)
		op->progress_fn(op->progress_arg, &p);
}

int op_hook(const char *stage, pid_t root, void *arg)
{
	ferry_op *op = arg;
	return op->hook_fn ? op->hook_fn(op->hook_arg, stage, root) : 0;
}

void op_ready(void *arg)
{
	ferry_op *op = arg;
	if (op->ready_fn)
		op->ready_fn(op->ready_arg, op);
}

/* The error's chain and the image id as the accessors give them. */
static void keep_result(ferry_op *op)
{
	char buf[sizeof(op->err.msg)];
	if (op->rc < 0 && !op->err.code)	/* nobody described it */
		fe_msg(&op->err, -op->rc, "%s", strerror(-op->rc));
	for (unsigned i = 0; op->rc < 0 && i < fe_chain_len(&op->err); i++)
		if (fe_chain_at(&op->err, i, buf, sizeof(buf)) >= 0)
			push_str(&op->chain, &op->nchain, buf);
	for (int i = 0; op->report.has_image_id && i < 16; i++)
		snprintf(op->image_id + 2 * i, 3, "%02x", op->report.image_id[i]);
}

FERRY_API int ferry_op_run(ferry_op *op)
{
	if (!op)
		return -EINVAL;
	if (op->running)
		return -EBUSY;
	clear_result(op);
	op->running = 1;
	op->sink = (struct log_sink){ .console_level = op->verbosity, .fn = op_log, .fn_arg = op,
				      .fn_level = op->log_fn && op->log_level > LOG_WARN ? op->log_level : LOG_WARN };
	op->report.progress = op_progress;
	op->report.arg = op;
	struct log_sink *prev = log_sink_use(&op->sink);
	sigset_t pipe_old;
	sigpipe_block(&pipe_old);	/* this thread only: a dead peer is an error, not a signal */
	op->rc = op_run_kind(op);
	sigpipe_restore(&pipe_old);
	if (op->sink.file)	/* the engine closes its log; a runner that failed early may not have */
		log_close_file();
	log_sink_use(prev);
	keep_result(op);
	op->running = 0;
	return op->rc;
}

FERRY_API void ferry_op_cancel(ferry_op *op)
{
	if (op)
		op->cancel = 1;
}

FERRY_API const char *ferry_err_class_name(int cls)
{
	static const char *const names[] = { "none", "generic", "unsupported", "pid-taken", "image-corrupt",
					     "image-foreign", "transient-io", "peer-lost", "cancelled", "resource",
					     "no-process", "invalid" };
	return cls >= 0 && cls < (int)(sizeof(names) / sizeof(names[0])) ? names[cls] : "unknown";
}

FERRY_API int ferry_op_error_class(const ferry_op *op)
{
	return op->rc < 0 || op->err.code ? fe_class_of(&op->err, op->rc) : FERRY_ERR_NONE;
}

FERRY_API int ferry_op_error_code(const ferry_op *op)
{
	return op->err.code;
}

FERRY_API const char *ferry_op_error_message(const ferry_op *op)
{
	return op->err.code ? op->err.msg : "";
}

FERRY_API size_t ferry_op_error_chain_len(const ferry_op *op)
{
	return op->nchain;
}

FERRY_API const char *ferry_op_error_chain(const ferry_op *op, size_t i)
{
	return i < op->nchain ? op->chain[i] : NULL;
}

FERRY_API size_t ferry_op_warning_count(const ferry_op *op)
{
	return op->nwarnings;
}

FERRY_API const char *ferry_op_warning(const ferry_op *op, size_t i)
{
	return i < op->nwarnings ? op->warnings[i] : NULL;
}

FERRY_API size_t ferry_op_finding_count(const ferry_op *op)
{
	return op->nfindings;
}

FERRY_API const char *ferry_op_finding(const ferry_op *op, size_t i)
{
	return i < op->nfindings ? op->findings[i] : NULL;
}

FERRY_API const char *ferry_op_image_id(const ferry_op *op)
{
	return op->image_id[0] ? op->image_id : NULL;
}

FERRY_API size_t ferry_op_stat_count(const ferry_op *op)
{
	return op->report.nstats;
}

FERRY_API const char *ferry_op_stat_name(const ferry_op *op, size_t i)
{
	return i < op->report.nstats ? op->report.stat_name[i] : NULL;
}

FERRY_API int ferry_op_stat(const ferry_op *op, const char *name, uint64_t *value)
{
	for (size_t i = 0; i < op->report.nstats; i++)
		if (!strcmp(op->report.stat_name[i], name)) {
			*value = op->report.stat_value[i];
			return 0;
		}
	return -ENOENT;
}

FERRY_API pid_t ferry_op_root_pid(const ferry_op *op)
{
	return op->report.npids ? op->report.pids[0] : 0;
}

FERRY_API size_t ferry_op_pid_count(const ferry_op *op)
{
	return op->report.npids;
}

FERRY_API pid_t ferry_op_pid(const ferry_op *op, size_t i)
{
	return i < op->report.npids ? op->report.pids[i] : 0;
}

FERRY_API int ferry_op_kill(ferry_op *op, int sig)
{
	int r = op->report.npids ? 0 : -ESRCH;
	for (size_t i = 0; i < op->report.npids; i++)
		if (kill(op->report.pids[i], sig) < 0 && r == 0 && errno != ESRCH)
			r = -errno;
	return r;
}

FERRY_API int ferry_op_resume(ferry_op *op)
{
	return ferry_op_kill(op, SIGCONT);
}

FERRY_API int ferry_op_wait(ferry_op *op, int *wstatus)
{
	if (op->shim_pid)
		return op_shim_wait(op, wstatus);
	pid_t root = ferry_op_root_pid(op);
	if (!root || op->restore.detached)
		return -ECHILD;
	int st = 0;
	while (waitpid(root, &st, __WALL) < 0)	/* __WALL: the root keeps its own exit signal */
		if (errno != EINTR)
			return -errno;
	if (wstatus)
		*wstatus = st;
	return 0;
}

FERRY_API pid_t ferry_op_shim_pid(const ferry_op *op)
{
	return op->shim_pid;
}

FERRY_API int ferry_fault_point(const char *name)
{
	return fault_point(name);
}

FERRY_API int ferry_op_fault_point(ferry_op *op, const char *name)
{
	if (!op)
		return fault_point(name);
	const volatile sig_atomic_t *prev = fault_set_cancel(&op->cancel);
	int r = fault_point(name);
	fault_set_cancel(prev);
	return r;
}
