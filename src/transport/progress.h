/* SPDX-License-Identifier: Apache-2.0 */
/* A progress line on stderr for long transfers: bytes and rate, only on a terminal, after 1 s. */
#pragma once
#include <stdint.h>

struct progress {
	int enabled;		/* asked for and stderr is a terminal */
	int shown;
	uint64_t t0, last_us, bytes;
	const char *verb;	/* "sent" */
};

void progress_start(struct progress *p, int wanted, const char *verb);
void progress_add(struct progress *p, uint64_t bytes);
/* Prints the final figures (if anything was shown) and ends the line. */
void progress_end(struct progress *p);
