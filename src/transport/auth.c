/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pre-shared token: loaded from a file, never logged, never sent (seal.c derives the session's
 * keys from it); MACs compared in constant time; nonces from getrandom.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#define LOG_PREFIX ""
#include "common/log.h"
#include "transport/conn.h"

#define TOKEN_WEAK 16	/* fewer bytes than this: a guess away from an offline dictionary attack */

int token_load(const char *path, struct token *t, struct ferry_err *err)
{
	memset(t, 0, sizeof(*t));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fe_set(err, errno, "token file %s", path);
	ssize_t n = read(fd, t->key, sizeof(t->key));
	int e = errno;
	uint8_t extra;
	if (n == (ssize_t)sizeof(t->key) && read(fd, &extra, 1) > 0)
		n = -2;
	close(fd);
	if (n == -2)
		return fe_msg(err, EINVAL, "token file %s: longer than %zu bytes", path, sizeof(t->key));
	if (n < 0)
		return fe_set(err, e, "token file %s", path);
	while (n > 0 && (t->key[n - 1] == '\n' || t->key[n - 1] == '\r' || t->key[n - 1] == ' '))
		n--;
	if (n == 0)
		return fe_msg(err, EINVAL, "token file %s is empty", path);
	t->len = (size_t)n;
	if (t->len < TOKEN_WEAK)
		pr_warn("token file %s: only %zu bytes; anyone who records a session can try to guess it offline "
			"(use e.g. `head -c 32 /dev/urandom | base64`)\n", path, t->len);
	return 0;
}

int mac_equal(const uint8_t *a, const uint8_t *b)
{
	return CRYPTO_memcmp(a, b, WIRE_MAC) == 0;
}

int random_bytes(uint8_t *buf, size_t len, struct ferry_err *err)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = getrandom(buf + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fe_set(err, errno, "getrandom");
		got += n;
	}
	return 0;
}
