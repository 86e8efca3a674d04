// SPDX-License-Identifier: Apache-2.0
// Memory ferry refuses (self-checking, runs ferry itself): one child per case, each dumped with -R,
// which must fail naming the pid and the object, and leave the child running with its state intact:
// a range registered with a userfaultfd in missing mode (the uffd handed to the test, outside the
// dumped tree); a memfd of huge pages (MFD_HUGETLB); an AIO ring mapping whose context the parent
// destroyed after the fork; a device mapping (/dev/mem, when the machine lets root map it).
#include "zdtm.h"
#include "zdtm_refuse.h"
#include "memtest.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/aio_abi.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static struct smaps s;

/*
 * The child answers 'k' (its state intact) or 'x' to each byte it reads. Pipes, not a socket: a
 * socket connected outside the dumped tree would be refused before the memory is looked at.
 */
struct chan {
	int rd, wr;
};

static int chan_pair(struct chan *parent, struct chan *child)
{
	int a[2], b[2];
	if (pipe(a) < 0 || pipe(b) < 0)
		return -1;
	*parent = (struct chan){ b[0], a[1] };
	*child = (struct chan){ a[0], b[1] };
	return 0;
}

static void chan_close(struct chan *c)
{
	close(c->rd);
	close(c->wr);
}

static int ask(struct chan *ch)
{
	char c = '?';
	return write(ch->wr, &c, 1) == 1 && read(ch->rd, &c, 1) == 1 && c == 'k';
}

static void refused(const char *name, pid_t child, struct chan *sock, const char *want)
{
	char pidstr[32];
	snprintf(pidstr, sizeof(pidstr), "pid %d", child);
	zr_expect_refusal(child, name, NULL, want, pidstr, NULL);
	zdtm_check(ask(sock), "%s: the child lost its state after the refused dump", name);
	zdtm_check(kill(child, 0) == 0, "%s: the child is gone", name);
}

static void serve(struct chan *ch, int (*intact)(void))
{
	char c;
	while (read(ch->rd, &c, 1) == 1) {
		c = intact() ? 'k' : 'x';
		if (write(ch->wr, &c, 1) != 1)
			break;
	}
	_exit(0);
}

static char *region;
static int uffd_intact(void)
{
	return smaps_read(&s) == 0 && smaps_has(&s, region, "um");
}

/* A range registered (missing mode) with a userfaultfd the child no longer holds: the test has it. */
static pid_t start_uffd(struct chan *ch, int *uffd)
{
	int sp[2];
	struct chan mine;
	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	chan_pair(ch, &mine);
	pid_t c = fork();
	if (c == 0) {
		chan_close(ch);
		close(sp[0]);
		region = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int fd = syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
		struct uffdio_api api = { .api = UFFD_API };
		struct uffdio_register reg = { .range = { (uintptr_t)region, 4 * 4096 }, .mode = UFFDIO_REGISTER_MODE_MISSING };
		if (fd < 0 || ioctl(fd, UFFDIO_API, &api) < 0 || ioctl(fd, UFFDIO_REGISTER, &reg) < 0)
			_exit(3);
		char dummy = 'u';
		struct iovec iov = { &dummy, 1 };
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
		if (sendmsg(sp[1], &mh, 0) != 1)
			_exit(3);
		close(fd);
		close(sp[1]);
		serve(&mine, uffd_intact);
	}
	chan_close(&mine);
	close(sp[1]);
	char dummy, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &dummy, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	*uffd = -1;
	if (recvmsg(sp[0], &mh, 0) == 1 && CMSG_FIRSTHDR(&mh))
		memcpy(uffd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
	close(sp[0]);
	return c;
}

static int hfd = -1;
static int hugetlb_intact(void)
{
	char buf[8];
	return hfd >= 0 && fcntl(hfd, F_GETFD) >= 0 && read(hfd, buf, 0) == 0;
}

/*
 * The ring's pages go with the context (the kernel truncates its file once the context is freed,
 * some time after io_destroy(): reading them then raises SIGBUS, dump or not): intact means the
 * mapping is still there, as it was.
 */
static void *aio_ring;
static int aio_intact(void)
{
	const struct smaps_vma *v = smaps_read(&s) == 0 ? smaps_find(&s, (unsigned long)aio_ring) : NULL;
	return v != NULL && v->start == (unsigned long)aio_ring;
}

static void *devmem;
static int devmem_intact(void)
{
	return smaps_read(&s) == 0 && smaps_find(&s, (unsigned long)devmem) != NULL;
}

/* Forks a child that sets up one state with setup() (0: ready, else skip), then serves. */
static pid_t start(int (*setup)(void), int (*intact)(void), struct chan *ch)
{
	struct chan mine;
	chan_pair(ch, &mine);
	pid_t c = fork();
	if (c == 0) {
		chan_close(ch);
		char r = setup() == 0 ? 'r' : 's';
		if (write(mine.wr, &r, 1) != 1 || r != 'r')
			_exit(0);
		serve(&mine, intact);
	}
	chan_close(&mine);
	char r = 0;
	if (read(ch->rd, &r, 1) != 1 || r != 'r') {
		chan_close(ch);
		waitpid(c, NULL, 0);
		return -1;
	}
	return c;
}

static int setup_hugetlb(void)
{
	hfd = memfd_create("zdtm-huge", MFD_HUGETLB | MFD_CLOEXEC);
	return hfd < 0;
}

static int setup_devmem(void)
{
	int fd = open("/dev/mem", O_RDONLY);
	devmem = fd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	return devmem == MAP_FAILED;
}

static void stop(pid_t c, struct chan *ch)
{
	chan_close(ch);
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
}

static void case_aio(void)
{
	aio_context_t ctx = 0;
	struct chan ch, mine;
	if (syscall(SYS_io_setup, 4, &ctx) < 0)
		return;
	aio_ring = (void *)ctx;
	chan_pair(&ch, &mine);
	pid_t c = fork();
	if (c == 0) {
		chan_close(&ch);
		serve(&mine, aio_intact);
	}
	chan_close(&mine);
	syscall(SYS_io_destroy, ctx);	/* the child keeps the mapping of a context that is gone */
	refused("aio", c, &ch, "AIO ring");
	stop(c, &ch);
}

int main(void)
{
	struct chan sock;
	int uffd;
	pid_t c;
	zdtm_init("mem_refused");
	zr_find_ferry();

	c = start_uffd(&sock, &uffd);
	zdtm_check(uffd >= 0, "userfaultfd: the child could not hand its uffd over");
	if (uffd >= 0)
		refused("uffd", c, &sock, "userfaultfd (missing mode)");
	stop(c, &sock);
	close(uffd);

	if ((c = start(setup_hugetlb, hugetlb_intact, &sock)) > 0) {
		refused("memfd-hugetlb", c, &sock, "MFD_HUGETLB");
		stop(c, &sock);
	}
	case_aio();
	if ((c = start(setup_devmem, devmem_intact, &sock)) > 0) {
		refused("devmem", c, &sock, "which this version cannot checkpoint");
		stop(c, &sock);
	}
	zdtm_ready();
	zdtm_wait_sigterm();
	zdtm_exit();
}
