/* SPDX-License-Identifier: Apache-2.0 */
/* `ferry check [--json]`: what this kernel and CPU offer, and whether the engine can run here. */
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "common/kprobe.h"

int cmd_check(int argc, char **argv)
{
	int json = argc > 1 && !strcmp(argv[1], "--json");
	const struct kprobe *kp = kprobe_get();
	kprobe_print(kp, stdout, json);
	const char *missing = !kp->clone3_set_tid ? "clone3 with set_tid" :
			      !kp->map_vdso ? "arch_prctl(ARCH_MAP_VDSO_64)" :
			      !kp->kcmp ? "kcmp" : NULL;
	if (missing) {
		fprintf(stderr, "Error: this kernel lacks %s: restore cannot work here\n", missing);
		return 1;
	}
	if (!json)
		printf("Looks good.\n");
	return 0;
}
