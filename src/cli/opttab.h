/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The command line as data: every command and every option, with its help text. One table
 * drives getopt_long (options.c), each command's --help, the man pages, the bash completion and
 * docs/CLI.md (doc.c, ferry-gendoc), so they cannot disagree.
 */
#pragma once
#include <stddef.h>

/* Commands, as bits: an option lists the commands that take it. */
enum {
	C_DUMP = 1 << 0,
	C_PRE = 1 << 1,
	C_RESTORE = 1 << 2,
	C_PS = 1 << 3,
	C_IMAGE = 1 << 4,
	C_EXPORT = 1 << 5,
	C_IMPORT = 1 << 6,
	C_SHOW = 1 << 7,
	C_CHECK = 1 << 8,
	C_SERVE = 1 << 9,
	C_MIGRATE = 1 << 10,
};
#define C_DUMPS (C_DUMP | C_PRE)
#define C_CRIU (C_DUMP | C_PRE | C_RESTORE)
/* Commands that freeze a tree: a worker does their work behind a front (cli/guard.c). */
#define C_FREEZE (C_DUMP | C_PRE | C_MIGRATE)
#define C_ALL 0x7ff

struct cli_cmd {
	const char *name;
	unsigned bit;
	const char *synopsis;		/* after "ferry NAME " */
	const char *summary;		/* one line */
	const char *description;	/* paragraphs separated by "\n\n" */
	int min_args, max_args;		/* positional arguments */
};

enum opt_arg { ARG_NONE, ARG_REQ, ARG_OPT };

/*
 * What an option does on a command: OPT_YES it is honoured; OPT_NOOP it is accepted and changes
 * nothing, because that is exactly its meaning here (the help says why); OPT_LATER it is refused
 * with "not supported yet" and the help's reason.
 */
enum opt_state { OPT_YES, OPT_NOOP, OPT_LATER };

/* Option ids (getopt_long's val, above the short letters). */
enum opt_id {
	O_HELP = 256, O_VERBOSITY, O_LOG_FILE, O_WORK_DIR, O_IMAGES_DIR, O_TREE, O_LEAVE_RUNNING,
	O_LEAVE_STOPPED, O_SHELL_JOB, O_DISPLAY_STATS, O_STATS_JSON, O_TRACK_MEM, O_PREV_DIR,
	O_PAGE_SERVER, O_ADDRESS, O_PORT, O_TOKEN_FILE, O_TLS, O_TLS_CERT, O_TLS_KEY, O_TLS_CACERT,
	O_TLS_CACRL, O_TLS_NO_CN_VERIFY, O_COMPRESS, O_ENCRYPT_KEY, O_TIMEOUT, O_TCP_ESTABLISHED,
	O_TCP_CLOSE, O_SKIP_IN_FLIGHT, O_EXT_UNIX_SK, O_FILE_LOCKS, O_LINK_REMAP, O_GHOST_LIMIT,
	O_GHOST_FIEMAP, O_NETWORK_LOCK, O_MANAGE_CGROUPS, O_CGROUP_ROOT, O_FREEZE_CGROUP, O_JOIN_NS,
	O_IRMAP_SCAN_PATH, O_FORCE_IRMAP, O_EVASIVE_DEVICES, O_AUTO_DEDUP, O_EXTERNAL, O_ROOT,
	O_EXT_MOUNT_MAP, O_SKIP_MNT, O_ENABLE_FS, O_EXT_SHARING, O_EXT_MASTERS, O_EMPTY_NS,
	O_VETH_PAIR, O_LSM_PROFILE, O_WEAK_SYSCTLS, O_CPU_CAP, O_LAZY_PAGES, O_ACTION_SCRIPT,
	O_EXEC_CMD, O_PIDFILE, O_STATUS_FD, O_INHERIT_FD, O_RESTORE_DETACHED, O_RESTORE_SIBLING,
	O_LOG_PID, O_CONFIG, O_NO_DEFAULT_CONFIG, O_PRE_DUMP_MODE, O_STREAM, O_CLOSE, O_PS_SOCKET,
	O_DAEMON, O_FOREVER, O_INSECURE, O_JSON, O_FEATURE, O_EXTRA, O_EXPERIMENTAL, O_CHECK_ALL,
	O_ALLOW_CHANGED_FILES, O_CHECK_IMAGE, O_FROM_EXPORT, O_LISTEN, O_TO, O_MODE, O_FORCE, O_ID_END
};

struct cli_opt {
	enum opt_id id;
	const char *name;		/* long name, without "--" */
	int shrt;			/* short letter, or 0 */
	enum opt_arg arg;
	const char *meta;		/* the argument's name in help ("PID") */
	unsigned cmds;			/* C_* bits */
	enum opt_state state;
	const char *help;		/* one line: --help shows it, the man page starts with it */
	const char *more;		/* NULL, or more for the man page */
};

extern const struct cli_cmd cli_cmds[];
extern const size_t cli_ncmds;
extern const struct cli_opt cli_opts[];
extern const size_t cli_nopts;

const struct cli_cmd *cli_cmd_find(const char *name);
/* Whether `no-NAME` negates the option (every option without an argument but --help). */
int cli_opt_negatable(const struct cli_opt *o);
