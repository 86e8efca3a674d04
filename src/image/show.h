/* SPDX-License-Identifier: Apache-2.0 */
/* The JSON decoder: any image file or directory as JSON (what CRIU's crit does). */
#pragma once
#include <stdio.h>
#include <jansson.h>
#include "image/image.h"

/* A protobuf-c message as a JSON object, walking its descriptor (new fields need no code). */
json_t *msg_to_json(const ProtobufCMessage *msg);
/* One image file (validated) as JSON; NULL with err set on failure. */
json_t *img_file_to_json(int dirfd, const char *fname, struct ferry_err *err);
/* Every *.img in dir as {"file": {...}}, printed to out. 0 or -errno. */
int img_show_dir(const char *dir, FILE *out, struct ferry_err *err);
