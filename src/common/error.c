/* SPDX-License-Identifier: Apache-2.0 */
/* The error object and the fault-injection switch used by tests to walk error paths. */
#include <stdio.h>
#include <stdarg.h>
#include <string.h>
#include <stdlib.h>
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
	if (!err->code)	/* nobody described it: describe it now */
		snprintf(err->msg, sizeof(err->msg), "%s", strerror(rc < 0 ? -rc : EIO)), err->code = rc < 0 ? -rc : EIO;
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
	}
	return -err->code;
}

void fe_clear(struct ferry_err *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = 0;
	}
}

const char *fe_str(const struct ferry_err *err, int rc)
{
	if (err && err->code && err->msg[0])
		return err->msg;
	return strerror(rc < 0 ? -rc : rc);
}

int fault_point(const char *name)
{
	const char *f = getenv("FERRY_FAULT");
	return f && strcmp(f, name) == 0;
}
