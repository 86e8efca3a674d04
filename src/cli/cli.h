/* SPDX-License-Identifier: Apache-2.0 */
/* Subcommands of the ferry CLI. Each parses its own options and returns the process exit code. */
#pragma once

int cmd_dump(int argc, char **argv);
int cmd_pre_dump(int argc, char **argv);
int cmd_page_server(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_check(int argc, char **argv);
/* -v, -vN, -vvv: CRIU's verbosity scale (0 silent … 4 debug). */
int cli_verbosity(const char *arg, int current);
