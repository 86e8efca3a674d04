/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The page server and the image stream (docs/PROTOCOL.md). A dump can send every image file to
 * a page server instead of writing it locally: transport_sink_open() returns a sink that streams
 * them; `ferry page-server` receives them into a directory and keeps only a whole image. The same
 * framed stream, written to a file, is `ferry export` / `ferry import`.
 */
#pragma once
#include <stdint.h>
#include "common/error.h"
#include "image/sink.h"

struct remote_opts {
	const char *address;		/* host name or IP literal; page server: NULL listens on 127.0.0.1 */
	int port;			/* 1-65535; page server: 0 takes a free one (printed) */
	const char *token_file;		/* pre-shared token; NULL: none */
	const char *tls_cert;		/* TLS: our certificate and key (PEM); NULL: plain TCP */
	const char *tls_key;
	const char *tls_ca;		/* TLS: the CA that signs the peer's certificate */
	int progress;			/* show a progress bar on a terminal */
	int insecure;			/* page server: serve clients that prove nothing (no token, no client certificate) */
	void (*listening)(void *arg);	/* page_server_run: called once it listens (pidfile, status) */
	void *listening_arg;
};

/* A --port value: digits only, 0-65535 (0: page server, any free port). 0 or -EINVAL with err saying why. */
int remote_port_parse(const char *s, int *port, struct ferry_err *err);

/*
 * Connects and authenticates; *sink streams every file to the server. Its close() ends the
 * session; transport_sink_free() frees it once the dump is over. The caller's thread should
 * block SIGPIPE meanwhile (sigpipe_block(), common/util.h): a dead server is an error.
 */
int transport_sink_open(const struct remote_opts *o, struct img_sink **sink, struct ferry_err *err);
void transport_sink_free(struct img_sink *sink);

/*
 * `ferry page-server`: receives images into dir, serving connections concurrently. Returns after the
 * first authenticated session that ends with CLOSE: 0 if it stored a whole image, -ECANCELED if the
 * dump failed; other failed connections are logged and do not end it. With forever it serves until
 * SIGINT/SIGTERM/SIGHUP (then 0). Refuses to start without a token or client certificates unless
 * o->insecure.
 */
int page_server_run(const struct remote_opts *o, const char *dir, int forever, struct ferry_err *err);

/* `ferry export DIR FILE` / `ferry import FILE DIR`: an image directory as one file. */
int image_export(const char *dir, const char *file, struct ferry_err *err);
int image_import(const char *file, const char *dir, struct ferry_err *err);

struct conn;
struct img_src;
/*
 * An image source (image/source.h) holding, in sealed memfds, the image a stream carries after
 * its HELLO (transport/src-stream.c): every file up to CLOSE(ok). 0, or -errno with nothing held.
 * Close it with img_src_close().
 */
int img_src_recv(struct img_src *s, struct conn *c, struct ferry_err *err);
/* The same from an export file (`ferry export`): restore, show or verify it without importing it. */
int img_src_open_export(struct img_src *s, const char *file, struct ferry_err *err);
