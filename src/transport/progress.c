/* SPDX-License-Identifier: Apache-2.0 */
/* Progress line for transfers (progress.h). */
#include <stdio.h>
#include <unistd.h>
#include "common/util.h"
#include "transport/progress.h"

void progress_start(struct progress *p, int wanted, const char *verb)
{
	*p = (struct progress){ .enabled = wanted && isatty(STDERR_FILENO), .t0 = now_us(), .verb = verb };
}

static void human(char *buf, size_t len, double v, const char *unit)
{
	static const char *const pfx[] = { "", "Ki", "Mi", "Gi", "Ti" };
	int i = 0;
	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, "%.1f %s%s", v, pfx[i], unit);
}

static void draw(struct progress *p, uint64_t now)
{
	char amount[32], rate[32];
	double secs = (now - p->t0) / 1e6;
	human(amount, sizeof(amount), (double)p->bytes, "B");
	human(rate, sizeof(rate), secs > 0 ? p->bytes / secs : 0, "B/s");
	fprintf(stderr, "\r\033[Kferry: %s %s in %.1f s (%s)", p->verb, amount, secs, rate);
	fflush(stderr);
	p->shown = 1;
	p->last_us = now;
}

void progress_add(struct progress *p, uint64_t bytes)
{
	p->bytes += bytes;
	if (!p->enabled)
		return;
	uint64_t now = now_us();
	if (now - p->t0 >= 1000000 && now - p->last_us >= 200000)
		draw(p, now);
}

void progress_end(struct progress *p)
{
	if (!p->shown)
		return;
	draw(p, now_us());
	fputc('\n', stderr);
	p->shown = 0;
}
