/* SPDX-License-Identifier: Apache-2.0 */
/* Options. */
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

