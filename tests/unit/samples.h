/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Populated sample messages of every image kind, shared by the unit tests and the fuzzer's
 * seed-corpus generator. The messages live in static storage: never free them.
 */
#pragma once
#include "image/image.h"

#define SAMPLE_PID 4242
#define SAMPLE_RIP 0x7f1234567890ULL	/* above 32 bits: shown as a hex string */

/* The sample message for a message kind, or NULL for raw kinds (pages, ghost). */
const ProtobufCMessage *sample_msg(enum img_kind kind);
/* A sample ghost payload. */
extern const char sample_ghost[];
/* The identity every sample file carries (the sample inventory's). */
extern const struct img_ident sample_ident;
/* The id a sample file of kind has: SAMPLE_PID for per-task kinds, else 0. */
int sample_id(enum img_kind kind);
/* Writes one valid image of every kind (with a 3-page store) into dirfd; 0 or -errno. */
int samples_write_all(int dirfd, struct ferry_err *err);
