// SPDX-License-Identifier: Apache-2.0
// A parallel load for tests/run.sh --load: CPU, memory and fork pressure while the zdtm tests are
// dumped and restored, so that their timing assumptions and ferry's freeze meet a busy machine.
//
//   ferry-load [-c CPU_WORKERS] [-m MEM_WORKERS] [-M MIB_EACH] [-f FORK_WORKERS]
//
// CPU workers spin on arithmetic at nice 10 (they slow the tests without starving them); memory
// workers map MIB_EACH MiB, touch every page, write it again and unmap it, in a loop; fork workers
// fork children that touch a few pages and exit, as a shell loop does. It runs until SIGTERM or
// SIGINT, then kills its workers and exits 0. Every worker dies with it (PR_SET_PDEATHSIG).
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_stop(int sig) { (void)sig; stop = 1; }

static void cpu_worker(void)
{
	volatile unsigned long x = 1;
	setpriority(PRIO_PROCESS, 0, 10);
	while (!stop)
		for (int i = 0; i < 1000000; i++)
			x = x * 6364136223846793005UL + 1442695040888963407UL;
}

static void mem_worker(size_t mib)
{
	size_t len = mib << 20;
	long pg = sysconf(_SC_PAGESIZE);
	while (!stop) {
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			usleep(100000);
			continue;
		}
		for (int round = 0; round < 2 && !stop; round++)
			for (size_t o = 0; o < len; o += pg)
				p[o] = (char)(o + round);
		munmap(p, len);
		usleep(20000);
	}
}

static void fork_worker(void)
{
	while (!stop) {
		pid_t c = fork();
		if (c == 0) {
			static char pages[16 * 4096];
			for (size_t o = 0; o < sizeof(pages); o += 4096)
				pages[o] = 1;
			_exit(pages[0] - 1);
		}
		if (c > 0)
			waitpid(c, NULL, 0);
		usleep(2000);
	}
}

static pid_t spawn(int kind, size_t mib)
{
	pid_t p = fork();
	if (p != 0)
		return p;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(0);
	if (kind == 0)
		cpu_worker();
	else if (kind == 1)
		mem_worker(mib);
	else
		fork_worker();
	_exit(0);
}

int main(int argc, char **argv)
{
	int ncpu = 1, nmem = 1, nfork = 1, opt;
	size_t mib = 64;
	while ((opt = getopt(argc, argv, "c:m:M:f:")) != -1) {
		switch (opt) {
		case 'c': ncpu = atoi(optarg); break;
		case 'm': nmem = atoi(optarg); break;
		case 'M': mib = strtoul(optarg, NULL, 10); break;
		case 'f': nfork = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-c CPU] [-m MEM] [-M MIB] [-f FORK]\n", argv[0]);
			return 2;
		}
	}
	struct sigaction sa = { .sa_handler = on_stop };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	pid_t kids[256];
	int n = 0;
	for (int i = 0; i < ncpu && n < 256; i++)
		kids[n++] = spawn(0, 0);
	for (int i = 0; i < nmem && n < 256; i++)
		kids[n++] = spawn(1, mib);
	for (int i = 0; i < nfork && n < 256; i++)
		kids[n++] = spawn(2, 0);
	printf("load: %d cpu, %d memory (%zu MiB), %d fork workers\n", ncpu, nmem, mib, nfork);
	fflush(stdout);
	while (!stop)
		pause();
	for (int i = 0; i < n; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGKILL);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	return 0;
}
