/* SPDX-License-Identifier: Apache-2.0 */
/* Session start (HELLO, AUTH) and the receiving side of an image stream, shared by the page server and import. */
#pragma once
#include "transport/conn.h"

int hs_send_hello(struct conn *c, uint32_t caps, struct wire_hello *me, struct ferry_err *err);
int hs_recv_hello(struct conn *c, struct wire_hello *peer, struct ferry_err *err);
int hs_expect(struct conn *c, unsigned want, struct wire_hdr *h, const uint8_t **p, struct ferry_err *err);
/* Client and server halves of HELLO + AUTH; tok NULL: no token configured. */
int hs_client(struct conn *c, const struct token *tok, struct ferry_err *err);
int hs_server(struct conn *c, const struct token *tok, struct ferry_err *err);

/*
 * Receives one image stream (after HELLO) into dirfd: BEGIN/DATA/COMMIT/ABORT/REMOVE until CLOSE.
 * Files are written as ".NAME.part" and renamed on COMMIT (fsynced first); inventory.img, which
 * marks a whole image, only at CLOSE(ok) after the directory is synced. Unless the stream ends
 * with CLOSE(ok), every file of the session is removed. Returns 0 after CLOSE(ok) (the caller
 * then sends OK on a socket), 1 after CLOSE(not ok) (everything removed), or -errno.
 */
int rx_stream(struct conn *c, int dirfd, struct ferry_err *err);
