/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A progress line on stderr for long copies, only on a terminal and after a second
 * (FERRY_PROGRESS_DELAY_MS overrides the delay): the amount, and when the total is known the
 * total, a percentage and an ETA; the rate; and what the tree is doing meanwhile (frozen,
 * running, not yet running).
 */
#pragma once
#include <stdint.h>

struct progress {
	int enabled;		/* asked for and stderr is a terminal */
	int shown;
	uint64_t t0, last_us, delay_us, bytes;
	uint64_t total;		/* 0: unknown */
	const char *verb;	/* "copied" */
	const char *state;	/* "tree frozen"; NULL: not said */
	struct op_report *report;	/* NULL, or told every step (engine.h) */
	int tree;		/* enum op_tree, for report */
};
/* Every step of p is also told to report (NULL: none), with the tree doing tree. */
void progress_report(struct progress *p, struct op_report *report, int tree);

void progress_start(struct progress *p, int wanted, const char *verb);
/* What the whole copy amounts to and the tree's state meanwhile (either may be 0/NULL). */
void progress_set_total(struct progress *p, uint64_t total, const char *state);
void progress_add(struct progress *p, uint64_t bytes);
/* Prints the final figures (if anything was shown) and ends the line. */
void progress_end(struct progress *p);
/* The line as it would be drawn now, for tests and logs. */
void progress_format(const struct progress *p, uint64_t now, char *buf, size_t len);
