/* SPDX-License-Identifier: Apache-2.0 */
/* Log sinks: the console (filtered by verbosity) and the operation's log file (everything). */
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include "common/log.h"
#include "common/safefile.h"

static int console_level = LOG_WARN;
static FILE *log_file;
static struct timespec log_start;

void log_set_console_level(int level) { console_level = level; }
int log_get_console_level(void) { return console_level; }

int log_open_file(const char *path, struct ferry_err *err)
{
	int fd = safe_open_trunc(AT_FDCWD, path, 0600, err);
	if (fd < 0)
		return fd;
	log_close_file();
	log_file = fdopen(fd, "w");
	if (!log_file) {
		close(fd);
		return -errno;
	}
	setvbuf(log_file, NULL, _IOLBF, 0);
	clock_gettime(CLOCK_MONOTONIC, &log_start);
	return 0;
}

void log_close_file(void)
{
	if (log_file)
		fclose(log_file);
	log_file = NULL;
}

int log_enabled(int level)
{
	return level <= console_level || (log_file && level <= LOG_DEBUG);
}

static const char *level_tag(int level)
{
	switch (level) {
	case LOG_ERROR: return "Error ";
	case LOG_WARN: return "Warn  ";
	default: return "";
	}
}

void log_printf(int level, const char *prefix, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (log_file) {	/* whole lines: the page server logs from several threads */
		struct timespec now;
		flockfile(log_file);
		clock_gettime(CLOCK_MONOTONIC, &now);
		double t = (now.tv_sec - log_start.tv_sec) + (now.tv_nsec - log_start.tv_nsec) / 1e9;
		fprintf(log_file, "(%9.6f) %s%s", t, level_tag(level), prefix);
		va_start(ap, fmt);
		vfprintf(log_file, fmt, ap);
		va_end(ap);
		funlockfile(log_file);
	}
	if (level <= console_level) {
		FILE *out = level == LOG_MSG ? stdout : stderr;
		flockfile(out);
		if (level != LOG_MSG)
			fprintf(out, "%s%s", level_tag(level), prefix);
		va_start(ap, fmt);
		vfprintf(out, fmt, ap);
		va_end(ap);
		fflush(out);
		funlockfile(out);
	}
	errno = saved;
}
