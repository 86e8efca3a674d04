/* SPDX-License-Identifier: Apache-2.0 */
/* Option parsing over the table (options.h); the only place flags become engine options. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/action.h"
#include "cli/config.h"
#include "cli/doc.h"
#include "cli/options.h"
#include "cli/parse.h"

#define VAL_BASE 1000	/* getopt_long's val for table entry i: VAL_BASE + i; negated: + cli_nopts */

void cli_error(const struct cli_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "Error: ferry %s: ", cmd->name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* "-t/--tree" or "--stats-json": the option as a user may have typed it. */
static const char *flag_name(const struct cli_opt *o, char *buf, size_t len)
{
	if (o->shrt)
		snprintf(buf, len, "-%c/--%s", o->shrt, o->name);
	else
		snprintf(buf, len, "--%s", o->name);
	return buf;
}

/* A number in [min, max], or an error naming the flag, the value and the range. */
static int number(const struct cli_args *a, const struct cli_opt *o, const char *arg, uint64_t min, uint64_t max,
		  const char *what, uint64_t *out)
{
	char f[64];
	int r = parse_u64(arg, min, max, out);
	if (r == -EINVAL)
		cli_error(a->cmd, "%s '%s': not %s (a number from %llu to %llu)", flag_name(o, f, sizeof(f)), arg, what,
			  (unsigned long long)min, (unsigned long long)max);
	else if (r < 0)
		cli_error(a->cmd, "%s '%s': out of range (%s from %llu to %llu)", flag_name(o, f, sizeof(f)), arg, what,
			  (unsigned long long)min, (unsigned long long)max);
	return r < 0 ? -1 : 0;
}

static int bad_value(const struct cli_args *a, const struct cli_opt *o, const char *arg, const char *why)
{
	char f[64];
	cli_error(a->cmd, "%s '%s': %s", flag_name(o, f, sizeof(f)), arg ? arg : "", why);
	return -1;
}

static int later(const struct cli_args *a, const struct cli_opt *o, const char *arg, const char *why)
{
	char f[64];
	if (arg)
		cli_error(a->cmd, "%s '%s' is not supported yet: %s", flag_name(o, f, sizeof(f)), arg, why);
	else
		cli_error(a->cmd, "%s is not supported yet: %s", flag_name(o, f, sizeof(f)), why);
	return -1;
}

/* -v, -vv, -v3, --verbosity, --verbosity=3: CRIU's scale, 0 to 4. */
static int verbosity(struct cli_args *a, const struct cli_opt *o, const char *arg)
{
	uint64_t v;
	if (!arg) {
		a->verbosity = a->verbosity < FERRY_LOG_DEBUG ? a->verbosity + 1 : FERRY_LOG_DEBUG;
		return 0;
	}
	if (arg[0] == 'v' && strspn(arg, "v") == strlen(arg)) {
		size_t n = strlen(arg) + 1 + (size_t)a->verbosity;
		a->verbosity = n > FERRY_LOG_DEBUG ? FERRY_LOG_DEBUG : (int)n;
		return 0;
	}
	if (number(a, o, arg, 0, FERRY_LOG_DEBUG, "a verbosity level", &v) < 0)
		return -1;
	a->verbosity = (int)v;
	return 0;
}

static int push(void *arrp, size_t *n, size_t size, const void *item)
{
	char **arr = arrp;
	char *na = realloc(*arr, (*n + 1) * size);
	if (!na)
		return -ENOMEM;
	memcpy(na + *n * size, item, size);
	*arr = na;
	(*n)++;
	return 0;
}

/* The library's answer to an option: a kind that does not take it leaves it a no-op here. */
static int lib_result(struct cli_args *a, const struct cli_opt *o, const char *arg, int r)
{
	if (r == 0 || r == -ENOTSUP || r == -ENOENT)
		return 0;
	return bad_value(a, o, arg, r == -ENOMEM ? "out of memory" : ferry_op_error_message(a->op));
}

static int lib_str(struct cli_args *a, const struct cli_opt *o, const char *arg)
{
	return a->op ? lib_result(a, o, arg, ferry_op_set_str(a->op, o->name, arg)) : 0;
}

static int lib_bool(struct cli_args *a, const struct cli_opt *o, int on)
{
	return a->op ? lib_result(a, o, NULL, ferry_op_set_bool(a->op, o->name, on)) : 0;
}

static int lib_int(struct cli_args *a, const struct cli_opt *o, const char *arg, long long v)
{
	return a->op ? lib_result(a, o, arg, ferry_op_set_int(a->op, o->name, v)) : 0;
}

/* fd[N]:KEY */
static int inherit_fd(struct cli_args *a, const struct cli_opt *o, const char *arg)
{
	const char *close = strstr(arg, "]:");
	if (strncmp(arg, "fd[", 3) || !close || !close[2])
		return bad_value(a, o, arg, "not fd[N]:KEY (N our descriptor, KEY the image's file)");
	char num[32];
	size_t len = (size_t)(close - arg - 3);
	uint64_t fd;
	if (len >= sizeof(num))
		return bad_value(a, o, arg, "the descriptor number is too long");
	memcpy(num, arg + 3, len);
	num[len] = 0;
	if (parse_u64(num, 0, INT_MAX, &fd) < 0) {
		char why[80];
		snprintf(why, sizeof(why), "'%s' is not a descriptor (0 to %d)", num, INT_MAX);
		return bad_value(a, o, arg, why);
	}
	if (ferry_op_add_inherit_fd(a->op, (int)fd, close + 2) < 0)
		return bad_value(a, o, arg, "out of memory");
	return 0;
}

/* --cpu-cap[=fpu,ins,cpu,all,none,...]: what restore and check --image compare of the CPU (no value: all) */
static int cpu_cap(struct cli_args *a, const struct cli_opt *o, const char *arg)
{
	char buf[256];
	unsigned caps = 0;
	if (snprintf(buf, sizeof(buf), "%s", arg ? arg : "all") >= (int)sizeof(buf))
		return bad_value(a, o, arg, "too long");
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (!strcmp(t, "fpu"))
			caps |= FERRY_CPU_CAP_FPU;
		else if (!strcmp(t, "ins") || !strcmp(t, "cpu"))
			caps |= FERRY_CPU_CAP_INS;
		else if (!strcmp(t, "all"))
			caps |= FERRY_CPU_CAP_ALL;
		else if (!strcmp(t, "none"))
			caps = 0;
		else
			return bad_value(a, o, t, "not a CPU capability (fpu, ins, cpu, all, none)");
	}
	return lib_int(a, o, arg, caps);
}

/* --external TYPE[ID]:VALUE: mounts and block devices of a mount namespace ferry does not save. */
static int external(struct cli_args *a, const struct cli_opt *o, const char *arg)
{
	if (!strncmp(arg, "mnt[", 4) || !strncmp(arg, "dev[", 4))
		return 0;
	if (!strchr(arg, '['))
		return bad_value(a, o, arg, "not TYPE[ID]:VALUE");
	return later(a, o, arg, "external files, terminals, sockets and network devices (mnt[] and dev[] are accepted)");
}

/* Log, directories, statistics, the tree and what happens to it. */
static int apply_general(struct cli_args *a, const struct cli_opt *o, const char *arg, int on)
{
	uint64_t v;
	switch (o->id) {
	case O_VERBOSITY: return verbosity(a, o, arg);
	case O_LOG_FILE: a->log_file = arg; return lib_str(a, o, arg);
	case O_WORK_DIR: a->work_dir = arg; return lib_str(a, o, arg);
	case O_IMAGES_DIR: a->images_dir = arg; return lib_str(a, o, arg);
	case O_STATS_JSON: return lib_str(a, o, arg);
	case O_CLOSE:
		if (number(a, o, arg, 0, INT_MAX, "a descriptor", &v) < 0)
			return -1;
		close((int)v);
		return 0;
	case O_TREE:
		if (number(a, o, arg, 1, pid_max(), "a PID", &v) < 0)
			return -1;
		a->pid = (pid_t)v;
		return lib_int(a, o, arg, (long long)v);
	case O_PREV_DIR: return lib_str(a, o, arg);
	case O_TIMEOUT:
		if (number(a, o, arg, 0, 365 * 86400, "a number of seconds", &v) < 0)
			return -1;
		return lib_int(a, o, arg, (long long)v);
	case O_DISPLAY_STATS: case O_LEAVE_RUNNING: case O_LEAVE_STOPPED: case O_TRACK_MEM:
		return lib_bool(a, o, on);
	default: return 1;
	}
}

/* --port: digits only, 0-65535; 0 (any free port) only for the page server itself. */
static int port(struct cli_args *a, const struct cli_opt *o, const char *arg)
{
	char f[64], *end;
	errno = 0;
	long v = arg && *arg >= '0' && *arg <= '9' ? strtol(arg, &end, 10) : -1;
	if (v < 0 || errno || *end) {
		cli_error(a->cmd, "%s: port '%s': not a number", flag_name(o, f, sizeof(f)), arg ? arg : "");
		return -1;
	}
	if (v > 65535) {
		cli_error(a->cmd, "%s: port %s: out of range (a TCP port is 1-65535)", flag_name(o, f, sizeof(f)), arg);
		return -1;
	}
	if (v == 0 && a->cmd->bit != C_PS)
		return bad_value(a, o, arg, "out of range (the page server's port is 1 to 65535)");
	a->port = (int)v;
	a->port_set = 1;
	return lib_int(a, o, arg, v);
}

/* The page server, TLS, compression and encryption. */
static int apply_transport(struct cli_args *a, const struct cli_opt *o, const char *arg, int on)
{
	switch (o->id) {
	case O_PAGE_SERVER: a->page_server = on; return lib_bool(a, o, on);
	case O_ADDRESS: a->address = arg; return lib_str(a, o, arg);
	case O_PORT: return port(a, o, arg);
	case O_INSECURE: return lib_bool(a, o, on);
	case O_TOKEN_FILE: return lib_str(a, o, arg);
	case O_TLS: a->tls = on; return 0;
	case O_TLS_CERT: case O_TLS_KEY: case O_TLS_CACERT:
		a->tls_files |= arg != NULL;
		return lib_str(a, o, arg);
	case O_COMPRESS:
		if (a->op && ferry_op_set_str(a->op, o->name, arg) == -EINVAL)
			return bad_value(a, o, arg, "not a compression (zstd, lz4 or none)");
		return 0;
	case O_ENCRYPT_KEY: a->encrypt_key = arg; return lib_str(a, o, arg);
	default: return 1;
	}
}

/* What the tree may hold (dump) and how it comes back (restore): CRIU's flags. */
static int apply_objects(struct cli_args *a, const struct cli_opt *o, const char *arg, int on)
{
	uint64_t v;
	switch (o->id) {
	case O_SHELL_JOB: case O_TCP_ESTABLISHED: case O_TCP_CLOSE: case O_SKIP_IN_FLIGHT: case O_EXT_UNIX_SK:
	case O_FILE_LOCKS: case O_LINK_REMAP: case O_ALLOW_CHANGED_FILES: case O_GHOST_FIEMAP: case O_FORCE_IRMAP:
	case O_EVASIVE_DEVICES:
		return lib_bool(a, o, on);
	case O_GHOST_LIMIT: {
		int r = parse_size(arg, &v);
		if (r < 0)
			return bad_value(a, o, arg, r == -ERANGE ? "too large" : "not a size (bytes, or a number with K, M, G or T)");
		return lib_int(a, o, arg, (long long)v);
	}
	case O_IRMAP_SCAN_PATH: return lib_str(a, o, arg);
	case O_NETWORK_LOCK:
		if (strcmp(arg, "iptables") && strcmp(arg, "nftables") && strcmp(arg, "skip"))
			return bad_value(a, o, arg, "not a network lock method (iptables, nftables or skip)");
		return lib_str(a, o, arg);
	case O_MANAGE_CGROUPS:
		if (!on || (arg && !strcmp(arg, "ignore")))
			return lib_str(a, o, on ? arg : NULL);
		if (arg && strcmp(arg, "none") && strcmp(arg, "props") && strcmp(arg, "soft") && strcmp(arg, "full") &&
		    strcmp(arg, "strict"))
			return bad_value(a, o, arg, "not a cgroup mode (none, props, soft, full, strict, ignore)");
		return later(a, o, arg, "saving and restoring cgroups is the containers work (--manage-cgroups=ignore is accepted)");
	case O_CPU_CAP: return cpu_cap(a, o, arg);
	case O_EXTERNAL: return external(a, o, arg);
	case O_ROOT:
		if (strcmp(arg, "/"))
			return later(a, o, arg, "restoring under another root needs mount namespaces (containers)");
		return 0;
	default: return 1;
	}
}

/* Restore, page server and check. */
static int apply_rest(struct cli_args *a, const struct cli_opt *o, const char *arg, int on)
{
	uint64_t v;
	switch (o->id) {
	case O_RESTORE_DETACHED: a->detached = on; return lib_bool(a, o, on);
	case O_RESTORE_SIBLING: a->restore_sibling = on; return lib_bool(a, o, on);
	case O_PIDFILE: return lib_str(a, o, arg);
	case O_STATUS_FD:
		if (number(a, o, arg, 0, INT_MAX, "a descriptor", &v) < 0)
			return -1;
		a->status_fd = (int)v;
		return 0;
	case O_INHERIT_FD: return inherit_fd(a, o, arg);
	case O_EXEC_CMD: a->exec_cmd = on; return 0;
	case O_DAEMON:
		a->daemon = a->detached = on;
		return a->op && a->cmd->bit == C_RESTORE ? lib_result(a, o, NULL, ferry_op_set_bool(a->op, "restore-detached", on)) : 0;
	case O_FOREVER: case O_JSON: return lib_bool(a, o, on);
	case O_FEATURE: a->feature_asked = 1; return lib_str(a, o, arg);
	case O_CHECK_IMAGE: a->check_image = arg; return lib_str(a, o, arg);
	case O_FROM_EXPORT: a->from_export = arg; return lib_str(a, o, arg);
	case O_LISTEN: a->listen = arg; return lib_str(a, o, arg);
	case O_TO: a->to = arg; return lib_str(a, o, arg);
	case O_MODE: return lib_str(a, o, arg);
	case O_FORCE: return lib_bool(a, o, on);
	case O_ACTION_SCRIPT:
		if (!on) {
			a->nscripts = 0;
			return 0;
		}
		if (push(&a->scripts, &a->nscripts, sizeof(arg), &arg) < 0)
			return bad_value(a, o, arg, "out of memory");
		return 0;
	default: return 1;
	}
}

/* The one map from a flag to the options of the operation (ferry.h). */
static int cli_apply(struct cli_args *a, const struct cli_opt *o, const char *arg, int on)
{
	int r = apply_general(a, o, arg, on);
	if (r == 1)
		r = apply_transport(a, o, arg, on);
	if (r == 1)
		r = apply_objects(a, o, arg, on);
	if (r == 1)
		r = apply_rest(a, o, arg, on);
	return r == 1 ? 0 : r;	/* options with no value to keep (accepted as no-ops) */
}

/* One option as parsed: refused when not supported yet, applied otherwise. */
static int take(struct cli_args *a, const struct cli_opt *o, const char *arg, int negated)
{
	if (negated)
		return o->state == OPT_YES ? cli_apply(a, o, NULL, 0) : 0;
	if (o->state == OPT_LATER) {
		char f[64];
		cli_error(a->cmd, "%s: %s", flag_name(o, f, sizeof(f)), o->help);
		return -1;
	}
	if (o->state == OPT_NOOP && o->id != O_NETWORK_LOCK)
		return 0;
	return cli_apply(a, o, arg, 1);
}

/* getopt_long's tables for cmd, from cli_opts. */
static int build_getopt(const struct cli_cmd *cmd, struct option **longs, char *shorts, size_t slen)
{
	size_t n = 0, k = 0;
	/* the no- names live as long as the process: getopt_long may point into them */
	static char **names;
	struct option *l = calloc(2 * cli_nopts + 1, sizeof(*l));
	if (!names)
		names = calloc(cli_nopts, sizeof(*names));
	if (!l || !names) {
		free(l);
		return -ENOMEM;
	}
	/* kept terminated as it grows: strchr() below reads what is built so far */
	memset(shorts, 0, slen);
	shorts[k++] = ':';
	for (size_t i = 0; i < cli_nopts; i++) {
		const struct cli_opt *o = &cli_opts[i];
		if (!(o->cmds & cmd->bit))
			continue;
		int has = o->arg == ARG_NONE ? no_argument : o->arg == ARG_REQ ? required_argument : optional_argument;
		l[n++] = (struct option){ o->name, has, NULL, VAL_BASE + (int)i };
		if (cli_opt_negatable(o)) {
			if (!names[i] && !(names[i] = malloc(strlen(o->name) + 4))) {
				free(l);
				return -ENOMEM;
			}
			sprintf(names[i], "no-%s", o->name);
			l[n++] = (struct option){ names[i], no_argument, NULL, VAL_BASE + (int)(cli_nopts + i) };
		}
		if (o->shrt && !strchr(shorts, o->shrt) && k + 4 < slen) {
			shorts[k++] = (char)o->shrt;
			if (o->arg != ARG_NONE)
				shorts[k++] = ':';
			if (o->arg == ARG_OPT)
				shorts[k++] = ':';
		}
	}
	shorts[k] = 0;
	*longs = l;
	return 0;
}

static const struct cli_opt *by_short(const struct cli_cmd *cmd, int c)
{
	for (size_t i = 0; i < cli_nopts; i++)
		if (cli_opts[i].shrt == c && (cli_opts[i].cmds & cmd->bit))
			return &cli_opts[i];
	return NULL;
}

/* The entry behind getopt_long's return value c (and whether it is a no- form). */
static const struct cli_opt *entry_of(const struct cli_cmd *cmd, int c, int *negated)
{
	*negated = 0;
	if (c >= VAL_BASE + (int)cli_nopts) {
		*negated = 1;
		return &cli_opts[c - VAL_BASE - (int)cli_nopts];
	}
	if (c >= VAL_BASE)
		return &cli_opts[c - VAL_BASE];
	return by_short(cmd, c);
}

static void getopt_failure(const struct cli_cmd *cmd, int c, char **argv)
{
	int neg;
	const struct cli_opt *o = optopt ? entry_of(cmd, optopt, &neg) : NULL;
	char f[64];
	if (c == ':' && o)
		cli_error(cmd, "%s needs an argument (%s)", flag_name(o, f, sizeof(f)), o->meta);
	else if (o)
		cli_error(cmd, "%s takes no argument ('%s')", flag_name(o, f, sizeof(f)), argv[optind - 1]);
	else if (c == ':' || (optopt && optopt < VAL_BASE))
		cli_error(cmd, "unknown option '-%c' ('ferry %s --help' lists them)", optopt, cmd->name);
	else
		cli_error(cmd, "unknown or ambiguous option '%s' ('ferry %s --help' lists them)", argv[optind - 1],
			  cmd->name);
}

static int wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return 1;
	return 0;
}

/* The operation behind each command; `image` chooses its own once its subcommand is known. */
static int op_kind(unsigned bit)
{
	switch (bit) {
	case C_DUMP: return FERRY_OP_DUMP;
	case C_PRE: return FERRY_OP_PRE_DUMP;
	case C_RESTORE: return FERRY_OP_RESTORE;
	case C_PS: return FERRY_OP_PAGE_SERVER;
	case C_EXPORT: return FERRY_OP_EXPORT;
	case C_IMPORT: return FERRY_OP_IMPORT;
	case C_SHOW: return FERRY_OP_SHOW;
	case C_CHECK: return FERRY_OP_CHECK;
	case C_SERVE: return FERRY_OP_SERVE;
	case C_MIGRATE: return FERRY_OP_MIGRATE;
	default: return 0;
	}
}

static int defaults(const struct cli_cmd *cmd, struct cli_args *a)
{
	memset(a, 0, sizeof(*a));
	a->cmd = cmd;
	a->verbosity = FERRY_LOG_WARN;
	a->status_fd = -1;
	int kind = op_kind(cmd->bit);
	if (kind && !(a->op = ferry_op_new(kind)))
		return -1;
	/* Every stage of the actions is passed, scripts or not: its fault point is (action.h). */
	if (a->op)
		ferry_op_set_hook(a->op, action_hook, a);
	return 0;
}

static int check_required(const struct cli_cmd *cmd, struct cli_args *a)
{
	if ((cmd->bit & C_DUMPS) && (!a->pid || !a->images_dir)) {
		cli_error(cmd, "-t PID and -D DIR are required");
		return -1;
	}
	if ((cmd->bit & C_RESTORE) && !a->images_dir == !a->from_export) {
		cli_error(cmd, a->images_dir ? "-D and --from-export do not go together" : "-D DIR is required (or --from-export FILE)");
		return -1;
	}
	if ((cmd->bit & C_PS) && (!a->port_set || !a->images_dir)) {
		cli_error(cmd, "--port PORT and -D DIR are required");
		return -1;
	}
	if ((cmd->bit & C_SERVE) && !a->listen) {
		cli_error(cmd, "--listen ADDR:PORT is required");
		return -1;
	}
	if ((cmd->bit & C_MIGRATE) && (!a->pid || !a->to)) {
		cli_error(cmd, "-t PID and --to ADDR:PORT are required");
		return -1;
	}
	if (a->page_server && (!a->address || !a->port)) {
		cli_error(cmd, "--page-server needs --address and --port");
		return -1;
	}
	if (a->exec_cmd && (a->detached || a->nargs == 0)) {
		cli_error(cmd, a->nargs ? "--exec-cmd and -d do not go together" : "--exec-cmd needs a command after --");
		return -1;
	}
	if (a->restore_sibling && !a->detached) {
		cli_error(cmd, "--restore-sibling needs -d (ferry cannot wait for a process that is not its child)");
		return -1;
	}
	return 0;
}

static int check_args(const struct cli_cmd *cmd, const struct cli_args *a)
{
	int max = cmd->max_args < 0 ? (a->exec_cmd ? INT_MAX : 0) : cmd->max_args;
	if (a->nargs > max) {
		cli_error(cmd, "unexpected argument '%s'%s", a->args[max],
			  cmd->bit == C_RESTORE ? " (a command to run goes after --exec-cmd --)" : "");
		return -1;
	}
	if (a->nargs < cmd->min_args) {
		cli_error(cmd, "missing arguments: ferry %s %s", cmd->name, cmd->synopsis);
		return -1;
	}
	return 0;
}

int cli_parse(const struct cli_cmd *cmd, int argc, char **argv, struct cli_args *a)
{
	if (defaults(cmd, a) < 0) {
		cli_error(cmd, "out of memory");
		return -1;
	}
	if (wants_help(argc, argv)) {
		doc_help(stdout, cmd);
		return 1;
	}
	if (config_expand(cmd, argc, argv, &argc, &argv) < 0)
		return -1;
	struct option *longs;
	char shorts[128];
	if (build_getopt(cmd, &longs, shorts, sizeof(shorts)) < 0) {
		cli_error(cmd, "out of memory");
		return -1;
	}
	int c, r = 0;
	optind = 0;	/* a full reset: the parser may run more than once in a process */
	opterr = 0;
	while (r == 0 && (c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		int negated;
		const struct cli_opt *o = c == '?' || c == ':' ? NULL : entry_of(cmd, c, &negated);
		if (!o) {
			getopt_failure(cmd, c, argv);
			r = -1;
		} else {
			r = take(a, o, optarg, negated);
		}
	}
	free(longs);
	if (r < 0)
		return -1;
	a->args = argv + optind;
	a->nargs = argc - optind;
	if (a->tls && !a->tls_files && a->op) {	/* CRIU's defaults */
		ferry_op_set_str(a->op, "tls-cert", "/etc/pki/criu/cert.pem");
		ferry_op_set_str(a->op, "tls-key", "/etc/pki/criu/private/key.pem");
		ferry_op_set_str(a->op, "tls-cacert", "/etc/pki/CA/cacert.pem");
	}
	return check_args(cmd, a) < 0 || check_required(cmd, a) < 0 ? -1 : 0;
}

void cli_args_free(struct cli_args *a)
{
	ferry_op_free(a->op);
	free(a->scripts);
	a->op = NULL;
	a->scripts = NULL;
}
