/* SPDX-License-Identifier: Apache-2.0 */
/* Inside transform/: keys, and the chunk encoder and decoder shared by the sink and the reader. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "common/error.h"
#include "image/image.h"
#include "transform/format.h"

struct tf_key {
	uint8_t key[TF_KEY_LEN];
	uint8_t id[TF_ID_LEN];
};

/* Reads a key file: 32 raw bytes, or 64 hex digits (surrounding whitespace allowed). */
int tf_key_load(const char *path, struct tf_key *k, struct ferry_err *err);
/* Sets k from 32 bytes (and computes its id). */
int tf_key_set(struct tf_key *k, const uint8_t raw[TF_KEY_LEN], struct ferry_err *err);
/* The per-file chunk key: HKDF-SHA256(key, salt, "ferry chunk key v1"). */
int tf_key_derive(const struct tf_key *k, const uint8_t salt[TF_SALT_LEN], uint8_t out[TF_KEY_LEN],
		  struct ferry_err *err);
void tf_key_wipe(struct tf_key *k);

/* Receives encoded (encoder) or plain (decoder) bytes in order (the same type as img_emit_fn). */
typedef int (*tf_emit_fn)(void *arg, const void *buf, size_t len, struct ferry_err *err);

struct tf_enc;
/*
 * A file encoder: flags (TF_FLAG_*), key when encrypting, image_id shared by the dump's files,
 * name the file's name (authenticated). The plain file's header is given to tf_enc_start().
 */
int tf_enc_new(uint32_t flags, const struct tf_key *key, const uint8_t image_id[TF_ID_LEN], const char *name,
	       struct tf_enc **out, struct ferry_err *err);
/* Emits the image and encoding headers for the plain file whose header is plain_hdr. */
int tf_enc_start(struct tf_enc *e, const struct img_hdr *plain_hdr, tf_emit_fn emit, void *arg,
		 struct ferry_err *err);
/* Encodes and emits one chunk (len <= TF_CHUNK_SIZE; only the last may be shorter). */
int tf_enc_chunk(struct tf_enc *e, const uint8_t *plain, size_t len, int last, tf_emit_fn emit, void *arg,
		 struct ferry_err *err);
void tf_enc_free(struct tf_enc *e);
/* Smaller chunks (tests and the fuzzer's seeds): TF_CHUNK_MIN <= size <= TF_CHUNK_SIZE, before any chunk. */
int tf_enc_set_chunk_size(struct tf_enc *e, uint32_t size);

struct tf_info {
	uint32_t flags;
	uint8_t image_id[TF_ID_LEN];
	uint64_t plain_size;
};
/*
 * Decodes a whole encoded file held in memory (name: its file name, authenticated with it), key
 * NULL if none was given; emit receives the plain file. Every chunk is verified before it is
 * emitted; a failure leaves the output incomplete and says why, naming the file.
 */
int tf_decode_buf(const uint8_t *buf, size_t len, const char *name, const struct tf_key *key, tf_emit_fn emit,
		  void *arg, struct tf_info *info, struct ferry_err *err);
