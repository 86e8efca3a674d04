/* SPDX-License-Identifier: Apache-2.0 */
/* Small I/O and /proc helpers shared by every module; all return 0/-errno unless said otherwise. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

int write_full(int fd, const void *buf, size_t len);
int pwrite_full(int fd, const void *buf, size_t len, off_t off);
/* Reads exactly len bytes; -EIO (with *got set if non-NULL) on a short file. */
int read_full(int fd, void *buf, size_t len);
int pread_full(int fd, void *buf, size_t len, off_t off);
/* Reads a whole (small or /proc) file into a malloc'd NUL-terminated buffer. */
int read_file(const char *path, char **out, size_t *len);
int read_file_at(int dirfd, const char *path, char **out, size_t *len);
/* readlink into a malloc'd string. */
int read_link(const char *path, char **out);
/* Value of "Key:" in a /proc status-style text (pointer into text, up to the newline), or NULL. */
const char *proc_field(const char *text, const char *key);
uint64_t now_us(void);
/* Numeric field n (1-based, as in proc(5)) of /proc/PID/stat; 0 when unreadable. */
uint64_t proc_stat_field(pid_t pid, int n);
int mkdir_p(const char *path, mode_t mode);
/* Formats into a static-free caller buffer: "/proc/<pid>/<rel>". */
#define PROC_PATH(buf, pid, rel) (snprintf((buf), sizeof(buf), "/proc/%d/%s", (int)(pid), (rel)), (buf))
/*
 * In a freshly forked child: closes every descriptor but keep[0..n) (sorted ascending). Only
 * system calls: safe after fork() in a process that has threads.
 */
void close_all_but(const int *keep, size_t n);
#include <signal.h>
/*
 * SIGPIPE blocked for the calling thread only (a dead peer is an error, not a signal), without
 * touching the process's dispositions; sigpipe_restore() discards one raised meanwhile.
 */
void sigpipe_block(sigset_t *old);
void sigpipe_restore(const sigset_t *old);
