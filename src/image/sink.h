/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where a dump's image files go. Every file is written through a sink in one sequential pass
 * (begin, write…, commit or abort): the local sink writes a temporary file and renames it into
 * place; a remote sink (transport/) streams it to a page server. A file is only ever visible
 * under its real name once it was committed whole.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "common/error.h"

struct img_sink;
struct img_out;

struct img_sink_ops {
	/* Starts file `name` of `size` bytes (0 if unknown). */
	int (*begin)(struct img_sink *s, const char *name, uint64_t size, struct img_out **out, struct ferry_err *err);
	int (*write)(struct img_out *o, const void *buf, size_t len, struct ferry_err *err);
	/* Publishes the file; frees o whatever happens. */
	int (*commit)(struct img_out *o, struct ferry_err *err);
	/* Drops the file; frees o. */
	void (*abort)(struct img_out *o);
	/* The end of the dump: ok says whether it is whole (a remote side may then keep or drop it). */
	int (*close)(struct img_sink *s, int ok, struct ferry_err *err);
	/* Removes a file (the inventory of an earlier dump in the same place). */
	void (*remove)(struct img_sink *s, const char *name);
	/* Optional: every file committed so far is durable (a step nothing can undo comes next). */
	int (*sync)(struct img_sink *s, struct ferry_err *err);
};

struct img_sink {
	const struct img_sink_ops *ops;
	int dirfd;		/* local sink */
	void *priv;		/* the sink's own state */
	uint8_t ident[16];	/* the image's identity, stamped in every header written through it */
};

/* A sink writing into dirfd (not owned): each file is durable (fsync'ed, with its name) on commit. */
void img_sink_local(struct img_sink *s, int dirfd);
/*
 * A whole image's sink into dirfd (not owned): files are written out in the background and
 * waited for before inventory.img is committed; close(ok = 0) removes the files it committed.
 * Must be closed.
 */
int img_sink_local_open(struct img_sink *s, int dirfd, struct ferry_err *err);

/*
 * Removes every image file but the inventory from dirfd: what an earlier dump left there would
 * otherwise sit beside the new image with another identity. Remove the inventory first.
 */
void img_dir_clear(int dirfd);

/* ops->sync where the sink has one: 0 once every file committed so far is durable. */
int img_sink_sync(struct img_sink *s, struct ferry_err *err);

/* Writes a whole file: header + payload. */
int img_sink_write_file(struct img_sink *s, const char *name, const void *a, size_t alen, const void *b,
			size_t blen, struct ferry_err *err);

/* A tee: every file to primary, and to mirror those for which mirrored(name) is true (sink-tee.c). */
struct img_tee {
	struct img_sink *primary, *mirror;
	int (*mirrored)(const char *name);
};
void img_sink_tee(struct img_sink *s, struct img_tee *t);
