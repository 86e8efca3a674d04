/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image sources: the read-side twin of the sinks. Restore, show, verify and merge read every
 * image file through one: a local directory whose files are plain, or encoded (compressed,
 * encrypted) and decoded as they are read — into memory for metadata, into a memfd for page
 * stores (MFD_CLOEXEC: it goes with the process), or streamed chunk by chunk for contents —
 * never into a file with a name. Every file is checked against the image's identity (the
 * inventory's image id) and the owner its name says.
 */
#pragma once
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include "image/image.h"

typedef int (*img_emit_fn)(void *arg, const void *buf, size_t len, struct ferry_err *err);

/* How a source decodes encoded files (transform/: transform_src_attach). */
struct img_src_codec {
	/* Decodes the encoded file behind fd (size bytes); emit receives the plain file in order. */
	int (*decode)(void *priv, int fd, uint64_t size, const char *name, img_emit_fn emit, void *arg,
		      struct ferry_err *err);
	/* 0 if a plain (not encoded) file is acceptable here, else an error naming it. */
	int (*plain_ok)(void *priv, const char *name, struct ferry_err *err);
	void (*free)(void *priv);
};

struct img_src;

/*
 * Where a source's files come from. A local directory (img_src_open*) opens them in place; a
 * memory backend holds files received from a stream (a page server, a migration peer, an
 * export file: transport/src-stream.c) in sealed memfds, never in a file with a name.
 */
struct img_src_backend {
	/* A descriptor of file name to pread() or mmap() (O_CLOEXEC) and its stat; -ENOENT if absent. */
	int (*open)(struct img_src *s, const char *name, struct stat *st, struct ferry_err *err);
	/* The names of its image files (*.img), in any order; free with img_src_names_free(). */
	int (*list)(struct img_src *s, char ***names, size_t *n, struct ferry_err *err);
	void (*close)(struct img_src *s);
};

struct img_src {
	const struct img_src_backend *be;	/* NULL: the local directory dirfd */
	void *be_priv;
	int dirfd;
	char dir[PATH_MAX];
	struct img_ident ident;		/* the inventory's; zero until img_src_read_msg read it */
	const struct img_src_codec *codec;	/* NULL: encoded files are refused */
	void *codec_priv;
	int codec_owned;		/* free codec_priv on close (not in a chain's borrowing levels) */
};

/* Opens dir as a source (read-only; nothing is checked until files are read). */
int img_src_open(struct img_src *s, const char *dir, struct ferry_err *err);
/* The same for a directory already open (dirfd is duplicated). */
int img_src_open_fd(struct img_src *s, int dirfd, const char *dir, struct ferry_err *err);
/* Another directory decoded the same way as from (a parent image of a chain). */
int img_src_open_like(struct img_src *s, const struct img_src *from, const char *dir, struct ferry_err *err);
void img_src_close(struct img_src *s);
/*
 * A source over files held in memory: empty until img_src_mem_add() gives it files. dir names
 * it in messages. The caller attaches a codec as for a directory.
 */
int img_src_open_mem(struct img_src *s, const char *dir, struct ferry_err *err);
/* Adds file name (a sealed memfd, taken over whatever happens) to a memory source. */
int img_src_mem_add(struct img_src *s, const char *name, int memfd, struct ferry_err *err);

/*
 * Reads, checks and unpacks the message file of kind and id. The inventory is read first: it
 * sets the source's identity, which every later file must carry. -ENOENT if absent.
 */
int img_src_read_msg(struct img_src *s, enum img_kind kind, int id, ProtobufCMessage **out, struct ferry_err *err);
/* The whole plain file (header included) into a malloc'd buffer; refused beyond max bytes. */
int img_src_read(struct img_src *s, const char *name, uint64_t max, void **out, size_t *len, struct ferry_err *err);
/* A descriptor to read the plain file from: the file itself, or a sealed memfd it was decoded into. */
int img_src_fd(struct img_src *s, const char *name, struct ferry_err *err);
/* The plain file, in order, in pieces of at most 1 MiB. */
int img_src_stream(struct img_src *s, const char *name, img_emit_fn emit, void *arg, struct ferry_err *err);
/*
 * Whether the file is encoded (1), plain (0), or -errno (-ENOENT if absent); its first 64 bytes
 * (zero if shorter) and size if asked.
 */
int img_src_encoded(struct img_src *s, const char *name, struct img_hdr *outer, uint64_t *size, struct ferry_err *err);
/* The image files of the directory (*.img), sorted; free with img_src_names_free(). */
int img_src_list(struct img_src *s, char ***names, size_t *n, struct ferry_err *err);
void img_src_names_free(char **names, size_t n);
