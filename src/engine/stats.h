/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Operation statistics: one record per operation (stats-dump.img, stats-restore.img), the same
 * numbers printed (--display-stats) and as JSON (--stats-json). Times are measured once: the
 * frozen time runs from the freeze to the moment the tree runs again or is killed, so the
 * record of a dump is written after that moment, into the work directory.
 */
#pragma once
#include <stdio.h>
#include "engine/context.h"

/* Fills the counters and times of a finished dump (after the tree was released or killed). */
void stats_dump_finish(struct dump_ctx *ctx);
/*
 * Past the point of no return of a dump that succeeded: writes stats-dump.img into the work
 * directory (-W, else the image directory), then prints and writes JSON as the options ask,
 * and warns when the chain's dirty-page tracking was lost. Failures are logged. No record,
 * printed or written, once the dump was cancelled (dump_opts.cancel): it would show a run that
 * was asked to stop as one that simply completed.
 */
void stats_dump_report(struct dump_ctx *ctx);
/*
 * A statistics record (kind) written whole into dirfd as a file of the image ident belongs to:
 * stamped with its identity and encoded as it is (to: NULL for plain), so that verify, show
 * and merge read it like the image's other files. 0 or -errno with err filled.
 */
int stats_write_img(int dirfd, const struct img_ident *ident, const struct transform_opts *to, enum img_kind kind,
		    const ProtobufCMessage *m, struct ferry_err *err);
void stats_restore_print(const Ferry__RestoreStats *s);
/* The statistics record m as name/value pairs into r (engine.h): its set scalar fields. */
void stats_to_report(struct op_report *r, const ProtobufCMessage *m);
/*
 * The statistics as one JSON object into path, or stdout for "-": {"operation": "dump" or
 * "pre-dump" or "restore", then every field that is set, by its name in ferry.proto (integers,
 * booleans as true/false)}. 0 or -errno (logged, naming the file).
 */
int stats_json_write(const ProtobufCMessage *m, const char *operation, const char *path);
/*
 * Where an operation's records (its log, its statistics) go: name itself when absolute, else
 * name inside work_dir (-W), else inside the image directory dir.
 */
void record_path(char *buf, size_t len, const char *work_dir, const char *dir, const char *name);
