/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Makes an image large: bigimg DIR N [dup] adds N open directories ("/") to files.img and a
 * descriptor for each to the root task's fds-PID.img (numbers from 1000), keeping the image's
 * identity; with "dup" the last one reuses the first new file id. What 150,000 such entries cost
 * verify and restore shows whether their checks are n log n (tests/images/run.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "image/source.h"

static int grow(struct img_src *src, const Ferry__Inventory *inv, size_t n, int dup, struct ferry_err *err)
{
	Ferry__Files *files = NULL;
	Ferry__FdTable *fds = NULL;
	int r = img_src_read_msg(src, IMG_FILES, 0, (ProtobufCMessage **)&files, err);
	if (r == 0)
		r = img_src_read_msg(src, IMG_FDS, inv->root_pid, (ProtobufCMessage **)&fds, err);
	if (r < 0)
		return r;
	uint32_t id0 = 0;
	for (size_t i = 0; i < files->n_files; i++)
		id0 = files->files[i]->id > id0 ? files->files[i]->id : id0;
	Ferry__FileEntry **fv = calloc(files->n_files + n, sizeof(*fv)), *fe = calloc(n, sizeof(*fe));
	Ferry__FdEntry **dv = calloc(fds->n_fds + n, sizeof(*dv)), *de = calloc(n, sizeof(*de));
	if (!fv || !fe || !dv || !de)
		return -ENOMEM;
	memcpy(fv, files->files, files->n_files * sizeof(*fv));
	memcpy(dv, fds->fds, fds->n_fds * sizeof(*dv));
	for (size_t i = 0; i < n; i++) {
		ferry__file_entry__init(&fe[i]);
		fe[i].id = id0 + 1 + (uint32_t)(dup && i == n - 1 ? 0 : i);
		fe[i].kind = FERRY__FILE_KIND__FILE_DIR;
		fe[i].path = "/";
		fv[files->n_files + i] = &fe[i];
		ferry__fd_entry__init(&de[i]);
		de[i].fd = 1000 + (int32_t)i;
		de[i].file_id = fe[i].id;
		dv[fds->n_fds + i] = &de[i];
	}
	Ferry__Files nf = *files;
	Ferry__FdTable nd = *fds;
	nf.files = fv;
	nf.n_files += n;
	nd.fds = dv;
	nd.n_fds += n;
	r = img_write_msg(src->dirfd, &src->ident, IMG_FILES, 0, &nf.base, err);
	if (r == 0)
		r = img_write_msg(src->dirfd, &src->ident, IMG_FDS, inv->root_pid, &nd.base, err);
	return r;
}

int main(int argc, char **argv)
{
	struct ferry_err err = { 0 };
	struct img_src src;
	Ferry__Inventory *inv = NULL;
	if (argc < 3) {
		fprintf(stderr, "usage: %s DIR N [dup]\n", argv[0]);
		return 2;
	}
	int r = img_src_open(&src, argv[1], &err);
	if (r == 0)
		r = img_src_read_msg(&src, IMG_INVENTORY, 0, (ProtobufCMessage **)&inv, &err);
	if (r == 0)
		r = grow(&src, inv, strtoul(argv[2], NULL, 10), argc > 3 && !strcmp(argv[3], "dup"), &err);
	if (r < 0) {
		fprintf(stderr, "bigimg: %s\n", fe_str(&err, r));
		return 1;
	}
	return 0;
}
