/* SPDX-License-Identifier: Apache-2.0 */
/* Public entry points of the engine: dump and restore of a process with its threads. */
#pragma once
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "common/error.h"

struct img_sink;
struct transform_opts;

/*
 * Called at named moments of an operation (CRIU's action-script stages): "post-dump" once the
 * image is whole and the tree still frozen; "post-restore" then "pre-resume" once the restored
 * tree is complete, before it runs. Non-zero fails the operation (the tree runs on as before, or
 * nothing restored is left alive).
 */
typedef int (*ferry_hook_fn)(const char *stage, pid_t root, void *arg);

struct dump_opts {
	pid_t pid;
	const char *dir;
	int leave_running;
	int shell_job;
	const char *log_file;	/* relative names go into dir; NULL: dump.log */
	int display_stats;
	int tcp_close;		/* drop established TCP connections instead of refusing them */
	int file_locks;		/* save flock/POSIX locks (refused otherwise) */
	struct img_sink *sink;	/* where image files go; NULL: into dir (a page server: transport/) */
	int pre_dump;		/* copy memory only, while the tree runs on (ferry pre-dump) */
	int track_mem;		/* keep dirty-page tracking for the next (pre-)dump */
	const char *prev_dir;	/* the previous (pre-)dump of the chain, relative to dir or absolute */
	const char *stats_json;	/* also write the statistics as JSON to this file ("-": stdout) */
	const struct transform_opts *transform;	/* compress/encrypt what is written (transform/) */
	/*
	 * CRIU's options (criu(8)), set by the CLI's option table (src/cli/options.c). Each says
	 * which module gives it its meaning; a flag whose subject the tree lacks changes nothing.
	 */
	int tcp_established;	/* files/inet*.c: established TCP connections by TCP repair (both ends in the tree) */
	int ext_unix_sk;	/* files/unix*.c: unix sockets whose peer is outside the tree are restored */
	int skip_in_flight;	/* files/inet*.c: drop TCP connections a listener has not accepted yet */
	int link_remap;		/* files/: a deleted file may be linked back rather than copied */
	uint64_t ghost_limit;	/* files/: largest deleted file carried in the image, bytes; 0 = default */
	int ghost_fiemap;	/* files/: find a deleted file's holes with FIEMAP: -1 unset, 0, 1 */
	const char *network_lock;	/* "iptables", "nftables", "skip"; NULL unset (no lock needed today) */
	const char *manage_cgroups;	/* containers: cgroup mode; NULL unset */
	const char *const *irmap_scan_paths;	/* files/fhandle.c: directories scanned first for watched inodes */
	size_t n_irmap_scan_paths;
	int force_irmap;	/* files/fhandle.c: find watched inodes by scanning directories, not by file handle */
	int leave_stopped;	/* after the dump, the tree stays stopped (SIGSTOP) instead of killed */
	const char *work_dir;	/* logs (and stats-dump.img) go here; NULL: dir */
	int evasive_devices;	/* files/chr.c: any path to a device node will do if the original is gone */
	int auto_dedup;		/* image/: punch pages of the parent that this dump replaces */
	unsigned freeze_timeout;	/* seconds the freeze (every thread seized) may take (--timeout); 0: no limit */
	ferry_hook_fn hook;	/* NULL, or called at "post-dump" */
	void *hook_arg;
	/*
	 * Set non-zero (any thread, a signal handler) to stop: the tree runs on as before. Honoured
	 * until the image is whole and read back; past that the dump goes to its end, but writes no
	 * statistics.
	 */
	const volatile sig_atomic_t *cancel;
};

struct inherit_fd {
	int fd;			/* our descriptor */
	const char *key;	/* a path (or object name) of a file in the image */
};

struct restore_opts {
	const char *dir;
	int detached;
	int shell_job;
	const char *pidfile;
	const struct inherit_fd *inherit;
	size_t n_inherit;
	const char *log_file;	/* NULL: restore.log */
	int display_stats;
	const char *stats_json;	/* also write the statistics as JSON to this file ("-": stdout) */
	const char *key_file;	/* the key of an encrypted image (decoded as it is read) */
	/* CRIU's options (criu(8)), set by the CLI's option table (src/cli/options.c). */
	int tcp_established;	/* files/inet.c: restore established TCP connections */
	int tcp_close;		/* files/inet.c: restore connected TCP sockets closed */
	int ext_unix_sk;	/* files/unix*.c: sockets whose peer was outside the tree */
	int file_locks;		/* files/locks.c: locks in the image are restored */
	const char *network_lock;	/* "iptables", "nftables", "skip"; NULL unset */
	const char *manage_cgroups;	/* containers: cgroup mode; NULL unset */
	const char *const *join_ns;	/* containers: "NS:PATH[,OPTS]" namespaces to join */
	size_t n_join_ns;
	int leave_stopped;	/* the restored tree stays stopped (SIGSTOP) instead of running */
	/*
	 * The root is made a sibling of ferry (a child of ferry's parent, CLONE_PARENT) with
	 * restore_sibling, and also when detached and the root or one of its threads has a
	 * parent-death signal (it then fires when ferry's caller dies, as the original's did when
	 * its own parent died), unless caller_waits: the caller waits for the root, which must
	 * stay ferry's child.
	 */
	int restore_sibling;
	int caller_waits;
	const char *work_dir;	/* restore.log and stats-restore.img go here; NULL: dir */
	int auto_dedup;		/* image/: punch pages out of the image once restored */
	ferry_hook_fn hook;	/* NULL, or called at "post-restore" and "pre-resume" */
	void *hook_arg;
	const volatile sig_atomic_t *cancel;	/* set non-zero to stop (honoured until the release) */
	void (*released)(void *arg);	/* called once the tree runs, before it is waited for */
	void *released_arg;
	int allow_changed_files;	/* restore files whose size, mode or inode changed since the dump (refused otherwise) */
};

/* 0 or -errno with err filled; on failure the process runs on as before. */
int ferry_dump(const struct dump_opts *o, struct ferry_err *err);
/*
 * 0 or -errno with err filled; on failure nothing restored is left alive. Without o->detached
 * and with wstatus, waits for the restored root and stores its wait status in *wstatus; with
 * wstatus NULL returns once the tree runs and the caller waits (the root is its child unless
 * it was made a sibling: see restore_sibling).
 */
int ferry_restore(const struct restore_opts *o, int *wstatus, struct ferry_err *err);
