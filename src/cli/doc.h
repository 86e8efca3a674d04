/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Everything said about the command line, rendered from the option table (opttab.h): --help,
 * the man pages, the bash completion and docs/CLI.md. ferry-gendoc (gendoc.c) writes the last
 * three at build time.
 */
#pragma once
#include <stdio.h>
#include "cli/opttab.h"

/* `ferry COMMAND --help` */
void doc_help(FILE *out, const struct cli_cmd *cmd);
/* `ferry --help`: the commands */
void doc_usage(FILE *out);
/* `ferry --version`: the program, image format and protocol versions */
void doc_version(FILE *out);
/* ferry(8) when cmd is NULL, else ferry-CMD(8), as roff */
void doc_man(FILE *out, const struct cli_cmd *cmd);
/* The bash completion script */
void doc_bash(FILE *out);
/* docs/CLI.md */
void doc_markdown(FILE *out);
