/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A migration's control channel (docs/MIGRATION.md): one connection of the page server's framed,
 * versioned, authenticated stream (transport/), carrying MigrateMsg control messages in CTRL
 * frames and image streams in between. Every message carries the migration's id.
 */
#pragma once
#include "common/error.h"
#include "transport/conn.h"
#include "migrate.pb-c.h"

#define MIG_ID_LEN 16

struct chan {
	struct conn c;
	uint8_t id[MIG_ID_LEN];
	int open;
	uint64_t bytes_ctrl;		/* control bytes sent */
};

/* Source: connects to o->address:o->port and authenticates (token or TLS as in o). */
int chan_connect(struct chan *ch, const struct remote_opts *o, struct ferry_err *err);
/* Destination: authenticates the client on fd (owned); tok NULL: none; tls NULL: no TLS. */
int chan_accept(struct chan *ch, int fd, const char *who, const struct token *tok, void *tls, struct ferry_err *err);
void chan_close(struct chan *ch);

/* Sends m (its id is set here). */
int chan_send(struct chan *ch, Ferry__MigrateMsg *m, struct ferry_err *err);
/* A message with only a kind (and a text). */
int chan_send_kind(struct chan *ch, Ferry__MigrateMsg__Kind kind, const char *message, struct ferry_err *err);
/*
 * Receives the next control message (freed with chan_msg_free). An ERROR frame becomes the error;
 * another frame is a protocol error. want_id: the id must be ch->id (else it is taken from the
 * first message).
 */
int chan_recv(struct chan *ch, Ferry__MigrateMsg **m, int want_id, struct ferry_err *err);
/* Like chan_recv, but the message must be of kind want (FAILED / ABORT become errors naming why). */
int chan_expect(struct chan *ch, Ferry__MigrateMsg__Kind want, Ferry__MigrateMsg **m, struct ferry_err *err);
void chan_msg_free(Ferry__MigrateMsg *m);
const char *chan_kind_name(int kind);
