/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder until compression and encryption land. */
#include <errno.h>
#include <string.h>
#include "transform/transform.h"

int transform_parse_compress(const char *name, enum compress_alg *alg)
{
	if (!strcmp(name, "none"))
		*alg = COMPRESS_NONE;
	else if (!strcmp(name, "zstd"))
		*alg = COMPRESS_ZSTD;
	else if (!strcmp(name, "lz4"))
		*alg = COMPRESS_LZ4;
	else
		return -EINVAL;
	return 0;
}

int transform_sink_wrap(struct img_sink *inner, const struct transform_opts *o, struct img_sink **out,
			struct ferry_err *err)
{
	return fe_msg(err, ENOTSUP, "compression and encryption are not available in this build");
}

int transform_dir_encoded(const char *dir, struct ferry_err *err)
{
	return 0;
}

int transform_decode_dir(const char *dir, const char *key_file, char **plain, struct ferry_err *err)
{
	return fe_msg(err, ENOTSUP, "compression and encryption are not available in this build");
}

void transform_cleanup(char *plain)
{
}
