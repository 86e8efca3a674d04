/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A framed byte stream to a peer: a TCP socket (plain or TLS) or, for export/import, a file.
 * Frames carry sequence numbers per direction and checksums (protocol.h), and once a token
 * handshake has set tx_seal / rx_seal, a seal (seal.h); every error names the peer
 * ("page server 10.0.0.1:7000: …") and the cause.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "common/error.h"
#include "transport/protocol.h"
#include "transport/transport.h"

struct seal;

struct conn {
	int fd;
	void *ssl;		/* SSL *, or NULL */
	int is_file;		/* export/import: no replies, EOF means truncated */
	char peer[160];		/* "page server 10.0.0.1:7000", "client 10.0.0.2:4711", "export /x" */
	uint32_t tx_seq, rx_seq;
	struct seal *tx_seal, *rx_seal;	/* owned; NULL: frames that way are not sealed */
	uint32_t rx_max;	/* 0, or a lower cap on any payload (before the peer is authenticated) */
	uint8_t *txbuf;		/* a sealed frame's ciphertext and tag */
	size_t txcap;
	uint64_t rx_off;	/* bytes read so far (for "truncated at byte N") */
	uint8_t *buf;		/* payload of the last frame received */
	size_t cap;
	uint8_t ctrl[WIRE_MAX_CTRL + WIRE_TAG];
};

/* I/O timeout in seconds: FERRY_NET_TIMEOUT or 30. */
int conn_timeout(void);
/* A connection on fd (owned). A network peer's starts with rx_max = WIRE_MAX_CTRL until its handshake. */
void conn_init(struct conn *c, int fd, const char *peer_fmt, ...) __attribute__((format(printf, 3, 4)));
/* Closes the fd and the TLS session, frees buffers and seals. */
void conn_close(struct conn *c);

/* Sends one frame; payload may be NULL when len is 0. */
int conn_send(struct conn *c, unsigned type, uint32_t file, const void *payload, size_t len, struct ferry_err *err);
/*
 * Receives one frame, checking header, checksum, sequence and (once rx_seal is set) its seal, which
 * it opens; *payload points into c (valid until the next call).
 */
int conn_recv(struct conn *c, struct wire_hdr *h, const uint8_t **payload, struct ferry_err *err);
/* Like conn_recv, but an ERROR frame becomes the error "<peer>: <its message>". */
int conn_recv_msg(struct conn *c, struct wire_hdr *h, const uint8_t **payload, struct ferry_err *err);
/* Whether the peer sent something (an ERROR, or closed): then *err gets it and this returns < 0. */
int conn_peer_error(struct conn *c, struct ferry_err *err);
/* Best effort: tells the peer why we stop (the message of err). */
void conn_send_error(struct conn *c, int code, const struct ferry_err *err);

/*
 * A remote image sink (transport.h) over c, already connected and authenticated (a migration's
 * channel): each file as BEGIN/DATA/COMMIT, close as CLOSE and the peer's OK; c stays open.
 * counts (may be NULL) adds up what is sent. Freed with transport_sink_free(); as for
 * transport_sink_open(), the caller's thread blocks SIGPIPE meanwhile.
 */
struct sink_counts {
	uint64_t bytes;		/* DATA bytes sent */
	uint64_t page_bytes;	/* of them, page data (pages-*.img) */
};
int transport_sink_attach(struct conn *c, struct sink_counts *counts, struct img_sink **sink, struct ferry_err *err);

/* Whether o names a usable endpoint (server: port 0 allowed). 0 or -EINVAL. */
int remote_check(const struct remote_opts *o, int server, struct ferry_err *err);
/* TCP: connect to / listen on o->address:o->port, with timeouts set. */
int tcp_connect(const struct remote_opts *o, int *fd, struct ferry_err *err);
int tcp_listen(const struct remote_opts *o, int *fd, struct ferry_err *err);
void tcp_set_timeouts(int fd);

/* tls.c. A NULL ctx means no TLS. */
int tls_client_start(struct conn *c, const struct remote_opts *o, struct ferry_err *err);
int tls_server_ctx(const struct remote_opts *o, void **ctx, struct ferry_err *err);
int tls_server_accept(struct conn *c, void *ctx, struct ferry_err *err);
void tls_ctx_free(void *ctx);
void tls_conn_free(struct conn *c);
/* Raw I/O over the TLS session: bytes moved, or -errno with err filled. */
int tls_read(struct conn *c, void *buf, size_t len, struct ferry_err *err);
int tls_write(struct conn *c, const void *buf, size_t len, struct ferry_err *err);
int tls_pending(struct conn *c);

/* auth.c: the pre-shared token. */
struct token {
	size_t len;
	uint8_t key[4096];
};
int token_load(const char *path, struct token *t, struct ferry_err *err);
/* Constant-time comparison of two MACs: 1 if equal. */
int mac_equal(const uint8_t *a, const uint8_t *b);
int random_bytes(uint8_t *buf, size_t len, struct ferry_err *err);
