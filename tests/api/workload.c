// SPDX-License-Identifier: Apache-2.0
// The workload of tests/api: API_MIB MiB (default 64) of memory, each page stamped with its index
// and a seed, ready when ZDTM_DIR/ready holds its pid; on SIGTERM it checks every page and prints
// PASS (exit 0) or FAIL (exit 1). Memory a dump, a cancelled dump or a restore lost shows as FAIL.
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile sig_atomic_t term;

static void on_term(int sig)
{
	term = 1;
}

int main(void)
{
	const char *m = getenv("API_MIB");
	size_t mib = m ? strtoul(m, NULL, 10) : 64, n = mib * 256;
	const char *dir = getenv("ZDTM_DIR");
	uint64_t seed = (uint64_t)getpid() * 2654435761u;
	uint64_t *mem = mmap(NULL, n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!dir || mem == MAP_FAILED)
		return 2;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < 512; k += 64)
			mem[i * 512 + k] = seed ^ (i * 512 + k);
	signal(SIGTERM, on_term);
	char path[4096], pid[32];
	snprintf(path, sizeof(path), "%s/ready.tmp", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int len = snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if (fd < 0 || write(fd, pid, (size_t)len) != len || close(fd) < 0)
		return 2;
	char ready[4096];
	snprintf(ready, sizeof(ready), "%s/ready", dir);
	rename(path, ready);
	while (!term)
		pause();
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < 512; k += 64)
			if (mem[i * 512 + k] != (seed ^ (i * 512 + k))) {
				printf("FAIL page %zu word %zu\n", i, k);
				return 1;
			}
	printf("PASS\n");
	return 0;
}
