/* SPDX-License-Identifier: Apache-2.0 */
/* Statistics bookkeeping, their human form and their JSON form. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include "common/log.h"
#include "common/safefile.h"
#include "common/util.h"
#include "engine/stats.h"

#define SET(s, f, v) do { (s)->has_##f = 1; (s)->f = (v); } while (0)

void stats_dump_finish(struct dump_ctx *ctx)
{
	Ferry__DumpStats *s = &ctx->stats;
	uint64_t now = now_us();
	SET(s, frozen_us, now - ctx->t_frozen);
	SET(s, total_us, now - ctx->t_start);
	SET(s, memdump_us, s->memdump_us);
	SET(s, pages_scanned, s->pages_scanned);
	SET(s, pages_written, s->pages_written);
	SET(s, bytes_written, s->bytes_written);
	SET(s, tasks, s->tasks);
	SET(s, threads, s->threads);
	SET(s, vmas, s->vmas);
	SET(s, pages_in_parent, s->pages_in_parent);
}

void stats_dump_print(const Ferry__DumpStats *s)
{
	pr_msg("Dump statistics\n"
	       "  frozen time       %10.3f ms\n"
	       "  memory copy time  %10.3f ms\n"
	       "  total time        %10.3f ms\n"
	       "  pages scanned     %10llu\n"
	       "  pages written     %10llu\n"
	       "  tasks / threads   %6u / %u\n"
	       "  vmas              %10u\n",
	       s->frozen_us / 1000.0, s->memdump_us / 1000.0, s->total_us / 1000.0,
	       (unsigned long long)s->pages_scanned, (unsigned long long)s->pages_written,
	       s->tasks, s->threads, s->vmas);
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

/* Every integer field of a stats record, by the names of ferry.proto. */
static json_t *stats_to_json(const ProtobufCMessage *m, const char *op)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	json_t *j = json_object();
	if (!j)
		return NULL;
	json_object_set_new(j, "operation", json_string(op));
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *p = (const char *)m + f->offset;
		json_int_t v;
		switch (f->type) {
		case PROTOBUF_C_TYPE_UINT64: { uint64_t x; memcpy(&x, p, 8); v = (json_int_t)x; break; }
		case PROTOBUF_C_TYPE_UINT32: { uint32_t x; memcpy(&x, p, 4); v = x; break; }
		case PROTOBUF_C_TYPE_INT32: { int32_t x; memcpy(&x, p, 4); v = x; break; }
		case PROTOBUF_C_TYPE_INT64: { int64_t x; memcpy(&x, p, 8); v = x; break; }
		default: continue;
		}
		json_object_set_new(j, f->name, json_integer(v));
	}
	return j;
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

static int stats_json(const ProtobufCMessage *m, const char *op, const char *path)
{
	json_t *j = stats_to_json(m, op);
	int r = j ? write_json(j, path) : -ENOMEM;
	json_decref(j);
	if (r < 0)
		pr_err("cannot write the %s statistics to %s: %s\n", op, path, strerror(-r));
	return r;
}

int stats_dump_json(const Ferry__DumpStats *s, const char *path)
{
	return stats_json(&s->base, "dump", path);
}

int stats_restore_json(const Ferry__RestoreStats *s, const char *path)
{
	return stats_json(&s->base, "restore", path);
}
