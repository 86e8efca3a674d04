/* SPDX-License-Identifier: Apache-2.0 */
/* Strict number parsing for the CLI (parse.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/parse.h"

static int digits(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;
	int r = s ? digits(s, strlen(s), &v) : -EINVAL;
	if (r < 0)
		return r;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	size_t n = s ? strspn(s, "0123456789") : 0;
	uint64_t v;
	int r = digits(s ? s : "", n, &v);
	if (r < 0)
		return r;
	const char *u = s + n;
	int shift = 0;
	if (*u) {
		const char *k = strchr(units, u[0] >= 'a' ? u[0] - 'a' + 'A' : u[0]);
		if (!k || !u[0])
			return -EINVAL;
		shift = 10 * (int)(k - units + 1);
		u++;
		if (!strcmp(u, "iB") || !strcmp(u, "B"))
			u += strlen(u);
		if (*u)
			return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

uint64_t pid_max(void)
{
	uint64_t v = 4194304;	/* the kernel's limit on 64-bit */
	char buf[32] = "";
	FILE *f = fopen("/proc/sys/kernel/pid_max", "re");
	if (f) {
		if (fgets(buf, sizeof(buf), f)) {
			buf[strcspn(buf, "\n")] = 0;
			uint64_t m;
			if (parse_u64(buf, 1, UINT64_MAX, &m) == 0)
				v = m;
		}
		fclose(f);
	}
	return v;
}
