/* SPDX-License-Identifier: Apache-2.0 */
/* The JSON decoder: any image file or directory as JSON (what CRIU's crit does). */
#pragma once
#include <stdio.h>
#include <jansson.h>
#include "image/image.h"

/* A protobuf-c message as a JSON object, walking its descriptor (new fields need no code). */
json_t *msg_to_json(const ProtobufCMessage *msg);
struct img_src;
/*
 * One image file of src (validated: header, owner, and identity once the inventory was read)
 * as JSON; an encrypted file without its key shows its header only. NULL with err on failure.
 */
json_t *img_file_to_json(struct img_src *src, const char *fname, struct ferry_err *err);
/* Every *.img of src as {"file": {...}} (or only that file), printed to out. 0 or -errno. */
int img_show_src(struct img_src *src, const char *only, FILE *out, struct ferry_err *err);
/* The same for a directory of plain files. */
int img_show_dir(const char *dir, FILE *out, struct ferry_err *err);
