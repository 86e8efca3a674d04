/* SPDX-License-Identifier: Apache-2.0 */
/* Progress line for long copies (progress.h). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "common/util.h"
#include "engine/engine.h"
#include "transport/progress.h"

void progress_start(struct progress *p, int wanted, const char *verb)
{
	const char *d = getenv("FERRY_PROGRESS_DELAY_MS");
	char *end = NULL;
	unsigned long ms = d ? strtoul(d, &end, 10) : 1000;
	if (!d || *d < '0' || *d > '9' || *end)
		ms = 1000;
	*p = (struct progress){ .enabled = wanted && isatty(STDERR_FILENO), .t0 = now_us(), .verb = verb,
				.delay_us = ms * 1000 };
}

void progress_set_total(struct progress *p, uint64_t total, const char *state)
{
	p->total = total;
	p->state = state;
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

void progress_format(const struct progress *p, uint64_t now, char *buf, size_t len)
{
	char amount[32], total[32], rate[32], eta[48] = "";
	double secs = (now - p->t0) / 1e6, bps = secs > 0 ? p->bytes / secs : 0;
	human(amount, sizeof(amount), (double)p->bytes, "B");
	human(rate, sizeof(rate), bps, "B/s");
	int n = snprintf(buf, len, "ferry: %s %s", p->verb, amount);
	if (p->total && n >= 0 && (size_t)n < len) {
		uint64_t done = p->bytes < p->total ? p->bytes : p->total;
		human(total, sizeof(total), (double)p->total, "B");
		if (done == p->total)
			snprintf(eta, sizeof(eta), ", done");
		else if (bps > 0)
			snprintf(eta, sizeof(eta), ", ETA %.1f s", (p->total - done) / bps);
		else
			snprintf(eta, sizeof(eta), ", ETA unknown");
		n += snprintf(buf + n, len - (size_t)n, " of %s (%d%%)", total, (int)(done * 100 / p->total));
	}
	if (n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " in %.1f s, %s%s%s%s", secs, rate, eta, p->state ? ", " : "",
			 p->state ? p->state : "");
}

static void draw(struct progress *p, uint64_t now)
{
	char line[256];
	progress_format(p, now, line, sizeof(line));
	fprintf(stderr, "\r\033[K%s", line);
	fflush(stderr);
	p->shown = 1;
	p->last_us = now;
}

void progress_report(struct progress *p, struct op_report *report, int tree)
{
	p->report = report;
	p->tree = tree;
	if (report && report->progress)
		report->progress(report->arg, "pages", 0, p->total, OP_UNIT_BYTES, tree);
}

void progress_add(struct progress *p, uint64_t bytes)
{
	p->bytes += bytes;
	if (p->report && p->report->progress)
		p->report->progress(p->report->arg, "pages", p->bytes, p->total, OP_UNIT_BYTES, p->tree);
	if (!p->enabled)
		return;
	uint64_t now = now_us();
	if (now - p->t0 >= p->delay_us && (!p->shown || now - p->last_us >= 200000))
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
