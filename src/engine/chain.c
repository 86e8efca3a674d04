/* SPDX-License-Identifier: Apache-2.0 */
/* Image chains (engine/chain.h). */
#include <errno.h>
#include "engine/chain.h"

int chain_open(int dirfd, const char *dir, const Ferry__Inventory *inv, struct chain **out, struct ferry_err *err)
{
	*out = NULL;
	return 0;
}

void chain_close(struct chain *c)
{
}

int chain_verify_pages(struct chain *c, struct ferry_err *err)
{
	return 0;
}

int chain_resolve(struct chain *c, int pid, uint64_t vaddr, uint64_t len,
		  int (*fn)(const struct chain_piece *p, void *arg), void *arg, struct ferry_err *err)
{
	return fe_msg(err, ENOENT, "no parent image");
}

int chain_verify(const char *dir, FILE *out, struct ferry_err *err)
{
	return fe_msg(err, ENOTSUP, "not yet");
}

int chain_merge(const char *dir, const char *out, struct ferry_err *err)
{
	return fe_msg(err, ENOTSUP, "not yet");
}
