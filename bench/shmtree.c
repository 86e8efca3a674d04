// SPDX-License-Identifier: Apache-2.0
// shmtree MIB NCHILD DIR [transient]: a postgres-like tree. The parent maps MIB MiB of MAP_SHARED|MAP_ANONYMOUS
// memory, fills it and forks NCHILD children; child c reads the whole area (every page is in its
// page table) and owns slice c of it. Writes DIR/area ("addr npages"), DIR/ready. On SIGUSR1 to the
// parent (its pid is in DIR/pid), round k: each child rewrites the pages i of its slice with i % 97 == k through its own
// mapping, the parent rewrites those with i % 89 == k of its own first slice; the pages written go to
// DIR/round-k (one page index a line), then DIR/round-k.done. With "transient", each round also
// forks a child that rewrites the pages i % 83 == k and exits (postgres's backends come and go: no
// tracking sees their writes); with "zombie", the same, but that child is reaped only at the end
// (it stays a zombie of the tree, or an exited child no mapping or reaping tells of). On SIGTERM every process checks
// every page; the parent prints PASS or FAIL and exits 0/1.
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t asked, term;
static void on_usr1(int s) { asked++; }
static void on_term(int s) { term = 1; }

static size_t npages;
static int nchild, transient, zombies;

/* Who writes page i in round k: child c (its slice), the parent (-1), a transient child (-3), nobody (-2). */
static int writer(size_t i, int k)
{
	size_t slice = npages / (size_t)nchild;
	if (transient && i % 83 == (size_t)k)
		return -3;
	if (i % 97 == (size_t)k)
		return (int)(i / slice < (size_t)nchild ? i / slice : (size_t)nchild - 1);
	if (i % 89 == (size_t)k && i < slice)
		return -1;
	return -2;
}

static unsigned char value(size_t i, int rounds)
{
	int last = 0;
	for (int k = 1; k <= rounds; k++)
		if (writer(i, k) != -2)
			last = k;
	return (unsigned char)(i * 31 + (size_t)last * 7 + 1);
}

static void write_round(unsigned char *a, int who, int k)
{
	for (size_t i = 0; i < npages; i++)
		if (writer(i, k) == who)
			a[i * 4096 + 64] = a[i * 4096] = value(i, k);
}

static size_t check(const unsigned char *a, int rounds)
{
	size_t bad = 0;
	for (size_t i = 0; i < npages; i++)
		bad += a[i * 4096] != value(i, rounds) || a[i * 4096 + 64] != value(i, rounds) ||
		       a[i * 4096 + 4095] != value(i, 0);
	return bad;
}

/* Waits for a signal without losing one that came just before (they are blocked otherwise). */
static void wait_signal(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigsuspend(&none);
}

static void child_main(unsigned char *a, int c, int ack)
{
	int done = 0;
	volatile unsigned char sink = 0;
	for (size_t i = 0; i < npages; i++)
		sink += a[i * 4096];
	if (write(ack, "r", 1) != 1)
		_exit(2);
	while (!term) {
		if (done < asked) {
			write_round(a, c, ++done);
			if (write(ack, "d", 1) != 1)
				_exit(2);
			continue;
		}
		wait_signal();
	}
	_exit(check(a, done) ? 1 : 0);
}

static void mark(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fclose(fopen(path, "w"));
}

int main(int argc, char **argv)
{
	if (argc != 4 && argc != 5)
		return 2;
	npages = (size_t)atol(argv[1]) * 256;
	nchild = atoi(argv[2]);
	zombies = argc == 5 && strcmp(argv[4], "zombie") == 0;
	transient = zombies || (argc == 5 && strcmp(argv[4], "transient") == 0);
	const char *dir = argv[3];
	char path[4096], c;
	int pp[2];
	pid_t kids[64], dead[64];
	int ndead = 0;
	if (nchild < 1 || nchild > 64 || pipe(pp) < 0)
		return 2;
	struct sigaction sa = { .sa_handler = on_usr1 }, st = { .sa_handler = on_term };
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGTERM, &st, NULL);
	unsigned char *a = mmap(NULL, npages * 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED)
		return 2;
	for (size_t i = 0; i < npages; i++)
		memset(a + i * 4096, value(i, 0), 4096);
	for (int k = 0; k < nchild; k++)
		if ((kids[k] = fork()) == 0)
			child_main(a, k, pp[1]);
	for (int k = 0; k < nchild; k++)
		if (read(pp[0], &c, 1) != 1)
			return 2;
	snprintf(path, sizeof(path), "%s/area", dir);
	FILE *f = fopen(path, "w");
	fprintf(f, "%lu %zu\n", (unsigned long)(uintptr_t)a, npages);
	fclose(f);
	snprintf(path, sizeof(path), "%s/pid", dir);
	f = fopen(path, "w");
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);
	mark(dir, "ready");
	int done = 0;
	while (!term) {
		if (done < asked) {
			done++;
			for (int k = 0; k < nchild; k++)
				kill(kids[k], SIGUSR1);
			write_round(a, -1, done);
			pid_t tr = transient ? fork() : -1;
			if (tr == 0) {
				write_round(a, -3, done);
				_exit(0);
			}
			if (tr > 0 && zombies && ndead < 64)
				dead[ndead++] = tr;	/* reaped at the end */
			else if (tr > 0)
				waitpid(tr, NULL, 0);
			for (int k = 0; k < nchild; k++)
				if (read(pp[0], &c, 1) != 1)
					return 2;
			snprintf(path, sizeof(path), "%s/round-%d", dir, done);
			f = fopen(path, "w");
			for (size_t i = 0; i < npages; i++)
				if (writer(i, done) != -2)
					fprintf(f, "%zu\n", i);
			fclose(f);
			snprintf(path, sizeof(path), "round-%d.done", done);
			mark(dir, path);
			continue;
		}
		wait_signal();
	}
	int bad_kids = 0;
	for (int k = 0; k < nchild; k++) {
		int ws = 0;
		kill(kids[k], SIGTERM);
		bad_kids += waitpid(kids[k], &ws, 0) != kids[k] || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0;
	}
	for (int k = 0; k < ndead; k++)
		waitpid(dead[k], NULL, 0);
	size_t bad = check(a, done);
	if (bad || bad_kids)
		printf("FAIL: %zu pages differ, %d children failed\n", bad, bad_kids);
	else
		printf("PASS\n");
	fflush(stdout);
	return bad || bad_kids;
}
