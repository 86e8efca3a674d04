// SPDX-License-Identifier: Apache-2.0
// The demo's workload: counts, printing one number every 200 ms, keeping its state only in memory.
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
	struct timespec tick = { 0, 200 * 1000 * 1000 };
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (unsigned long n = 1;; n++) {
		printf("count %lu (pid %d)\n", n, getpid());
		nanosleep(&tick, NULL);
	}
}
