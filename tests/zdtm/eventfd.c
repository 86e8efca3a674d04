// SPDX-License-Identifier: Apache-2.0
// eventfd: a counter of 42 (blocking), a semaphore-mode counter of 3 (O_NONBLOCK), a counter above
// 32 bits and a zero counter. After restore each reads back exactly and keeps its mode and flags.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static int plain, sem, big, zero, fl[4];
static const uint64_t BIG = 0x123456789abcULL;

static uint64_t rd(int fd, int *err)
{
	uint64_t v = 0;

	*err = read(fd, &v, sizeof(v)) == sizeof(v) ? 0 : errno;
	return v;
}

static void setup(void)
{
	plain = eventfd(42, 0);
	sem = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
	big = eventfd(0, EFD_CLOEXEC);
	zero = eventfd(0, EFD_NONBLOCK);
	if (plain < 0 || sem < 0 || big < 0 || zero < 0)
		zdtm_skip("eventfd: %m");
	if (write(big, &BIG, sizeof(BIG)) != sizeof(BIG))
		zdtm_skip("write eventfd: %m");
	int fds[4] = { plain, sem, big, zero };
	for (int i = 0; i < 4; i++)
		fl[i] = fcntl(fds[i], F_GETFL);
}

static int fdinfo_semaphore(int fd)
{
	char p[64], v[32];

	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fd);
	return zdtm_status_field(p, "eventfd-semaphore", v, sizeof(v)) == 0 ? v[0] - '0' : -1;
}

static void verify(void)
{
	int fds[4] = { plain, sem, big, zero }, e;
	uint64_t v;

	for (int i = 0; i < 4; i++) {
		int f = fcntl(fds[i], F_GETFL);
		zdtm_check(f == fl[i], "eventfd %d: F_GETFL %#o, want %#o", i, f, fl[i]);
	}
	zdtm_check(fcntl(big, F_GETFD) == FD_CLOEXEC, "close-on-exec lost");
	v = rd(plain, &e);
	zdtm_check(!e && v == 42, "plain eventfd read %llu (%s), want 42", (unsigned long long)v, strerror(e));
	for (int i = 0; i < 3; i++) {
		v = rd(sem, &e);
		zdtm_check(!e && v == 1, "semaphore read %d gave %llu (%s), want 1", i, (unsigned long long)v, strerror(e));
	}
	rd(sem, &e);
	zdtm_check(e == EAGAIN, "semaphore eventfd not empty after 3 reads (%s)", strerror(e));
	zdtm_check(fdinfo_semaphore(sem) == 1 && fdinfo_semaphore(plain) == 0, "EFD_SEMAPHORE in fdinfo: %d/%d",
		   fdinfo_semaphore(sem), fdinfo_semaphore(plain));
	v = rd(big, &e);
	zdtm_check(!e && v == BIG, "64-bit counter read %#llx, want %#llx", (unsigned long long)v, (unsigned long long)BIG);
	rd(zero, &e);
	zdtm_check(e == EAGAIN, "zero eventfd readable (%s)", strerror(e));
	v = 5;
	zdtm_check(write(zero, &v, 8) == 8 && rd(zero, &e) == 5, "eventfd does not count any more");
}

int main(void)
{
	zdtm_init("eventfd");
	setup();
	zdtm_ready();
	zdtm_wait_sigterm();
	verify();
	zdtm_exit();
}
