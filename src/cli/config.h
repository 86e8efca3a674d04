/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRIU's --config FILE: one option per line without its leading "--", an argument after
 * whitespace (in double quotes if it holds spaces; \" inside), # starts a comment. The options of
 * every --config come first, in order, then the command line's, so the command line wins.
 */
#pragma once
#include "cli/opttab.h"

/*
 * *nargv: argv[0], the options of each --config file, then argv[1..] (malloc'd, kept for the life
 * of the process). 0, or -1 after printing which file and line is wrong.
 */
int config_expand(const struct cli_cmd *cmd, int argc, char **argv, int *nargc, char ***nargv);
