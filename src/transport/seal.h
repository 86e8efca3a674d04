/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Session keys and sealed frames (docs/PROTOCOL.md, "Token mode"). From the token and both HELLO
 * nonces, HKDF-SHA256 derives four keys: one per direction for the AUTH/OK proofs and one per
 * direction for the frames. After the proofs every frame is sealed with AES-256-GCM: its payload
 * encrypted, its header authenticated, its sequence number the nonce, so a frame cannot be
 * altered, forged, replayed, dropped or reordered without the receiver noticing.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "common/error.h"
#include "transport/conn.h"

#define KEY_LEN 32

struct session_keys {
	uint8_t auth_client[KEY_LEN];	/* AUTH: the client proves it knows the token */
	uint8_t auth_server[KEY_LEN];	/* OK: the server proves it */
	uint8_t c2s[KEY_LEN];		/* frames client -> server */
	uint8_t s2c[KEY_LEN];		/* frames server -> client */
};

/* HKDF-SHA256(ikm = token, salt = "ferry-2" || nonce_c || nonce_s, info = "ferry-2 session keys"). */
int keys_derive(const struct token *t, const uint8_t *nonce_c, const uint8_t *nonce_s, struct session_keys *k,
		struct ferry_err *err);
void keys_wipe(struct session_keys *k);

/* HMAC-SHA256(key, msg). */
void hmac256(const uint8_t key[KEY_LEN], const void *msg, size_t len, uint8_t mac[WIRE_MAC]);

/* One direction's AEAD state. seal_new: encrypting (sender) or decrypting (receiver); NULL-safe free. */
struct seal;
int seal_new(const uint8_t key[KEY_LEN], int encrypt, struct seal **out, struct ferry_err *err);
void seal_free(struct seal *s);
/*
 * Frame number seq: encrypts len bytes of in into out (may be in) and writes the tag, authenticating
 * aad (the header's first WIRE_AAD bytes) too. 0 or -EIO.
 */
int seal_frame(struct seal *s, uint64_t seq, const uint8_t *aad, const void *in, uint8_t *out, size_t len,
	       uint8_t tag[WIRE_TAG]);
/* Decrypts buf in place: 0, or -EBADMSG when the tag does not match (then buf holds garbage: drop it). */
int seal_open(struct seal *s, uint64_t seq, const uint8_t *aad, uint8_t *buf, size_t len, const uint8_t tag[WIRE_TAG]);
