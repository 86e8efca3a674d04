/* SPDX-License-Identifier: Apache-2.0 */
/* One log family for the whole engine: levels, a per-file prefix, and a debug log file per operation. */
#pragma once
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

enum log_level { LOG_MSG = 0, LOG_ERROR = 1, LOG_WARN = 2, LOG_INFO = 3, LOG_DEBUG = 4 };

/*
 * Where the log goes: a sink per operation, made current for the calling thread while the
 * operation runs (log_sink_use), so two operations in two threads keep their logs apart. A
 * thread without one logs to its own default sink: the console at LOG_WARN, no file.
 */
struct log_sink {
	int console_level;	/* messages up to this level go to stdout/stderr; -1: none */
	FILE *file;		/* the operation's log file (everything up to debug), or NULL */
	struct timespec start;	/* the file's time origin */
	/* Called for every message up to fn_level (whole message, with its prefix), if set. */
	void (*fn)(void *arg, int level, const char *msg);
	int fn_level;
	void *fn_arg;
};

/* Makes s the calling thread's sink (NULL: back to the thread's default); returns the previous one. */
struct log_sink *log_sink_use(struct log_sink *s);
/* The calling thread's sink: threads an operation starts take it over (log_sink_use). */
struct log_sink *log_sink_current(void);

/* Console verbosity (CRIU's -v0..4) of the current sink; the log file receives everything up to debug. */
void log_set_console_level(int level);
int log_get_console_level(void);
struct ferry_err;
/* Opens the current sink's log file (mode 0600, never through a link, truncated); 0 or -errno. */
int log_open_file(const char *path, struct ferry_err *err);
void log_close_file(void);
int log_enabled(int level);
void log_printf(int level, const char *prefix, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#ifndef LOG_PREFIX
#define LOG_PREFIX ""
#endif

#define pr_log(lvl, fmt, ...) do { if (log_enabled(lvl)) log_printf(lvl, LOG_PREFIX, fmt, ##__VA_ARGS__); } while (0)
#define pr_msg(fmt, ...) pr_log(LOG_MSG, fmt, ##__VA_ARGS__)
#define pr_err(fmt, ...) pr_log(LOG_ERROR, fmt, ##__VA_ARGS__)
#define pr_warn(fmt, ...) pr_log(LOG_WARN, fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...) pr_log(LOG_INFO, fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...) pr_log(LOG_DEBUG, fmt, ##__VA_ARGS__)
