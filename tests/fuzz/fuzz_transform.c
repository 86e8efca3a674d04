/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the decoder of encoded image files (src/transform/codec.c): any input is
 * decoded with a fixed test key and without one; it must fail cleanly or decode. Built with
 * -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION the XXH3 chunk tags of unencrypted files are not
 * enforced, so mutated compressed data reaches the decompressors.
 * With -DGEN_SEEDS this file is instead a program writing seed inputs (encoded files) into argv[1].
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "transform/codec.h"

#define FUZZ_NAME "fuzz.img"	/* the file name the chunks are authenticated with */

static struct tf_key test_key;

static void key_init(void)
{
	static int done;
	uint8_t raw[TF_KEY_LEN];
	if (done)
		return;
	for (int i = 0; i < TF_KEY_LEN; i++)
		raw[i] = (uint8_t)(0xa0 + i);
	tf_key_set(&test_key, raw, NULL);
	done = 1;
}

static int count_emit(void *arg, const void *buf, size_t len, struct ferry_err *err)
{
	const uint8_t *p = buf;
	uint64_t *sum = arg;
	if (len)
		*sum += p[0] + p[len - 1];	/* touch the bytes: ASan checks the range ends */
	return 0;
}

#ifndef GEN_SEEDS
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ferry_err err = { 0 };
	struct tf_info info;
	uint64_t sum = 0;
	key_init();
	tf_decode_buf(data, size, FUZZ_NAME, &test_key, count_emit, &sum, &info, &err);
	tf_decode_buf(data, size, FUZZ_NAME, NULL, count_emit, &sum, NULL, &err);
	return 0;
}
#else
struct membuf {
	uint8_t *p;
	size_t len, cap;
};

static int mem_emit(void *arg, const void *buf, size_t len, struct ferry_err *err)
{
	struct membuf *m = arg;
	if (m->len + len > m->cap) {
		m->cap = (m->len + len) * 2;
		m->p = realloc(m->p, m->cap);
		if (!m->p)
			return -1;
	}
	memcpy(m->p + m->len, buf, len);
	m->len += len;
	return 0;
}

/* One encoded file: a plain ghost image of plen payload bytes, in chunks of chunk bytes. */
static int write_seed(const char *dir, int n, uint32_t flags, size_t plen, uint32_t chunk)
{
	size_t total = sizeof(struct img_hdr) + plen;
	uint8_t *plain = malloc(total);
	for (size_t i = 0; i < plen; i++)
		plain[sizeof(struct img_hdr) + i] = (uint8_t)(i % 7 == 0 ? i * 31 : i / 64);
	struct img_hdr h;
	img_hdr_init(&h, IMG_GHOST, 1, NULL, plain + sizeof(h), plen, 1);
	memcpy(plain, &h, sizeof(h));
	struct ferry_err err = { 0 };
	struct tf_enc *e;
	struct membuf m = { 0 };
	uint8_t id[TF_ID_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	if (tf_enc_new(flags, &test_key, id, FUZZ_NAME, &e, &err) < 0 || tf_enc_set_chunk_size(e, chunk) < 0)
		return fprintf(stderr, "seed %d: %s\n", n, err.msg), -1;
	int r = tf_enc_start(e, &h, mem_emit, &m, &err);
	for (size_t off = 0; !r;) {
		size_t k = total - off > chunk ? chunk : total - off;
		r = tf_enc_chunk(e, plain + off, k, off + k == total, mem_emit, &m, &err);
		off += k;
		if (off == total)
			break;
	}
	tf_enc_free(e);
	char path[4096];
	snprintf(path, sizeof(path), "%s/seed-%02d", dir, n);
	FILE *f = fopen(path, "w");
	if (r < 0 || !f || fwrite(m.p, 1, m.len, f) != m.len)
		return fprintf(stderr, "seed %d: %s\n", n, r < 0 ? err.msg : path), -1;
	fclose(f);
	free(m.p);
	free(plain);
	return 0;
}

int main(int argc, char **argv)
{
	static const uint32_t flags[] = { TF_FLAG_ZSTD, TF_FLAG_LZ4, TF_FLAG_AES256GCM,
					  TF_FLAG_ZSTD | TF_FLAG_AES256GCM, TF_FLAG_LZ4 | TF_FLAG_AES256GCM };
	static const size_t sizes[] = { 0, 100, 9000, 20000 };
	if (argc != 2)
		return fprintf(stderr, "usage: %s SEED_DIR\n", argv[0]), 2;
	mkdir(argv[1], 0755);
	key_init();
	int n = 0;
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
			if (write_seed(argv[1], n++, flags[i], sizes[k], TF_CHUNK_MIN) < 0)
				return 1;
	return 0;
}
#endif
