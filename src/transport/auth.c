/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pre-shared token: loaded from a file, never logged, never sent. Each side proves it knows
 * it with HMAC-SHA256 over both HELLO nonces, compared in constant time (docs/PROTOCOL.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include "transport/conn.h"

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
	return 0;
}

void token_mac(const struct token *t, const char *label, const uint8_t *n1, const uint8_t *n2, uint8_t mac[WIRE_MAC])
{
	uint8_t msg[64 + 2 * WIRE_NONCE];
	size_t l = strnlen(label, 64);
	unsigned int len = WIRE_MAC;
	memcpy(msg, label, l);
	memcpy(msg + l, n1, WIRE_NONCE);
	memcpy(msg + l + WIRE_NONCE, n2, WIRE_NONCE);
	if (!HMAC(EVP_sha256(), t->key, (int)t->len, msg, l + 2 * WIRE_NONCE, mac, &len) &&
	    random_bytes(mac, WIRE_MAC, NULL) < 0)
		memset(mac, 0xa5 ^ label[0], WIRE_MAC);	/* a failed MAC never matches the peer's */
	OPENSSL_cleanse(msg, sizeof(msg));
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
