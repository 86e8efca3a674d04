/* SPDX-License-Identifier: Apache-2.0 */
/* Statistics bookkeeping, their human form and their JSON form (by the protobuf descriptor). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#define LOG_PREFIX "stats: "
#include "common/log.h"
#include "common/safefile.h"
#include "common/util.h"
#include "engine/stats.h"
#include "transform/transform.h"

#define SET(s, f, v) do { (s)->has_##f = 1; (s)->f = (v); } while (0)

void record_path(char *buf, size_t len, const char *work_dir, const char *dir, const char *name)
{
	const char *base = work_dir ? work_dir : dir;
	if (name[0] == '/')
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "%s/%s", base, name);
}

void stats_dump_finish(struct dump_ctx *ctx)
{
	Ferry__DumpStats *s = &ctx->stats;
	uint64_t now = now_us();
	SET(s, frozen_us, ctx->t_thawed - ctx->t_frozen);
	SET(s, total_us, now - ctx->t_start);
	SET(s, memdump_us, s->memdump_us);
	SET(s, pages_scanned, s->pages_scanned);
	SET(s, pages_written, s->pages_written);
	SET(s, bytes_written, s->bytes_written);
	SET(s, tasks, s->tasks);
	SET(s, threads, s->threads);
	SET(s, vmas, s->vmas);
	SET(s, pages_in_parent, s->pages_in_parent);
	SET(s, tracking_lost, s->tracking_lost);
}

static void stats_dump_print(const Ferry__DumpStats *s, int pre)
{
	pr_msg("%s statistics\n"
	       "  frozen time       %10.3f ms\n"
	       "  memory copy time  %10.3f ms\n"
	       "  total time        %10.3f ms\n"
	       "  pages scanned     %10llu\n"
	       "  pages written     %10llu\n"
	       "  pages in parent   %10llu\n"
	       "  tasks / threads   %6u / %u\n"
	       "  vmas              %10u\n"
	       "  tracking lost     %10s\n",
	       pre ? "Pre-dump" : "Dump", s->frozen_us / 1000.0, s->memdump_us / 1000.0, s->total_us / 1000.0,
	       (unsigned long long)s->pages_scanned, (unsigned long long)s->pages_written,
	       (unsigned long long)s->pages_in_parent, s->tasks, s->threads, s->vmas, s->tracking_lost ? "yes" : "no");
}

void stats_restore_print(const Ferry__RestoreStats *s)
{
	pr_msg("Restore statistics\n"
	       "  verify time       %10.3f ms\n"
	       "  forking time      %10.3f ms\n"
	       "  memory fill time  %10.3f ms\n"
	       "  total time        %10.3f ms\n"
	       "  pages restored    %10llu\n"
	       "  tasks / threads   %6u / %u\n",
	       s->verify_us / 1000.0, s->forking_us / 1000.0, s->memrestore_us / 1000.0,
	       s->total_us / 1000.0, (unsigned long long)s->pages_restored, s->tasks, s->threads);
}

static int field_is_set(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *p = (const char *)m + f->offset;
	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return 1;
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return 0;	/* statistics are scalars */
	if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE ||
	    f->type == PROTOBUF_C_TYPE_BYTES)
		return f->type != PROTOBUF_C_TYPE_BYTES && *(void *const *)p != NULL;
	return f->quantifier_offset && *(const protobuf_c_boolean *)((const char *)m + f->quantifier_offset);
}

static json_t *scalar_json(const ProtobufCFieldDescriptor *f, const char *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: {
		uint64_t x;
		memcpy(&x, p, 8);
		return json_integer((json_int_t)x);
	}
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64: {
		int64_t x;
		memcpy(&x, p, 8);
		return json_integer(x);
	}
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: {
		uint32_t x;
		memcpy(&x, p, 4);
		return json_integer(x);
	}
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_ENUM: {
		int32_t x;
		memcpy(&x, p, 4);
		return json_integer(x);
	}
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_FLOAT:
		return json_real(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return json_real(*(const double *)p);
	case PROTOBUF_C_TYPE_STRING:
		return json_string(*(char *const *)p);
	default:
		return NULL;
	}
}

/* {"operation": op, then every set field of m by its name in ferry.proto}. */
static json_t *stats_to_json(const ProtobufCMessage *m, const char *op)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	json_t *j = json_object();
	if (!j || json_object_set_new(j, "operation", json_string(op)) < 0) {
		json_decref(j);
		return NULL;
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (!field_is_set(m, f))
			continue;
		json_t *v = scalar_json(f, (const char *)m + f->offset);
		if (v && json_object_set_new(j, f->name, v) < 0) {
			json_decref(j);
			return NULL;
		}
	}
	return j;
}

/* The set scalar fields of m as numbers (booleans 0/1) into r, by their names in ferry.proto. */
void stats_to_report(struct op_report *r, const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	r->nstats = 0;
	for (unsigned i = 0; i < d->n_fields && r->nstats < OP_MAX_STATS; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *p = (const char *)m + f->offset;
		uint64_t v;
		if (!field_is_set(m, f))
			continue;
		switch (f->type) {
		case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: memcpy(&v, p, 8); break;
		case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: v = *(const uint32_t *)p; break;
		case PROTOBUF_C_TYPE_BOOL: v = *(const protobuf_c_boolean *)p != 0; break;
		default: continue;
		}
		r->stat_name[r->nstats] = f->name;
		r->stat_value[r->nstats++] = v;
	}
}

/* Published whole under its name (safefile.h): a reader never sees half a file, a link is not followed. */
static int write_json(json_t *j, const char *path)
{
	if (!strcmp(path, "-")) {
		int r = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		fflush(stdout);
		return r < 0 ? -EIO : 0;
	}
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!text)
		return -ENOMEM;
	size_t n = strlen(text);
	text[n] = '\n';	/* json_dumps's NUL becomes the final newline */
	int r = safe_write_path(path, text, n + 1, 0644, NULL);
	free(text);
	return r;
}

int stats_json_write(const ProtobufCMessage *m, const char *op, const char *path)
{
	json_t *j = stats_to_json(m, op);
	int r = j ? write_json(j, path) : -ENOMEM;
	json_decref(j);
	if (r < 0)
		pr_err("cannot write the %s statistics to %s: %s\n", op, path, strerror(-r));
	return r;
}

int stats_write_img(int dirfd, const struct img_ident *ident, const struct transform_opts *to, enum img_kind kind,
		    const ProtobufCMessage *m, struct ferry_err *err)
{
	struct img_sink local, *s = &local;
	img_sink_local(&local, dirfd);
	memcpy(local.ident, ident->id, IMG_ID_LEN);
	int r = to ? transform_sink_wrap(&local, to, &s, err) : 0;
	if (r == 0)
		r = img_write_msg_to(s, kind, 0, m, err);
	if (s != &local)
		s->ops->close(s, r == 0, err);
	return r;
}

void stats_dump_report(struct dump_ctx *ctx)
{
	const struct dump_opts *o = ctx->opts;
	const Ferry__DumpStats *s = &ctx->stats;
	struct ferry_err err = { 0 };
	if (s->tracking_lost)
		pr_warn("the dirty-page tracking of %s was lost (no tracking, or its holder is gone): this %s "
			"copied every present page, not only those written since\n", o->prev_dir,
			o->pre_dump ? "pre-dump" : "dump");
	int r = fault_point("dump-write-stats") ? fe_msg(&err, EIO, "fault injected") : 0;
	if (r == 0 && o->cancel && *o->cancel) {
		pr_warn("cancelled too late: the image in %s is whole and the tree %s; no statistics written\n", o->dir,
			o->pre_dump || o->leave_running ? "runs on" : o->leave_stopped ? "stays stopped" : "was killed");
		return;
	}
	if (r == 0)
		r = stats_write_img(ctx->work_dirfd >= 0 ? ctx->work_dirfd : ctx->dirfd, &ctx->ident, o->transform,
				    IMG_STATS_DUMP, &s->base, &err);
	if (r < 0)
		pr_warn("stats-dump.img not written: %s\n", fe_str(&err, r));
	if (o->display_stats)
		stats_dump_print(s, o->pre_dump);
	if (o->stats_json)
		stats_json_write(&s->base, o->pre_dump ? "pre-dump" : "dump", o->stats_json);
}
