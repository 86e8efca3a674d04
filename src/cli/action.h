/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRIU's --action-script: each script runs at each stage of a dump or restore with
 * CRTOOLS_SCRIPT_ACTION naming the stage, CRTOOLS_IMAGE_DIR the image directory and
 * CRTOOLS_INIT_PID the root of the tree. A script that fails fails the operation. Each stage
 * is a fault point, action-<stage>, passed with or without scripts (common/error.h).
 */
#pragma once
#include <sys/types.h>
#include "cli/options.h"

/* Runs every --action-script for stage; 0, or -1 after printing which script failed how. */
int action_run(const struct cli_args *a, const char *stage, pid_t root);
/* A ferry_stage_fn (ferry.h) running the scripts; arg is the struct cli_args. */
int action_hook(void *arg, const char *stage, pid_t root);
