// SPDX-License-Identifier: Apache-2.0
// Credentials are per thread in the kernel (glibc's setuid() only makes them look per process).
// With raw system calls, one thread takes uids 1000/1001/1002, one gids and supplementary groups
// of its own, one drops CAP_NET_RAW from its effective and permitted sets, one sets
// no_new_privs and one SECBIT_NOROOT; the main thread keeps root's. After restore each thread
// compares its own getresuid/getresgid/getgroups, capability sets, no_new_privs and securebits.
#include "zdtm.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { T_MAIN, T_UID, T_GID, T_CAPS, T_NNP, T_SECBITS, NT };
static const char *names[NT] = { "main", "uid", "gid", "caps", "nnp", "securebits" };

struct creds {
	unsigned uid[3], gid[3], groups[16];
	int ngroups, nnp, secbits;
	struct __user_cap_data_struct caps[2];
};
static struct creds saved[NT];
static volatile int up;

static void read_creds(struct creds *c)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	memset(c, 0, sizeof(*c));
	syscall(SYS_getresuid, &c->uid[0], &c->uid[1], &c->uid[2]);
	syscall(SYS_getresgid, &c->gid[0], &c->gid[1], &c->gid[2]);
	c->ngroups = syscall(SYS_getgroups, 16, c->groups);
	c->nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	c->secbits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	syscall(SYS_capget, &h, c->caps);
}

static int setup(int i)
{
	unsigned groups[] = { 50, 60, 70 };
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	switch (i) {
	case T_UID:
		return syscall(SYS_setresuid, 1000, 1001, 1002);
	case T_GID:
		if (syscall(SYS_setgroups, 3, groups) < 0)
			return -1;
		return syscall(SYS_setresgid, 2000, 2001, 2002);
	case T_CAPS:
		syscall(SYS_capget, &h, d);
		d[0].effective &= ~(1U << CAP_NET_RAW);
		d[0].permitted &= ~(1U << CAP_NET_RAW);
		return syscall(SYS_capset, &h, d);
	case T_NNP:
		return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	case T_SECBITS:
		return prctl(PR_SET_SECUREBITS, SECBIT_NOROOT, 0, 0, 0);
	}
	return 0;
}

static void verify(int i)
{
	struct creds now;
	const struct creds *was = &saved[i];
	read_creds(&now);
	zdtm_check(!memcmp(now.uid, was->uid, sizeof(now.uid)), "%s: uids %u/%u/%u, want %u/%u/%u", names[i], now.uid[0],
		   now.uid[1], now.uid[2], was->uid[0], was->uid[1], was->uid[2]);
	zdtm_check(!memcmp(now.gid, was->gid, sizeof(now.gid)), "%s: gids %u/%u/%u, want %u/%u/%u", names[i], now.gid[0],
		   now.gid[1], now.gid[2], was->gid[0], was->gid[1], was->gid[2]);
	zdtm_check(now.ngroups == was->ngroups && !memcmp(now.groups, was->groups, sizeof(now.groups)),
		   "%s: %d supplementary groups, want %d (or others)", names[i], now.ngroups, was->ngroups);
	zdtm_check(!memcmp(now.caps, was->caps, sizeof(now.caps)), "%s: capabilities eff %#x prm %#x inh %#x, want %#x %#x %#x",
		   names[i], now.caps[0].effective, now.caps[0].permitted, now.caps[0].inheritable, was->caps[0].effective,
		   was->caps[0].permitted, was->caps[0].inheritable);
	zdtm_check(now.nnp == was->nnp, "%s: no_new_privs %d, want %d", names[i], now.nnp, was->nnp);
	zdtm_check(now.secbits == was->secbits, "%s: securebits %#x, want %#x", names[i], now.secbits, was->secbits);
}

static void *worker(void *arg)
{
	long i = (long)arg;
	if (setup((int)i) < 0)
		zdtm_fail("%s: set up: %s", names[i], strerror(errno));
	read_creds(&saved[i]);
	__atomic_fetch_add(&up, 1, __ATOMIC_SEQ_CST);
	while (!zdtm_sigterm_received())
		usleep(20000);
	verify((int)i);
	return NULL;
}

int main(void)
{
	pthread_t th[NT];
	zdtm_init("thread_creds");
	if (getuid() != 0)
		zdtm_skip("needs root to give threads other credentials");
	for (long i = 1; i < NT; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	read_creds(&saved[T_MAIN]);
	while (__atomic_load_n(&up, __ATOMIC_SEQ_CST) < NT - 1)
		usleep(1000);
	zdtm_ready();
	zdtm_wait_sigterm();
	verify(T_MAIN);
	for (int i = 1; i < NT; i++)
		pthread_join(th[i], NULL);
	zdtm_exit();
}
