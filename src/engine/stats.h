/* SPDX-License-Identifier: Apache-2.0 */
/* Operation statistics: recorded in the image (stats-dump.img, stats-restore.img), printed on request. */
#pragma once
#include <stdio.h>
#include "engine/context.h"

void stats_dump_finish(struct dump_ctx *ctx);
void stats_dump_print(const Ferry__DumpStats *s);
void stats_restore_print(const Ferry__RestoreStats *s);
/*
 * The statistics as one JSON object ({"operation": "dump", "frozen_us": …}: every field of the
 * record, 0 when unset) into path, or stdout for "-". 0 or -errno (logged, naming the file).
 */
int stats_dump_json(const Ferry__DumpStats *s, const char *path);
int stats_restore_json(const Ferry__RestoreStats *s, const char *path);
