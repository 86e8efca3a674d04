/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Log sinks: the console (filtered by verbosity), the operation's log file (everything) and a
 * caller's callback. Per thread: no process-wide state (log.h).
 */
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include "common/log.h"
#include "common/safefile.h"

static __thread struct log_sink thread_sink = { .console_level = LOG_WARN };
static __thread struct log_sink *cur_sink;

static struct log_sink *sink(void)
{
	return cur_sink ? cur_sink : &thread_sink;
}

struct log_sink *log_sink_use(struct log_sink *s)
{
	struct log_sink *old = cur_sink;
	cur_sink = s;
	return old;
}

struct log_sink *log_sink_current(void)
{
	return sink();
}

void log_set_console_level(int level) { sink()->console_level = level; }
int log_get_console_level(void) { return sink()->console_level; }

int log_open_file(const char *path, struct ferry_err *err)
{
	struct log_sink *s = sink();
	int fd = safe_open_trunc(AT_FDCWD, path, 0600, err);
	if (fd < 0)
		return fd;
	log_close_file();
	s->file = fdopen(fd, "w");
	if (!s->file) {
		close(fd);
		return -errno;
	}
	setvbuf(s->file, NULL, _IOLBF, 0);
	clock_gettime(CLOCK_MONOTONIC, &s->start);
	return 0;
}

void log_close_file(void)
{
	struct log_sink *s = sink();
	if (s->file)
		fclose(s->file);
	s->file = NULL;
}

int log_enabled(int level)
{
	const struct log_sink *s = sink();
	return level <= s->console_level || (s->file && level <= LOG_DEBUG) || (s->fn && level <= s->fn_level);
}

static const char *level_tag(int level)
{
	switch (level) {
	case LOG_ERROR: return "Error ";
	case LOG_WARN: return "Warn  ";
	default: return "";
	}
}

static void to_file(struct log_sink *s, int level, const char *prefix, const char *fmt, va_list ap)
{
	struct timespec now;
	flockfile(s->file);	/* whole lines: the page server logs from several threads */
	clock_gettime(CLOCK_MONOTONIC, &now);
	double t = (now.tv_sec - s->start.tv_sec) + (now.tv_nsec - s->start.tv_nsec) / 1e9;
	fprintf(s->file, "(%9.6f) %s%s", t, level_tag(level), prefix);
	vfprintf(s->file, fmt, ap);
	funlockfile(s->file);
}

static void to_console(int level, const char *prefix, const char *fmt, va_list ap)
{
	FILE *out = level == LOG_MSG ? stdout : stderr;
	flockfile(out);
	if (level != LOG_MSG)
		fprintf(out, "%s%s", level_tag(level), prefix);
	vfprintf(out, fmt, ap);
	fflush(out);
	funlockfile(out);
}

static void to_fn(struct log_sink *s, int level, const char *prefix, const char *fmt, va_list ap)
{
	char msg[2048];
	size_t pl = strlen(prefix);
	if (pl >= sizeof(msg))
		pl = 0;
	memcpy(msg, prefix, pl);
	vsnprintf(msg + pl, sizeof(msg) - pl, fmt, ap);
	s->fn(s->fn_arg, level, msg);
}

void log_printf(int level, const char *prefix, const char *fmt, ...)
{
	int saved = errno;
	struct log_sink *s = sink();
	va_list ap;

	if (s->file) {
		errno = saved;	/* %m */
		va_start(ap, fmt);
		to_file(s, level, prefix, fmt, ap);
		va_end(ap);
	}
	if (level <= s->console_level) {
		errno = saved;
		va_start(ap, fmt);
		to_console(level, prefix, fmt, ap);
		va_end(ap);
	}
	if (s->fn && level <= s->fn_level) {
		errno = saved;
		va_start(ap, fmt);
		to_fn(s, level, prefix, fmt, ap);
		va_end(ap);
	}
	errno = saved;
}
