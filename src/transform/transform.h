/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Images that travel: page data compressed (zstd or lz4) and image files encrypted at rest with
 * an authenticated cipher. A dump wraps its sink with transform_sink_wrap(); whatever reads an
 * image attaches the decoder to its source (transform_src_attach) and reads it in place.
 */
#pragma once
#include "common/error.h"
#include "image/sink.h"
#include "image/source.h"

enum compress_alg { COMPRESS_NONE = 0, COMPRESS_ZSTD = 1, COMPRESS_LZ4 = 2 };

struct transform_opts {
	enum compress_alg compress;
	const char *key_file;		/* encryption key; NULL: no encryption */
};

/* Parses "zstd" / "lz4" / "none". */
int transform_parse_compress(const char *name, enum compress_alg *alg);
/* A sink that encodes every file and writes it to inner. Freed (not inner) by its close(). */
int transform_sink_wrap(struct img_sink *inner, const struct transform_opts *o, struct img_sink **out,
			struct ferry_err *err);
/*
 * Makes the source decode encoded files as they are read (image/source.h), with the key in
 * key_file (NULL: none; encrypted files are then refused). With a key every file must be
 * encrypted. 0 or -errno.
 */
int transform_src_attach(struct img_src *s, const char *key_file, struct ferry_err *err);
