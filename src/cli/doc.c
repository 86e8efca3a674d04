/* SPDX-License-Identifier: Apache-2.0 */
/* --help, man pages, bash completion and docs/CLI.md, all from the option table (doc.h). */
#include <stdio.h>
#include <string.h>
#include "cli/doc.h"
#include "ferry/ferry.h"

#define HELP_COL 30
#define HELP_WIDTH 100

static const char *const state_title[] = {
	[OPT_YES] = "Options",
	[OPT_NOOP] = "CRIU options accepted with no effect here",
	[OPT_LATER] = "CRIU options not supported yet (refused with a message)",
};

static int on(const struct cli_opt *o, const struct cli_cmd *cmd)
{
	return (o->cmds & cmd->bit) != 0;
}

/* "-t, --tree PID", "--verbosity[=N]"... */
static void label(char *buf, size_t len, const struct cli_opt *o)
{
	char arg[64] = "", sarg[64] = "";
	if (o->arg == ARG_REQ) {
		snprintf(arg, sizeof(arg), " %s", o->meta);
	} else if (o->arg == ARG_OPT) {
		snprintf(arg, sizeof(arg), "[=%s]", o->meta);
		snprintf(sarg, sizeof(sarg), "[%s]", o->meta);
	}
	if (o->shrt)
		snprintf(buf, len, "-%c%s, --%s%s", o->shrt, sarg, o->name, arg);
	else
		snprintf(buf, len, "    --%s%s", o->name, arg);
}

/* Words of text from column `col` to HELP_WIDTH, continuation lines indented to col. */
static void wrap(FILE *out, const char *text, int col, int at)
{
	const char *p = text;
	while (*p) {
		size_t room = (size_t)(HELP_WIDTH - at), n = strlen(p);
		if (n > room) {
			n = room;
			while (n > 0 && p[n] != ' ')
				n--;
			if (n == 0)
				n = strcspn(p, " ");
		}
		fprintf(out, "%.*s\n", (int)n, p);
		p += n;
		while (*p == ' ')
			p++;
		if (*p)
			fprintf(out, "%*s", col, "");
		at = col;
	}
}

static void help_options(FILE *out, const struct cli_cmd *cmd, enum opt_state st)
{
	int any = 0;
	for (size_t i = 0; i < cli_nopts; i++) {
		const struct cli_opt *o = &cli_opts[i];
		if (!on(o, cmd) || o->state != st)
			continue;
		if (!any++)
			fprintf(out, "\n%s:\n", state_title[st]);
		char l[96];
		label(l, sizeof(l), o);
		int n = fprintf(out, "  %s", l);
		if (n >= HELP_COL - 1) {
			fprintf(out, "\n%*s", HELP_COL, "");
			n = HELP_COL;
		} else {
			fprintf(out, "%*s", HELP_COL - n, "");
			n = HELP_COL;
		}
		wrap(out, o->help, HELP_COL, n);
	}
}

void doc_help(FILE *out, const struct cli_cmd *cmd)
{
	fprintf(out, "usage: ferry %s %s\n", cmd->name, cmd->synopsis);
	fprintf(out, "%c%s.\n", cmd->summary[0] - 'a' + 'A', cmd->summary + 1);
	int negatable = 0;
	for (int st = OPT_YES; st <= OPT_LATER; st++)
		help_options(out, cmd, (enum opt_state)st);
	for (size_t i = 0; i < cli_nopts; i++)
		negatable |= on(&cli_opts[i], cmd) && cli_opt_negatable(&cli_opts[i]);
	fputc('\n', out);
	if (negatable)
		fputs("Options without an argument also take a no- prefix (--no-shell-job); the last one wins.\n", out);
	fprintf(out, "Exit status: 0 done, 1 failed, 2 refused command line. More: man ferry-%s.\n", cmd->name);
}

void doc_usage(FILE *out)
{
	fprintf(out, "usage: ferry COMMAND [OPTION]...\n       ferry --version\n\ncommands:\n");
	for (size_t i = 0; i < cli_ncmds; i++)
		fprintf(out, "  %-12s %s\n", cli_cmds[i].name, cli_cmds[i].summary);
	fprintf(out, "\n'ferry COMMAND --help' (or 'ferry help COMMAND') shows a command's options; man ferry.\n");
}

void doc_version(FILE *out)
{
	int im = 0, in = 0, pm = 0, pn = 0, em = 0, en = 0;
	ferry_format_version("image", &im, &in);
	ferry_format_version("protocol", &pm, &pn);
	ferry_format_version("encoding", &em, &en);
	fprintf(out, "ferry %s\nimage format %d.%d\npage-server protocol %d.%d\nencoded image format %d\n", ferry_version(),
		im, in, pm, pn, em);
}

/* ---------------------------------------------------------------- man pages */

/* Text for roff: backslashes escaped, '-' as \-, no line starting with a control character. */
static void roff(FILE *out, const char *s)
{
	for (const char *p = s; *p; p++) {
		if ((p == s || p[-1] == '\n') && (*p == '.' || *p == '\''))
			fputs("\\&", out);
		if (*p == '\\')
			fputs("\\e", out);
		else if (*p == '-')
			fputs("\\-", out);
		else
			fputc(*p, out);
	}
}

static void roff_paragraphs(FILE *out, const char *text)
{
	for (const char *p = text; *p;) {
		const char *end = strstr(p, "\n\n");
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char buf[4096];
		snprintf(buf, sizeof(buf), "%.*s", (int)n, p);
		fputs(".PP\n", out);
		roff(out, buf);
		fputc('\n', out);
		p += n;
		while (*p == '\n')
			p++;
	}
}

static void man_option(FILE *out, const struct cli_opt *o)
{
	fputs(".TP\n.B ", out);
	if (o->shrt) {
		fprintf(out, "\\-%c", o->shrt);
		if (o->arg == ARG_OPT)
			fprintf(out, "[\\fI%s\\fB]", o->meta);
		fputs(", ", out);
	}
	fputs("\\-\\-", out);
	roff(out, o->name);
	if (o->arg == ARG_REQ)
		fprintf(out, " \\fI%s\\fR", o->meta);
	else if (o->arg == ARG_OPT)
		fprintf(out, "[=\\fI%s\\fB]", o->meta);
	fputc('\n', out);
	roff(out, o->help);
	fputs(".", out);
	if (o->more) {
		fputc(' ', out);
		roff(out, o->more);
	}
	fputc('\n', out);
}

static void man_head(FILE *out, const char *title, const char *name, const char *summary)
{
	fprintf(out, ".\\\" SPDX-License-Identifier: Apache-2.0\n"
		     ".\\\" Generated by ferry-gendoc from src/cli/opttab.c: edit that, not this.\n"
		     ".TH %s 8 \"\" \"ferry %s\" \"ferry manual\"\n.SH NAME\n", title, FERRY_VERSION);
	roff(out, name);
	fputs(" \\- ", out);
	roff(out, summary);
	fputc('\n', out);
}

static void man_command(FILE *out, const struct cli_cmd *cmd)
{
	char title[64], name[64];
	snprintf(name, sizeof(name), "ferry-%s", cmd->name);
	snprintf(title, sizeof(title), "FERRY-%s", cmd->name);
	for (char *p = title; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
	man_head(out, title, name, cmd->summary);
	fprintf(out, ".SH SYNOPSIS\n.B ferry %s\n", cmd->name);
	roff(out, cmd->synopsis);
	fputs("\n.SH DESCRIPTION\n", out);
	roff_paragraphs(out, cmd->description);
	static const char *const sections[] = {
		[OPT_YES] = "OPTIONS",
		[OPT_NOOP] = "ACCEPTED WITH NO EFFECT",
		[OPT_LATER] = "NOT SUPPORTED YET",
	};
	for (int st = OPT_YES; st <= OPT_LATER; st++) {
		int any = 0;
		for (size_t i = 0; i < cli_nopts; i++) {
			const struct cli_opt *o = &cli_opts[i];
			if (!on(o, cmd) || o->state != (enum opt_state)st)
				continue;
			if (!any++)
				fprintf(out, ".SH \"%s\"\n", sections[st]);
			man_option(out, o);
		}
		int negatable = 0;
		for (size_t i = 0; i < cli_nopts; i++)
			negatable |= on(&cli_opts[i], cmd) && cli_opt_negatable(&cli_opts[i]);
		if (any && st == OPT_YES && negatable)
			fputs(".PP\nOptions without an argument also take a \\fBno\\-\\fR prefix "
			      "(\\fB\\-\\-no\\-shell\\-job\\fR); the last one given wins.\n", out);
	}
	fputs(".SH \"EXIT STATUS\"\n0 done, 1 failed (the message names the object and the process), "
	      "2 the command line was refused (nothing was done).\n", out);
	if (cmd->bit == C_RESTORE)
		fputs("Without \\-d, the restored root's exit status (128+N when signal N killed it).\n", out);
	fputs(".SH \"SEE ALSO\"\n.BR ferry (8),\n.BR criu (8)\n", out);
}

static void man_ferry(FILE *out)
{
	man_head(out, "FERRY", "ferry", "checkpoint/restore for Linux process trees");
	fputs(".SH SYNOPSIS\n.B ferry\n\\fICOMMAND\\fR [\\fIOPTION\\fR]...\n.br\n.B ferry \\-\\-version\n"
	      ".SH DESCRIPTION\n", out);
	roff_paragraphs(out, "ferry freezes a running process tree with all its threads, saves its whole state as an "
			     "image directory and restores it, at the same PIDs, on this machine or another, so that it "
			     "goes on where it stopped. Incremental checkpoints (pre-dump) copy memory while the tree "
			     "runs; images can be compressed, encrypted and streamed to a page server.\n\n"
			     "Commands and options follow CRIU's (criu(8)): scripts written for CRIU work. Each option "
			     "of dump, pre-dump and restore is honoured, accepted with no effect where that is exactly "
			     "its meaning for ferry, or refused with \"not supported yet\": each command's page lists "
			     "them in those three groups.");
	fputs(".SH COMMANDS\n", out);
	for (size_t i = 0; i < cli_ncmds; i++) {
		fprintf(out, ".TP\n.B %s\n", cli_cmds[i].name);
		roff(out, cli_cmds[i].summary);
		fprintf(out, ": see\n.BR ferry\\-%s (8).\n", cli_cmds[i].name);
	}
	fputs(".SH OPTIONS\n.TP\n.B \\-h, \\-\\-help\nthe commands; with a command, its options.\n"
	      ".TP\n.B \\-V, \\-\\-version\nferry's version, the image format, the page-server protocol and the "
	      "encoded (compressed, encrypted) image format versions.\n", out);
	fputs(".SH \"EXIT STATUS\"\n0 done, 1 failed, 2 the command line was refused.\n", out);
	fputs(".SH FILES\nAn image directory holds inventory.img (written last: without it there is no image), "
	      "pstree.img, core\\-PID.img, mm\\-PID.img, pagemap\\-PID.img, pages\\-PID.img, fds\\-PID.img, files.img "
	      "and the files of each kind of object; stats\\-dump.img, stats\\-restore.img, dump.log and "
	      "restore.log are records of operations, written into the work directory (\\-W, else \\-D).\n", out);
	fputs(".SH \"SEE ALSO\"\n", out);
	for (size_t i = 0; i < cli_ncmds; i++)
		fprintf(out, ".BR ferry\\-%s (8),\n", cli_cmds[i].name);
	fputs(".BR criu (8)\n", out);
}

void doc_man(FILE *out, const struct cli_cmd *cmd)
{
	if (cmd)
		man_command(out, cmd);
	else
		man_ferry(out);
}

/* ---------------------------------------------------------------- bash completion */

static void bash_words(FILE *out, const struct cli_cmd *cmd)
{
	for (size_t i = 0; i < cli_nopts; i++) {
		const struct cli_opt *o = &cli_opts[i];
		int dup = 0;
		for (size_t k = 0; k < i && !dup; k++)
			dup = on(&cli_opts[k], cmd) && !strcmp(cli_opts[k].name, o->name);
		if (!on(o, cmd) || dup)
			continue;
		fprintf(out, " --%s", o->name);
		if (o->shrt)
			fprintf(out, " -%c", o->shrt);
	}
}

/* Completion of an option's argument, by the kind of its metavariable. */
static const char *bash_arg(const struct cli_opt *o)
{
	if (!strcmp(o->meta, "DIR"))
		return "COMPREPLY=($(compgen -d -- \"$cur\"))";
	if (!strcmp(o->meta, "FILE"))
		return "COMPREPLY=($(compgen -f -- \"$cur\"))";
	if (!strcmp(o->meta, "PID"))
		return "COMPREPLY=($(compgen -W \"$(cd /proc && echo [0-9]*)\" -- \"$cur\"))";
	if (!strcmp(o->meta, "ALG"))
		return "COMPREPLY=($(compgen -W \"zstd lz4 none\" -- \"$cur\"))";
	if (!strcmp(o->meta, "METHOD"))
		return "COMPREPLY=($(compgen -W \"iptables nftables skip\" -- \"$cur\"))";
	return "COMPREPLY=()";
}

void doc_bash(FILE *out)
{
	fputs("# SPDX-License-Identifier: Apache-2.0\n"
	      "# bash completion for ferry. Generated by ferry-gendoc from src/cli/opttab.c: edit that, not this.\n"
	      "_ferry() {\n"
	      "\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd= i\n"
	      "\tfor ((i = 1; i < COMP_CWORD; i++)); do\n"
	      "\t\tcase ${COMP_WORDS[i]} in -*) ;; *) cmd=${COMP_WORDS[i]}; break ;; esac\n"
	      "\tdone\n"
	      "\tif [ -z \"$cmd\" ]; then\n"
	      "\t\tCOMPREPLY=($(compgen -W \"help --help --version", out);
	for (size_t i = 0; i < cli_ncmds; i++)
		fprintf(out, " %s", cli_cmds[i].name);
	fputs("\" -- \"$cur\"))\n\t\treturn\n\tfi\n\tcase $prev in\n", out);
	for (size_t i = 0; i < cli_nopts; i++) {
		const struct cli_opt *o = &cli_opts[i];
		int dup = 0;
		for (size_t k = 0; k < i && !dup; k++)
			dup = !strcmp(cli_opts[k].name, o->name);
		if (o->arg != ARG_REQ || dup)
			continue;
		fprintf(out, "\t--%s", o->name);
		if (o->shrt)
			fprintf(out, "|-%c", o->shrt);
		fprintf(out, ") %s; return ;;\n", bash_arg(o));
	}
	fputs("\tesac\n\tlocal opts\n\tcase $cmd in\n", out);
	for (size_t i = 0; i < cli_ncmds; i++) {
		fprintf(out, "\t%s) opts=\"", cli_cmds[i].name);
		bash_words(out, &cli_cmds[i]);
		fputs("\" ;;\n", out);
	}
	fputs("\thelp) COMPREPLY=($(compgen -W \"", out);
	for (size_t i = 0; i < cli_ncmds; i++)
		fprintf(out, "%s%s", i ? " " : "", cli_cmds[i].name);
	fputs("\" -- \"$cur\")); return ;;\n"
	      "\t*) return ;;\n\tesac\n"
	      "\tif [ \"$cmd\" = image ] && [ \"$prev\" = image ]; then\n"
	      "\t\tCOMPREPLY=($(compgen -W \"verify merge\" -- \"$cur\"))\n"
	      "\telif [[ $cur == -* ]]; then\n"
	      "\t\tCOMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
	      "\telse\n"
	      "\t\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n"
	      "\tfi\n}\ncomplete -F _ferry ferry\n", out);
}

/* ---------------------------------------------------------------- docs/CLI.md */

static void md_cell(FILE *out, const char *s)
{
	for (const char *p = s; *p; p++)
		fputs(*p == '|' ? "\\|" : (char[]){ *p, 0 }, out);
}

static void md_command(FILE *out, const struct cli_cmd *cmd)
{
	static const char *const state[] = { [OPT_YES] = "yes", [OPT_NOOP] = "no effect", [OPT_LATER] = "not yet" };
	fprintf(out, "\n## ferry %s\n\n`ferry %s %s` — %s.\n\n", cmd->name, cmd->name, cmd->synopsis, cmd->summary);
	for (const char *p = cmd->description; *p;) {
		const char *end = strstr(p, "\n\n");
		size_t n = end ? (size_t)(end - p) : strlen(p);
		fprintf(out, "%.*s\n\n", (int)n, p);
		p += n;
		while (*p == '\n')
			p++;
	}
	fputs("| option | honoured | meaning |\n|---|---|---|\n", out);
	for (size_t i = 0; i < cli_nopts; i++) {
		const struct cli_opt *o = &cli_opts[i];
		if (!on(o, cmd))
			continue;
		char l[96];
		label(l, sizeof(l), o);
		fprintf(out, "| `%s` | %s | ", l + strspn(l, " "), state[o->state]);
		md_cell(out, o->help);
		if (o->more) {
			fputs(". ", out);
			md_cell(out, o->more);
		}
		fputs(" |\n", out);
	}
}

void doc_markdown(FILE *out)
{
	fputs("<!-- SPDX-License-Identifier: Apache-2.0 -->\n"
	      "<!-- Generated by ferry-gendoc from src/cli/opttab.c (`build/src/ferry-gendoc markdown docs/CLI.md`): edit that. -->\n"
	      "# The ferry command line\n\n"
	      "Commands and options follow CRIU's (criu(8)), so scripts and test suites written for CRIU run "
	      "unchanged. Each option is *honoured* (yes), *accepted with no effect* where that is exactly its "
	      "meaning for ferry (the reason is given), or *refused* with \"not supported yet\" (not yet). Options "
	      "without an argument also take a `no-` prefix (`--no-track-mem`). Numbers are strict: a PID, port, "
	      "descriptor, size or level that is not entirely a number in range is refused with a message naming "
	      "the option and the value, and exit status 2.\n\n"
	      "The same table (src/cli/opttab.c) produces each command's `--help`, the man pages ferry(8) and "
	      "ferry-COMMAND(8), the bash completion, and this page.\n\n"
	      "`ferry --version` prints:\n\n```\n", out);
	doc_version(out);
	fputs("```\n", out);
	for (size_t i = 0; i < cli_ncmds; i++)
		md_command(out, &cli_cmds[i]);
}
