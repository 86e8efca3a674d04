/* SPDX-License-Identifier: Apache-2.0 */
/* Writes the fuzzer's seed corpus: one valid image of every kind (tests/unit/samples.c) into DIR. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include "common/util.h"
#include "samples.h"

int main(int argc, char **argv)
{
	struct ferry_err err = { 0 };
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	int r = mkdir_p(argv[1], 0755);
	int dirfd = r < 0 ? -1 : open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0 || (r = samples_write_all(dirfd, &err)) < 0) {
		fprintf(stderr, "gen_corpus: %s: %s\n", argv[1], fe_str(&err, r ? r : -EBADF));
		return 1;
	}
	close(dirfd);
	return 0;
}
