/* SPDX-License-Identifier: Apache-2.0 */
/* Statistics bookkeeping and their human form. */
#include <stdio.h>
#include "common/log.h"
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
