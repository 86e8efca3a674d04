/* SPDX-License-Identifier: Apache-2.0 */
/* Encryption keys: the key file, its id, and the per-file chunk key (HKDF-SHA256, OpenSSL). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include "common/cleanup.h"
#include "common/util.h"
#include "transform/codec.h"

static int hkdf(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len, const char *info,
		uint8_t *out, size_t out_len)
{
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	static const uint8_t nosalt[1];
	size_t n = out_len;
	int ok = pc && EVP_PKEY_derive_init(pc) > 0 && EVP_PKEY_CTX_set_hkdf_md(pc, EVP_sha256()) > 0 &&
		 EVP_PKEY_CTX_set1_hkdf_salt(pc, salt_len ? salt : nosalt, (int)salt_len) > 0 &&
		 EVP_PKEY_CTX_set1_hkdf_key(pc, ikm, (int)ikm_len) > 0 &&
		 EVP_PKEY_CTX_add1_hkdf_info(pc, (const unsigned char *)info, (int)strlen(info)) > 0 &&
		 EVP_PKEY_derive(pc, out, &n) > 0 && n == out_len;
	EVP_PKEY_CTX_free(pc);
	return ok ? 0 : -EIO;
}

int tf_key_set(struct tf_key *k, const uint8_t raw[TF_KEY_LEN], struct ferry_err *err)
{
	memcpy(k->key, raw, TF_KEY_LEN);
	if (hkdf(k->key, TF_KEY_LEN, NULL, 0, "ferry key id v1", k->id, TF_ID_LEN) < 0)
		return fe_msg(err, EIO, "derive the key id (OpenSSL HKDF failed)");
	return 0;
}

int tf_key_derive(const struct tf_key *k, const uint8_t salt[TF_SALT_LEN], uint8_t out[TF_KEY_LEN],
		  struct ferry_err *err)
{
	if (hkdf(k->key, TF_KEY_LEN, salt, TF_SALT_LEN, "ferry chunk key v1", out, TF_KEY_LEN) < 0)
		return fe_msg(err, EIO, "derive a chunk key (OpenSSL HKDF failed)");
	return 0;
}

void tf_key_wipe(struct tf_key *k)
{
	OPENSSL_cleanse(k, sizeof(*k));
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* 64 hex digits, possibly surrounded by whitespace, into raw; -1 if it is not that. */
static int parse_hex(const char *s, size_t len, uint8_t raw[TF_KEY_LEN])
{
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	while (len && isspace((unsigned char)*s))
		s++, len--;
	if (len != 2 * TF_KEY_LEN)
		return -1;
	for (size_t i = 0; i < TF_KEY_LEN; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		raw[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int tf_key_load(const char *path, struct tf_key *k, struct ferry_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fe_set(err, errno, "key file %s", path);
	char buf[160];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0)
		return fe_set(err, errno, "read key file %s", path);
	uint8_t raw[TF_KEY_LEN];
	int r;
	if (n == TF_KEY_LEN) {
		memcpy(raw, buf, TF_KEY_LEN);
		r = 0;
	} else {
		r = parse_hex(buf, (size_t)n, raw);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	if (r < 0)
		return fe_msg(err, EINVAL, "key file %s: want 32 raw bytes or 64 hex digits, found %zd bytes of "
			      "something else", path, n);
	r = tf_key_set(k, raw, err);
	OPENSSL_cleanse(raw, sizeof(raw));
	return r;
}
