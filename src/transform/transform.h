/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Images that travel: page data compressed (zstd or lz4) and image files encrypted at rest with
 * an authenticated cipher. A dump wraps its sink with transform_sink_wrap(); a restore of an
 * encoded image first decodes it (transform_decode_dir) into a private plain directory.
 */
#pragma once
#include "common/error.h"
#include "image/sink.h"

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
/* Whether dir holds encoded files (1), plain ones (0), or -errno. */
int transform_dir_encoded(const char *dir, struct ferry_err *err);
/*
 * Decodes every file of dir into a new private directory (on tmpfs when possible), verifying
 * integrity; *plain is malloc'd; transform_cleanup() removes it.
 */
int transform_decode_dir(const char *dir, const char *key_file, char **plain, struct ferry_err *err);
void transform_cleanup(char *plain);
/*
 * Writes plain/name back into dir under the same name, encrypted with key_file when not NULL
 * (a restore's stats-restore.img goes back next to the image it came from). -ENOENT if absent.
 */
int transform_export_file(const char *plain, const char *dir, const char *name, const char *key_file,
			  struct ferry_err *err);
