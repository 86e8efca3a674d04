/* SPDX-License-Identifier: Apache-2.0 */
/* The error object and the fault-injection switch used by tests to walk error paths. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdarg.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "common/error.h"

static int fe_vset(struct ferry_err *err, int code, int with_errno, const char *fmt, va_list ap)
{
	if (code < 0)
		code = -code;
	if (code == 0)
		code = EIO;
	if (!err)
		return -code;
	err->code = code;
	err->cls = FE_NONE;
	err->nlinks = 0;
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	if (with_errno && n >= 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(code));
	return -code;
}

int fe_set(struct ferry_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = fe_vset(err, code, 1, fmt, ap);
	va_end(ap);
	return r;
}

int fe_msg(struct ferry_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = fe_vset(err, code, 0, fmt, ap);
	va_end(ap);
	return r;
}

int fe_wrap(struct ferry_err *err, int rc, const char *fmt, ...)
{
	if (!err || rc == 0)
		return rc;
	if (!err->code) {	/* nobody described it: describe it now */
		snprintf(err->msg, sizeof(err->msg), "%s", strerror(rc < 0 ? -rc : EIO));
		err->code = rc < 0 ? -rc : EIO;
		err->cls = FE_NONE;
		err->nlinks = 0;
	}
	char prefix[256], old[sizeof(err->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	size_t pl = strlen(prefix);
	if (pl + 2 < sizeof(err->msg)) {
		memcpy(err->msg, prefix, pl);
		memcpy(err->msg + pl, ": ", 2);
		size_t rest = sizeof(err->msg) - pl - 3;
		size_t ol = strnlen(old, rest);
		memcpy(err->msg + pl + 2, old, ol);
		err->msg[pl + 2 + ol] = 0;
		if (err->nlinks < FE_MAX_LINKS)
			err->link_len[err->nlinks++] = (unsigned short)pl;
	}
	return -err->code;
}

int fe_class(struct ferry_err *err, int cls, int rc)
{
	if (err && rc < 0)
		err->cls = cls;
	return rc;
}

int fe_class_of(const struct ferry_err *err, int rc)
{
	if (err && err->code && err->cls != FE_NONE)
		return err->cls;
	int code = err && err->code ? err->code : (rc < 0 ? -rc : rc);
	switch (code) {
	case 0: return FE_NONE;
	case ECANCELED: return FE_CANCELLED;
	case EBADMSG: return FE_IMAGE_CORRUPT;
	case EPROTONOSUPPORT: return FE_IMAGE_FOREIGN;
	case EOPNOTSUPP: return FE_UNSUPPORTED;
	case ESRCH: return FE_NO_PROCESS;
	case ENOMEM: case ENOSPC: case EDQUOT: case EMFILE: case ENFILE: case EFBIG: case E2BIG: return FE_RESOURCE;
	case ECONNRESET: case EPIPE: case ECONNREFUSED: case ENOTCONN: case ECONNABORTED: return FE_PEER_LOST;
	case EIO: case EAGAIN: case EINTR: case ETIMEDOUT: return FE_TRANSIENT_IO;
	case EINVAL: return FE_INVALID;
	default: return FE_GENERIC;
	}
}

unsigned fe_chain_len(const struct ferry_err *err)
{
	return err && err->code ? err->nlinks + 1 : 0;
}

int fe_chain_at(const struct ferry_err *err, unsigned i, char *buf, unsigned len)
{
	unsigned n = fe_chain_len(err);
	if (i >= n || len == 0)
		return -ERANGE;
	size_t off = 0;	/* element i starts after the i outermost prefixes and their ": " */
	for (unsigned k = 0; k < i; k++)
		off += err->link_len[err->nlinks - 1 - k] + 2;
	size_t el = i < err->nlinks ? err->link_len[err->nlinks - 1 - i] : strlen(err->msg + off);
	if (off > sizeof(err->msg) || el > sizeof(err->msg) - off)
		return -ERANGE;
	size_t c = el < len - 1 ? el : len - 1;
	memcpy(buf, err->msg + off, c);
	buf[c] = 0;
	return (int)el;
}

void fe_clear(struct ferry_err *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = 0;
		err->cls = FE_NONE;
		err->nlinks = 0;
	}
}

const char *fe_str(const struct ferry_err *err, int rc)
{
	if (err && err->code && err->msg[0])
		return err->msg;
	return strerror(rc < 0 ? -rc : rc);
}

/*
 * Test hooks, all off unless set in the environment:
 *   FERRY_FAULT=<point>        the point fails (fault_point returns 1), once per occurrence;
 *   FERRY_STALL=<point>        the point sleeps (FERRY_STALL_MS, 60 s by default, or until a
 *                              signal arrives) after saying "ferry: stalled at <point> (pid N)" on
 *                              stderr, so a test can kill ferry or the workload exactly there;
 *   FERRY_FAULT_TRACE=<file>   every point passed is appended to file, one name a line, so a test
 *                              can walk every point of an operation.
 * FERRY_FAULT=<mode> also selects a degraded path the tests want taken (fault_mode): nothing
 * fails there, so it is neither traced nor stalled.
 */
static void trace_point(const char *name)
{
	const char *path = getenv("FERRY_FAULT_TRACE");
	if (!path || !*path)
		return;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return;
	char line[160];
	int n = snprintf(line, sizeof(line), "%s\n", name);
	if (n > 0 && (size_t)n < sizeof(line) && write(fd, line, (size_t)n) < 0)
		n = 0;
	close(fd);
}

/* The running operation's cancel flag (per thread, as operations are): a stall ends on it (error.h). */
static __thread const volatile sig_atomic_t *stall_cancel;

const volatile sig_atomic_t *fault_set_cancel(const volatile sig_atomic_t *cancel)
{
	const volatile sig_atomic_t *prev = stall_cancel;
	stall_cancel = cancel;
	return prev;
}

static void stall(const char *name)
{
	char line[200];
	int n = snprintf(line, sizeof(line), "ferry: stalled at %s (pid %d)\n", name, (int)getpid());
	if (n > 0 && (size_t)n < sizeof(line) && write(2, line, (size_t)n) < 0)
		return;
	const char *ms = getenv("FERRY_STALL_MS");
	long ticks = ms ? atol(ms) / 10 : 6000;
	for (long i = 0; i < ticks; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		if ((stall_cancel && *stall_cancel) || (nanosleep(&ts, NULL) < 0 && errno == EINTR))
			return;
	}
}

int fault_point(const char *name)
{
	trace_point(name);
	const char *st = getenv("FERRY_STALL");
	if (st && strcmp(st, name) == 0)
		stall(name);
	const char *f = getenv("FERRY_FAULT");
	return f && strcmp(f, name) == 0;
}

int fault_mode(const char *name)
{
	const char *f = getenv("FERRY_FAULT");
	return f && strcmp(f, name) == 0;
}

int fault_stage(const char *op, const char *stage)
{
	char name[128];
	snprintf(name, sizeof(name), "%s-%s", op, stage);
	return fault_point(name);
}
