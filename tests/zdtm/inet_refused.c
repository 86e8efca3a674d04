// SPDX-License-Identifier: Apache-2.0
// Inet socket states ferry cannot restore exactly are refused by name, and the task runs on untouched
// (tests/lib/zdtm_refuse.h): UDP data corked (UDP_CORK) and not sent yet — uncorked afterwards it still
// arrives; packets queued on a raw socket — still readable; a TCP listener holding a connection it has
// not accepted — still acceptable, and the message suggests --skip-in-flight; an eBPF socket filter —
// still attached; with --tcp-established, a connection whose other end is outside the tree (the network is
// not locked: that end would see the connection close).
#include "zdtm.h"
#include "zdtm_refuse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/syscall.h>

static int sk, rx, cli;
static struct sockaddr_in lo = { .sin_family = AF_INET };

static int bound(int type, int proto)
{
	socklen_t l = sizeof(lo);
	int fd = socket(AF_INET, type, proto);
	lo.sin_port = 0;
	lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (void *)&lo, sizeof(lo)) < 0 || getsockname(fd, (void *)&lo, &l) < 0)
		return -1;
	return fd;
}

static int corked_setup(void)
{
	int one = 1;
	rx = bound(SOCK_DGRAM, 0);
	sk = socket(AF_INET, SOCK_DGRAM, 0);
	if (rx < 0 || sk < 0 || setsockopt(sk, IPPROTO_UDP, UDP_CORK, &one, sizeof(one)) < 0 ||
	    sendto(sk, "corked!", 7, 0, (void *)&lo, sizeof(lo)) != 7)
		return -1001;
	return sk;
}

static int corked_check(void)
{
	int zero = 0;
	char b[16];
	setsockopt(sk, IPPROTO_UDP, UDP_CORK, &zero, sizeof(zero));
	return recv(rx, b, sizeof(b), 0) == 7 && !memcmp(b, "corked!", 7) ? 0 : 1;
}

static int raw_setup(void)
{
	struct icmphdr h = { .type = ICMP_ECHO };
	sk = bound(SOCK_RAW, IPPROTO_ICMP);
	int tx = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	if (sk < 0 || tx < 0)
		return -1001;
	h.checksum = htons(~(ICMP_ECHO << 8));
	if (sendto(tx, &h, sizeof(h), 0, (void *)&lo, sizeof(lo)) < 0)
		return -1002;
	close(tx);
	for (int i = 0; i < 100; i++) {
		char b[64];
		if (recv(sk, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT) > 0)
			return sk;
		usleep(10000);
	}
	return -1003;
}

static int raw_check(void)
{
	char b[128];
	return recv(sk, b, sizeof(b), MSG_DONTWAIT) > 0 ? 0 : 1;
}

static int backlog_setup(void)
{
	sk = bound(SOCK_STREAM, 0);
	if (sk < 0 || listen(sk, 4) < 0)
		return -1001;
	pid_t p = fork();
	if (p == 0) {	/* the client leaves at once: only the connection waits in the listener */
		int c = socket(AF_INET, SOCK_STREAM, 0);
		_exit(connect(c, (void *)&lo, sizeof(lo)) < 0);
	}
	int st;
	waitpid(p, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? sk : -1002;
}

static int backlog_check(void)
{
	int a = accept4(sk, NULL, NULL, SOCK_NONBLOCK);
	return a >= 0 ? 0 : 1;
}

static int ebpf_setup(void)
{
	struct bpf_insn prog[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = -1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr attr = { .prog_type = BPF_PROG_TYPE_SOCKET_FILTER, .insn_cnt = 2,
				.insns = (uintptr_t)prog, .license = (uintptr_t)"GPL" };
	int pfd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	sk = bound(SOCK_DGRAM, 0);
	if (pfd < 0 || sk < 0 || setsockopt(sk, SOL_SOCKET, SO_ATTACH_BPF, &pfd, sizeof(pfd)) < 0)
		return -1001;
	close(pfd);
	return sk;
}

static int ebpf_check(void)
{
	socklen_t n = 0;
	return getsockopt(sk, SOL_SOCKET, SO_GET_FILTER, NULL, &n) < 0 && errno == EACCES ? 0 : 1;
}

/* A connection whose other end a process outside the tree holds (reparented away, own session). */
static int established_setup(void)
{
	int lsn = bound(SOCK_STREAM, 0), keep[2];
	cli = socket(AF_INET, SOCK_STREAM, 0);
	if (lsn < 0 || listen(lsn, 1) < 0 || connect(cli, (void *)&lo, sizeof(lo)) < 0 || pipe(keep) < 0)
		return -1001;
	sk = accept(lsn, NULL, NULL);
	close(lsn);
	pid_t p = fork();
	if (p == 0) {
		if (fork() == 0) {	/* holds sk until our end of the pipe closes */
			char b;
			setsid();
			close(keep[1]);
			close(cli);
			while (read(keep[0], &b, 1) > 0)
				;
			_exit(0);
		}
		_exit(0);
	}
	waitpid(p, NULL, 0);
	close(keep[0]);
	close(sk);
	return cli;
}

static int established_check(void)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);
	return getsockopt(cli, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0 && ti.tcpi_state == 1 && send(cli, "e", 1, 0) == 1 ? 0 : 1;
}

static const struct zr_case cases[] = {
	{ "corked", corked_setup, corked_check, { "corked", "%pid", "%fd" } },
	{ "raw-queue", raw_setup, raw_check, { "receive queue", "%pid", "%fd" } },
	{ "backlog", backlog_setup, backlog_check, { "not accepted yet", "--skip-in-flight", "%pid", "%fd" } },
	{ "ebpf-filter", ebpf_setup, ebpf_check, { "eBPF socket filter", "%pid", "%fd" } },
	{ "tcp-established", established_setup, established_check, { "other end is outside the tree", "%pid", "%fd" },
	  { "--tcp-established" } },
};

int main(void)
{
	zr_main("inet_refused", cases, sizeof(cases) / sizeof(cases[0]));
}
