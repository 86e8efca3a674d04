/* SPDX-License-Identifier: Apache-2.0 */
/* Operation statistics: recorded in the image (stats-dump.img, stats-restore.img), printed on request. */
#pragma once
#include <stdio.h>
#include "engine/context.h"

void stats_dump_finish(struct dump_ctx *ctx);
void stats_dump_print(const Ferry__DumpStats *s);
void stats_restore_print(const Ferry__RestoreStats *s);
