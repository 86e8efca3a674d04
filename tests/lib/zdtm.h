// SPDX-License-Identifier: Apache-2.0
// zdtm: a tiny library for checkpoint/restore test programs. A test sets up state, calls zdtm_ready(),
// blocks in zdtm_wait_sigterm() (the runner dumps and restores it meanwhile), then verifies its state.
#ifndef FERRY_TESTS_ZDTM_H
#define FERRY_TESTS_ZDTM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Protocol with tests/run.sh:
 *   env ZDTM_DIR=<dir>     per-test directory (defaults to the cwd); stdout/stderr go to <dir>/test.out
 *   <dir>/ready            created (atomically, holding the pid) once the state is set up
 *   SIGTERM                "the checkpoint/restore is over: verify now"
 *   stdout, last line      "PASS", or "FAIL: <what>" lines (exit 1), or "SKIP: <why>" (exit 77, before ready)
 */

#define ZDTM_EXIT_SKIP 77

/* Reads ZDTM_DIR, installs the SIGTERM handler. Call first. */
void zdtm_init(const char *name);
/* Absolute path of the per-test directory (valid after zdtm_init; survives chdir). */
const char *zdtm_dir(void);
/* Writes "<dir>/<name>" into buf (size bytes); returns buf. */
char *zdtm_path(char *buf, size_t size, const char *name);

/* Creates <dir>/ready (via ready.tmp + rename). */
void zdtm_ready(void);
/* Two halves of zdtm_ready for tests that must do the final rename themselves (e.g. from inline asm). */
void zdtm_ready_prepare(char *tmp, char *final, size_t size);

/* Blocks (a futex wait on the flag, restarted across restore) until SIGTERM was received. */
void zdtm_wait_sigterm(void);
/* Non-zero once SIGTERM was received. Its address is usable as a futex word (0 → 1 on SIGTERM). */
int zdtm_sigterm_received(void);
volatile int *zdtm_sigterm_word(void);

/* Records a failure (thread-safe, async-signal-safe, no malloc). */
void zdtm_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define zdtm_check(cond, ...) do { if (!(cond)) zdtm_fail(__VA_ARGS__); } while (0)
int zdtm_failed(void);
/* Prints PASS or the FAIL lines and exits 0 or 1. */
__attribute__((noreturn)) void zdtm_exit(void);
#define zdtm_pass() zdtm_exit()
/* Prints "SKIP: reason" and exits 77. Only before zdtm_ready(). */
__attribute__((noreturn, format(printf, 1, 2))) void zdtm_skip(const char *fmt, ...);

/* 64-bit FNV-1a. zdtm_hash_add continues a running hash. */
#define ZDTM_HASH_INIT 0xcbf29ce484222325ULL
uint64_t zdtm_hash_add(uint64_t h, const void *p, size_t n);
static inline uint64_t zdtm_hash(const void *p, size_t n) { return zdtm_hash_add(ZDTM_HASH_INIT, p, n); }
/* Fills n bytes with a deterministic pseudo-random pattern derived from seed. */
void zdtm_fill(void *p, size_t n, uint64_t seed);

/*
 * What a program can observe of a file's first size bytes: its data extents as text
 * ("start-end " per SEEK_DATA/SEEK_HOLE pair) into map, and a hash of every byte read with
 * pread (a mapping would fill the holes). Moves the file offset.
 */
void zdtm_file_survey(int fd, uint64_t size, char *map, size_t len, uint64_t *hash);

/* Reads a whole (proc) file into buf, NUL-terminated, without malloc. Returns length or -errno. */
ssize_t zdtm_read_file(const char *path, char *buf, size_t size);
/* Finds "key:" in a status-like file (e.g. "/proc/self/status", "SigBlk") and copies the trimmed value. */
int zdtm_status_field(const char *path, const char *key, char *out, size_t size);
/* readlink with NUL termination; returns length or -errno. */
ssize_t zdtm_readlink(const char *path, char *buf, size_t size);
/* Same as zdtm_read_file but strips trailing newlines. */
ssize_t zdtm_read_line(const char *path, char *buf, size_t size);

/* One line of /proc/self/maps. */
struct zdtm_vma {
	unsigned long start, end, pgoff;
	char perms[5];
	unsigned int dev_major, dev_minor;
	unsigned long inode;
	char path[256];
};
/* Parses one maps line; returns 0 or -EINVAL. */
int zdtm_parse_vma(const char *line, struct zdtm_vma *v);
/* Finds the mapping containing addr (0 or -ENOENT). */
int zdtm_find_vma(unsigned long addr, struct zdtm_vma *v);
/* Finds the mapping named exactly name (e.g. "[vdso]"); 0 or -ENOENT. */
int zdtm_find_vma_by_name(const char *name, struct zdtm_vma *v);

pid_t zdtm_gettid(void);
/* The controlling terminal of this process (tty_nr of /proc/self/stat, 0 for none; -1 on error). */
int zdtm_tty_nr(void);
/* Nanoseconds on the given clock. */
int64_t zdtm_now_ns(int clockid);

#endif
