/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Doctors an image's inventory for the pre-check tests (tests/images/run.sh), keeping its
 * identity: `doctor DIR cpu-missing` records a CPUID feature this CPU lacks as present at dump
 * and prints its name (exit 77 if this CPU has every feature ferry knows).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/cpuid.h"
#include "image/source.h"

/* The first known feature this CPU lacks, set in inv's copy of its word. */
static const struct cpuid_feature *add_missing(Ferry__Inventory *inv)
{
	struct cpuid_word here[CPUID_NWORDS];
	size_t n;
	const struct cpuid_feature *f = cpuid_features(&n);
	cpuid_words(here);
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < CPUID_NWORDS; k++) {
			if (here[k].leaf != f[i].leaf || here[k].subleaf != f[i].subleaf || here[k].reg != f[i].reg ||
			    ((here[k].value >> f[i].bit) & 1))
				continue;
			for (size_t w = 0; w < inv->n_cpuid; w++)
				if (inv->cpuid[w]->leaf == f[i].leaf && inv->cpuid[w]->subleaf == f[i].subleaf &&
				    inv->cpuid[w]->reg == f[i].reg) {
					inv->cpuid[w]->value |= 1u << f[i].bit;
					return &f[i];
				}
		}
	return NULL;
}

int main(int argc, char **argv)
{
	struct ferry_err err = { 0 };
	struct img_src src;
	Ferry__Inventory *inv = NULL;
	if (argc != 3 || strcmp(argv[2], "cpu-missing")) {
		fprintf(stderr, "usage: %s DIR cpu-missing\n", argv[0]);
		return 2;
	}
	int r = img_src_open(&src, argv[1], &err);
	if (r == 0)
		r = img_src_read_msg(&src, IMG_INVENTORY, 0, (ProtobufCMessage **)&inv, &err);
	if (r < 0) {
		fprintf(stderr, "doctor: %s\n", fe_str(&err, r));
		return 1;
	}
	const struct cpuid_feature *f = add_missing(inv);
	if (!f) {
		fprintf(stderr, "doctor: this CPU has every feature ferry knows\n");
		return 77;
	}
	r = img_write_msg(src.dirfd, &src.ident, IMG_INVENTORY, 0, &inv->base, &err);
	if (r < 0) {
		fprintf(stderr, "doctor: %s\n", fe_str(&err, r));
		return 1;
	}
	printf("%s\n", f->name);
	return 0;
}
