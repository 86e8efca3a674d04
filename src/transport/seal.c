/* SPDX-License-Identifier: Apache-2.0 */
/* Session keys (HKDF-SHA256), the AUTH/OK proofs (HMAC-SHA256) and sealed frames (AES-256-GCM): seal.h. */
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <stdlib.h>
#include <string.h>
#include "transport/seal.h"

#define SALT_LABEL "ferry-2"
#define INFO_LABEL "ferry-2 session keys"

struct seal {
	EVP_CIPHER_CTX *ctx;
	int encrypt;
};

int keys_derive(const struct token *t, const uint8_t *nonce_c, const uint8_t *nonce_s, struct session_keys *k,
		struct ferry_err *err)
{
	uint8_t salt[sizeof(SALT_LABEL) - 1 + 2 * WIRE_NONCE];
	memcpy(salt, SALT_LABEL, sizeof(SALT_LABEL) - 1);
	memcpy(salt + sizeof(SALT_LABEL) - 1, nonce_c, WIRE_NONCE);
	memcpy(salt + sizeof(SALT_LABEL) - 1 + WIRE_NONCE, nonce_s, WIRE_NONCE);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)t->key, t->len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof(salt)),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, INFO_LABEL, sizeof(INFO_LABEL) - 1),
		OSSL_PARAM_construct_end(),
	};
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	int ok = kctx && EVP_KDF_derive(kctx, (uint8_t *)k, sizeof(*k), params) == 1;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	if (!ok) {
		keys_wipe(k);
		return fe_msg(err, EIO, "HKDF-SHA256 failed (OpenSSL)");
	}
	return 0;
}

void keys_wipe(struct session_keys *k)
{
	OPENSSL_cleanse(k, sizeof(*k));
}

void hmac256(const uint8_t key[KEY_LEN], const void *msg, size_t len, uint8_t mac[WIRE_MAC])
{
	unsigned int n = WIRE_MAC;
	if (!HMAC(EVP_sha256(), key, KEY_LEN, msg, len, mac, &n) && random_bytes(mac, WIRE_MAC, NULL) < 0)
		memset(mac, 0xa5 ^ key[0], WIRE_MAC);	/* a failed MAC never matches the peer's */
}

int seal_new(const uint8_t key[KEY_LEN], int encrypt, struct seal **out, struct ferry_err *err)
{
	struct seal *s = calloc(1, sizeof(*s));
	if (!s || !(s->ctx = EVP_CIPHER_CTX_new())) {
		free(s);
		return fe_set(err, ENOMEM, "frame seal");
	}
	s->encrypt = encrypt;
	if (EVP_CipherInit_ex(s->ctx, EVP_aes_256_gcm(), NULL, key, NULL, encrypt) != 1) {
		seal_free(s);
		return fe_msg(err, EIO, "AES-256-GCM setup failed (OpenSSL)");
	}
	*out = s;
	return 0;
}

void seal_free(struct seal *s)
{
	if (!s)
		return;
	EVP_CIPHER_CTX_free(s->ctx);	/* cleanses the key schedule */
	free(s);
}

/* The nonce: the frame's number, little-endian, in 12 bytes. Unique per key: keys are per session and direction. */
static int start(struct seal *s, uint64_t seq, const uint8_t *aad)
{
	uint8_t iv[12] = { 0 };
	int n;
	for (int i = 0; i < 8; i++)
		iv[i] = (uint8_t)(seq >> (8 * i));
	return EVP_CipherInit_ex(s->ctx, NULL, NULL, NULL, iv, s->encrypt) == 1 &&
	       EVP_CipherUpdate(s->ctx, NULL, &n, aad, WIRE_AAD) == 1;
}

int seal_frame(struct seal *s, uint64_t seq, const uint8_t *aad, const void *in, uint8_t *out, size_t len,
	       uint8_t tag[WIRE_TAG])
{
	int n = 0, m = 0;
	if (!start(s, seq, aad) || (len && EVP_CipherUpdate(s->ctx, out, &n, in, (int)len) != 1) ||
	    EVP_CipherFinal_ex(s->ctx, out + n, &m) != 1 ||
	    EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_GET_TAG, WIRE_TAG, tag) != 1)
		return -EIO;
	return 0;
}

int seal_open(struct seal *s, uint64_t seq, const uint8_t *aad, uint8_t *buf, size_t len, const uint8_t tag[WIRE_TAG])
{
	int n = 0, m = 0;
	if (!start(s, seq, aad) || (len && EVP_CipherUpdate(s->ctx, buf, &n, buf, (int)len) != 1) ||
	    EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_SET_TAG, WIRE_TAG, (void *)tag) != 1 ||
	    EVP_CipherFinal_ex(s->ctx, buf + n, &m) != 1)
		return -EBADMSG;
	return 0;
}
