// SPDX-License-Identifier: Apache-2.0
// Seccomp filters: two stacked filters (the second with SECCOMP_FILTER_FLAG_LOG) installed as root
// without no_new_privs, then CAP_SYS_ADMIN dropped. The first also refuses setgroups and setfsuid,
// which the restore injects after the filters. After restore both filters are in force, in order:
// getppid, refused by both, fails with the newest one's errno; setgroups with the oldest one's.
// The rest works, and the capability stays dropped.
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ERR_PPID ENOKEY
#define ERR_PGRP EXDEV

static char mode[32], nfilters[32], caps_before[32];

/* Returns errno err for syscalls nr, nr2 and nr3 on x86_64, allows everything else. */
static int install(int nr, int nr2, int nr3, int err, unsigned int flags)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 5),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr2, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr3, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

static void drop_sys_admin(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		zdtm_skip("capget: %s", strerror(errno));
	d[0].effective &= ~(1u << CAP_SYS_ADMIN);
	d[0].permitted &= ~(1u << CAP_SYS_ADMIN);
	if (syscall(SYS_capset, &h, d) < 0)
		zdtm_skip("capset: %s", strerror(errno));
}

static void check_errno(long nr, int want, const char *name)
{
	errno = 0;
	long r = syscall(nr, 0, 0, 0);
	zdtm_check(r == -1 && errno == want, "%s returned %ld (errno %d), expected errno %d", name, r, errno, want);
}

int main(int argc, char **argv)
{
	zdtm_init("seccomp");
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 0)
		zdtm_skip("no_new_privs is already set");
	if (install(SYS_getppid, SYS_setgroups, SYS_setfsuid, ERR_PPID, 0) < 0)
		zdtm_skip("seccomp filter: %s", strerror(errno));
	if (install(SYS_getpgrp, SYS_getppid, SYS_getpgrp, ERR_PGRP, SECCOMP_FILTER_FLAG_LOG) < 0)
		zdtm_skip("seccomp filter with FLAG_LOG: %s", strerror(errno));
	drop_sys_admin();
	zdtm_status_field("/proc/self/status", "Seccomp", mode, sizeof(mode));
	zdtm_status_field("/proc/self/status", "Seccomp_filters", nfilters, sizeof(nfilters));
	zdtm_status_field("/proc/self/status", "CapEff", caps_before, sizeof(caps_before));
	check_errno(SYS_getppid, ERR_PGRP, "getppid before the dump");
	zdtm_ready();
	zdtm_wait_sigterm();

	char now[32];
	zdtm_status_field("/proc/self/status", "Seccomp", now, sizeof(now));
	zdtm_check(!strcmp(now, mode), "Seccomp mode %s, was %s", now, mode);
	zdtm_status_field("/proc/self/status", "Seccomp_filters", now, sizeof(now));
	zdtm_check(!strcmp(now, nfilters), "%s seccomp filters, were %s", now, nfilters);
	zdtm_status_field("/proc/self/status", "CapEff", now, sizeof(now));
	zdtm_check(!strcmp(now, caps_before), "CapEff %s, was %s", now, caps_before);
	zdtm_check(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0, "no_new_privs set by the restore");
	check_errno(SYS_getppid, ERR_PGRP, "getppid (the newest filter decides)");
	check_errno(SYS_setgroups, ERR_PPID, "setgroups");
	check_errno(SYS_getpgrp, ERR_PGRP, "getpgrp");
	zdtm_check(syscall(SYS_getpid) == getpid(), "getpid does not work");
	char path[4096];
	int fd = open(zdtm_path(path, sizeof(path), "seccomp.tmp"), O_CREAT | O_WRONLY | O_TRUNC, 0600);
	zdtm_check(fd >= 0 && write(fd, "ok", 2) == 2, "cannot write a file: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(path);
	zdtm_exit();
}
