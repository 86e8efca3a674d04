/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Options of an operation by name (ferry.h): one table from the command line's long option
 * names to the fields of the engine's option structs, with the kinds that take each.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "lib/op.h"

enum { T_BOOL, T_INT, T_UINT, T_U64, T_STR };

#define DU (K_BIT(FERRY_OP_DUMP) | K_BIT(FERRY_OP_PRE_DUMP))
#define RE K_BIT(FERRY_OP_RESTORE)
#define PS K_BIT(FERRY_OP_PAGE_SERVER)
#define CK K_BIT(FERRY_OP_CHECK)
#define SV K_BIT(FERRY_OP_SERVE)
#define MI K_BIT(FERRY_OP_MIGRATE)
#define ANY 0xffffu
#define OFF(f) ((int)offsetof(struct ferry_op, f))
#define NO (-1)

struct lib_opt {
	const char *name;
	int type;
	unsigned kinds;
	int off[3];		/* where the value goes in struct ferry_op; NO: unused */
	long long min, max;	/* numbers */
};

static const struct lib_opt opts[] = {
	{ "images-dir", T_STR, ANY, { OFF(dir), OFF(dump.dir), OFF(restore.dir) } },
	{ "path", T_STR, K_BIT(FERRY_OP_SHOW), { OFF(path), NO, NO } },
	{ "file", T_STR, K_BIT(FERRY_OP_EXPORT) | K_BIT(FERRY_OP_IMPORT), { OFF(file), NO, NO } },
	{ "output", T_STR, K_BIT(FERRY_OP_MERGE), { OFF(output), NO, NO } },
	{ "log-file", T_STR, DU | RE | PS, { OFF(log_file), OFF(dump.log_file), OFF(restore.log_file) } },
	{ "work-dir", T_STR, DU | RE, { OFF(dump.work_dir), OFF(restore.work_dir), NO } },
	{ "verbosity", T_INT, ANY, { OFF(verbosity), NO, NO }, -1, 4 },
	{ "display-stats", T_BOOL, DU | RE, { OFF(dump.display_stats), OFF(restore.display_stats), NO } },
	{ "stats-json", T_STR, DU | RE | MI, { OFF(dump.stats_json), OFF(restore.stats_json), OFF(migrate.stats_json) } },
	{ "tree", T_INT, DU | MI, { OFF(dump.pid), OFF(migrate.pid), NO }, 1, 0x7fffffff },
	{ "leave-running", T_BOOL, DU, { OFF(dump.leave_running), NO, NO } },
	{ "leave-stopped", T_BOOL, DU | RE, { OFF(dump.leave_stopped), OFF(restore.leave_stopped), NO } },
	{ "track-mem", T_BOOL, DU, { OFF(dump.track_mem), NO, NO } },
	{ "prev-images-dir", T_STR, DU, { OFF(dump.prev_dir), NO, NO } },
	{ "timeout", T_UINT, DU, { OFF(dump.freeze_timeout), NO, NO }, 0, 365 * 86400 },
	{ "page-server", T_BOOL, DU, { OFF(page_server), NO, NO } },
	{ "address", T_STR, DU | PS, { OFF(remote.address), NO, NO } },
	{ "port", T_INT, DU | PS, { OFF(remote.port), NO, NO }, 0, 65535 },
	{ "insecure", T_BOOL, PS | SV, { OFF(remote.insecure), NO, NO } },
	{ "token-file", T_STR, DU | PS | SV | MI, { OFF(remote.token_file), NO, NO } },
	{ "tls-cert", T_STR, DU | PS | SV | MI, { OFF(remote.tls_cert), NO, NO } },
	{ "tls-key", T_STR, DU | PS | SV | MI, { OFF(remote.tls_key), NO, NO } },
	{ "tls-cacert", T_STR, DU | PS | SV | MI, { OFF(remote.tls_ca), NO, NO } },
	{ "encrypt-key", T_STR, ANY, { OFF(transform.key_file), OFF(restore.key_file), NO } },
	{ "shell-job", T_BOOL, DU | RE, { OFF(dump.shell_job), OFF(restore.shell_job), NO } },
	{ "tcp-established", T_BOOL, DU | RE, { OFF(dump.tcp_established), OFF(restore.tcp_established), NO } },
	{ "tcp-close", T_BOOL, DU | RE | MI, { OFF(dump.tcp_close), OFF(restore.tcp_close), OFF(migrate.tcp_close) } },
	{ "skip-in-flight", T_BOOL, DU, { OFF(dump.skip_in_flight), NO, NO } },
	{ "ext-unix-sk", T_BOOL, DU | RE, { OFF(dump.ext_unix_sk), OFF(restore.ext_unix_sk), NO } },
	{ "file-locks", T_BOOL, DU | RE, { OFF(dump.file_locks), OFF(restore.file_locks), NO } },
	{ "link-remap", T_BOOL, DU, { OFF(dump.link_remap), NO, NO } },
	{ "allow-changed-files", T_BOOL, RE | CK, { OFF(restore.allow_changed_files), NO, NO } },
	{ "ghost-limit", T_U64, DU, { OFF(dump.ghost_limit), NO, NO }, 0, -1 },
	{ "ghost-fiemap", T_BOOL, DU, { OFF(dump.ghost_fiemap), NO, NO } },
	{ "force-irmap", T_BOOL, DU, { OFF(dump.force_irmap), NO, NO } },
	{ "evasive-devices", T_BOOL, DU, { OFF(dump.evasive_devices), NO, NO } },
	{ "network-lock", T_STR, DU | RE, { OFF(dump.network_lock), OFF(restore.network_lock), NO } },
	{ "manage-cgroups", T_STR, DU | RE, { OFF(dump.manage_cgroups), OFF(restore.manage_cgroups), NO } },
	{ "restore-detached", T_BOOL, RE, { OFF(restore.detached), NO, NO } },
	{ "restore-sibling", T_BOOL, RE, { OFF(restore.restore_sibling), NO, NO } },
	{ "pidfile", T_STR, RE | PS, { OFF(pidfile), OFF(restore.pidfile), NO } },
	{ "cpu-cap", T_UINT, RE | CK, { OFF(cpu_cap), NO, NO }, 0, FERRY_CPU_CAP_ALL },
	{ "from-export", T_STR, RE, { OFF(from_export), NO, NO } },
	{ "image", T_STR, CK, { OFF(check_image), OFF(restore.dir), NO } },
	{ "forever", T_BOOL, PS, { OFF(forever), NO, NO } },
	{ "json", T_BOOL, CK, { OFF(json), NO, NO } },
	{ "feature", T_STR, CK, { OFF(feature), NO, NO } },
	{ "shim", T_BOOL, RE, { OFF(shim), NO, NO } },
	{ "shim-status-file", T_STR, RE, { OFF(shim_status_file), NO, NO } },
	{ "force", T_BOOL, MI, { OFF(migrate.force), NO, NO } },
};

void op_defaults(struct ferry_op *op)
{
	op->verbosity = -1;
	op->cpu_cap = FERRY_CPU_CAP_ALL;
	op->dump.ghost_fiemap = -1;
	op->dump.pre_dump = op->kind == FERRY_OP_PRE_DUMP;
	op->dump.track_mem = op->kind == FERRY_OP_PRE_DUMP;	/* as CRIU: a pre-dump tracks unless told not to */
	op->out = stdout;
	op->shim_fd = -1;
}

const char *op_strdup(struct ferry_op *op, const char *s)
{
	if (!s)
		return NULL;
	char **n = realloc(op->strs, (op->nstrs + 1) * sizeof(*n));
	if (!n)
		return NULL;
	op->strs = n;
	if (!(n[op->nstrs] = strdup(s)))
		return NULL;
	return n[op->nstrs++];
}

/* The option name for op, or NULL with *rc set (-ENOENT unknown, -ENOTSUP not of this kind, -EBUSY). */
static const struct lib_opt *find(ferry_op *op, const char *name, int *rc)
{
	*rc = -EINVAL;
	if (!op || !name)
		return NULL;
	*rc = -EBUSY;
	if (op->running)
		return NULL;
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		if (strcmp(opts[i].name, name))
			continue;
		*rc = (opts[i].kinds & K_BIT(op->kind)) ? 0 : -ENOTSUP;
		return *rc ? NULL : &opts[i];
	}
	*rc = -ENOENT;
	return NULL;
}

static int set_number(ferry_op *op, const struct lib_opt *o, long long v)
{
	if (o->type == T_STR)
		return fe_class(&op->err, FE_INVALID, fe_msg(&op->err, EINVAL, "option %s takes a string", o->name));
	if (o->type != T_U64 && (v < o->min || v > o->max) && o->type != T_BOOL)
		return fe_class(&op->err, FE_INVALID, fe_msg(&op->err, EINVAL, "option %s: %lld is out of range (%lld to %lld)",
							     o->name, v, o->min, o->max));
	if (o->type == T_U64 && v < 0)
		return fe_class(&op->err, FE_INVALID, fe_msg(&op->err, EINVAL, "option %s: %lld is negative", o->name, v));
	for (int k = 0; k < 3 && o->off[k] != NO; k++) {
		char *p = (char *)op + o->off[k];
		if (o->type == T_BOOL || o->type == T_INT)
			*(int *)p = o->type == T_BOOL ? v != 0 : (int)v;
		else if (o->type == T_UINT)
			*(unsigned *)p = (unsigned)v;
		else
			*(uint64_t *)p = (uint64_t)v;
	}
	return 0;
}

FERRY_API int ferry_op_set_bool(ferry_op *op, const char *name, int on)
{
	int rc;
	const struct lib_opt *o = find(op, name, &rc);
	if (o && o->type != T_BOOL)
		return fe_class(&op->err, FE_INVALID, fe_msg(&op->err, EINVAL, "option %s is not a boolean", name));
	return o ? set_number(op, o, on != 0) : rc;
}

FERRY_API int ferry_op_set_int(ferry_op *op, const char *name, long long value)
{
	int rc;
	const struct lib_opt *o = find(op, name, &rc);
	return o ? set_number(op, o, value) : rc;
}

/* irmap-scan-path: appended; NULL clears. */
static int irmap_add(ferry_op *op, const char *value)
{
	if (!value) {
		op->dump.n_irmap_scan_paths = 0;
		return 0;
	}
	const char *c = op_strdup(op, value);
	const char **n = c ? realloc(op->irmap, (op->dump.n_irmap_scan_paths + 1) * sizeof(*n)) : NULL;
	if (!n)
		return -ENOMEM;
	n[op->dump.n_irmap_scan_paths++] = c;
	op->irmap = n;
	op->dump.irmap_scan_paths = n;
	return 0;
}

static int compress(ferry_op *op, const char *value)
{
	if (!value) {
		op->transform.compress = COMPRESS_NONE;
		return 0;
	}
	if (transform_parse_compress(value, &op->transform.compress) < 0)
		return fe_class(&op->err, FE_INVALID, fe_msg(&op->err, EINVAL, "compress '%s': not zstd, lz4 or none", value));
	return 0;
}

/* serve "listen" (port 0: any) and migrate "to" (ADDR:PORT) into remote; NULL clears. */
static int endpoint(ferry_op *op, const char *value)
{
	int port = 0;
	if (!value) {
		op->remote.address = NULL;
		op->remote.port = 0;
		return 0;
	}
	int r = migrate_parse_endpoint(value, op->endpoint, sizeof(op->endpoint), &port, &op->err);
	if (r == 0 && op->kind == FERRY_OP_MIGRATE && port == 0)
		r = fe_msg(&op->err, EINVAL, "port 0: the destination's port is 1 to 65535");
	if (r < 0)
		return fe_class(&op->err, FE_INVALID, r);
	op->remote.address = op->endpoint;
	op->remote.port = port;
	return 0;
}

static int mode(ferry_op *op, const char *value)
{
	enum migrate_mode m = MIG_COLD;
	if (value && migrate_mode_parse(value, &m) < 0)
		return fe_class(&op->err, FE_INVALID, fe_msg(&op->err, EINVAL, "mode '%s': not a mode (cold, precopy, "
							     "postcopy or hybrid)", value));
	op->migrate.mode = m;
	return 0;
}

/* Options whose value is parsed when set: 1 when name is none of them (*rc untouched). */
static int set_parsed(ferry_op *op, const char *name, const char *value, int *rc)
{
	int dumps = op->kind == FERRY_OP_DUMP || op->kind == FERRY_OP_PRE_DUMP;
	if (!strcmp(name, "irmap-scan-path"))
		*rc = dumps ? irmap_add(op, value) : -ENOTSUP;
	else if (!strcmp(name, "compress"))
		*rc = dumps ? compress(op, value) : -ENOTSUP;
	else if (!strcmp(name, "listen"))
		*rc = op->kind == FERRY_OP_SERVE ? endpoint(op, value) : -ENOTSUP;
	else if (!strcmp(name, "to"))
		*rc = op->kind == FERRY_OP_MIGRATE ? endpoint(op, value) : -ENOTSUP;
	else if (!strcmp(name, "mode"))
		*rc = op->kind == FERRY_OP_MIGRATE ? mode(op, value) : -ENOTSUP;
	else
		return 1;
	return 0;
}

FERRY_API int ferry_op_set_str(ferry_op *op, const char *name, const char *value)
{
	int rc;
	if (name && op && !op->running && set_parsed(op, name, value, &rc) == 0)
		return rc;
	const struct lib_opt *o = find(op, name, &rc);
	if (!o)
		return rc;
	if (o->type != T_STR)
		return fe_class(&op->err, FE_INVALID, fe_msg(&op->err, EINVAL, "option %s is not a string", name));
	const char *c = op_strdup(op, value);
	if (value && !c)
		return -ENOMEM;
	for (int k = 0; k < 3 && o->off[k] != NO; k++)
		*(const char **)((char *)op + o->off[k]) = c;
	return 0;
}

FERRY_API int ferry_op_add_inherit_fd(ferry_op *op, int fd, const char *key)
{
	if (!op || op->running)
		return op ? -EBUSY : -EINVAL;
	if (op->kind != FERRY_OP_RESTORE)
		return -ENOTSUP;
	if (fd < 0 || !key)
		return -EINVAL;
	const char *k = op_strdup(op, key);
	struct inherit_fd *n = k ? realloc(op->inherit, (op->restore.n_inherit + 1) * sizeof(*n)) : NULL;
	if (!n)
		return -ENOMEM;
	n[op->restore.n_inherit++] = (struct inherit_fd){ .fd = fd, .key = k };
	op->inherit = n;
	op->restore.inherit = n;
	return 0;
}
