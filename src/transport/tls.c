/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS for the page server (OpenSSL): the client verifies the server's certificate against
 * --tls-cacert and its name against --address; a server given --tls-cacert also requires and
 * verifies a client certificate (mutual TLS). TLS 1.2 at least.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <string.h>
#include "transport/conn.h"

/* The first queued OpenSSL error as text (or what), and clears the queue. */
static const char *ssl_reason(char *buf, size_t len, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "%s", what);
	ERR_clear_error();
	return buf;
}

static int ctx_err(const char *what, const char *file, struct ferry_err *err)
{
	char why[256];
	return fe_msg(err, EINVAL, "TLS: %s %s: %s", what, file, ssl_reason(why, sizeof(why), "failed"));
}

static int load_identity(SSL_CTX *ctx, const struct remote_opts *o, struct ferry_err *err)
{
	if (o->tls_cert && !o->tls_key)
		return fe_msg(err, EINVAL, "TLS: --tls-cert needs --tls-key");
	if (o->tls_cert && SSL_CTX_use_certificate_chain_file(ctx, o->tls_cert) != 1)
		return ctx_err("load certificate", o->tls_cert, err);
	if (o->tls_key && SSL_CTX_use_PrivateKey_file(ctx, o->tls_key, SSL_FILETYPE_PEM) != 1)
		return ctx_err("load key", o->tls_key, err);
	if (o->tls_cert && SSL_CTX_check_private_key(ctx) != 1)
		return ctx_err("key does not match certificate", o->tls_cert, err);
	if (o->tls_ca && SSL_CTX_load_verify_locations(ctx, o->tls_ca, NULL) != 1)
		return ctx_err("load CA", o->tls_ca, err);
	return 0;
}

static SSL_CTX *new_ctx(int server, struct ferry_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx) {
		fe_msg(err, ENOMEM, "TLS: cannot create a context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
	return ctx;
}

/* The handshake failed: say why, with the certificate verdict when there is one. */
static int handshake_err(struct conn *c, SSL *ssl, int rc, struct ferry_err *err)
{
	char why[256];
	long v = SSL_get_verify_result(ssl);
	if (v != X509_V_OK)
		return fe_msg(err, EACCES, "%s: TLS: certificate verification failed: %s", c->peer,
			      X509_verify_cert_error_string(v));
	int e = SSL_get_error(ssl, rc);
	if (e == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0)
		return fe_msg(err, ECONNRESET, "%s: TLS handshake: the peer closed the connection (is TLS configured on both sides?)",
			      c->peer);
	return fe_msg(err, EPROTO, "%s: TLS handshake failed: %s", c->peer, ssl_reason(why, sizeof(why), "error"));
}

static int start(struct conn *c, SSL_CTX *ctx, int server, const char *host, struct ferry_err *err)
{
	SSL *ssl = SSL_new(ctx);
	if (!ssl || SSL_set_fd(ssl, c->fd) != 1) {
		SSL_free(ssl);
		return fe_msg(err, ENOMEM, "%s: TLS: cannot create a session", c->peer);
	}
	if (host) {
		unsigned char ip[16];
		X509_VERIFY_PARAM *p = SSL_get0_param(ssl);
		int isip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
		if (isip ? X509_VERIFY_PARAM_set1_ip_asc(p, host) != 1 : SSL_set1_host(ssl, host) != 1) {
			SSL_free(ssl);
			return fe_msg(err, EINVAL, "%s: TLS: cannot check the name %s", c->peer, host);
		}
		if (!isip)
			SSL_set_tlsext_host_name(ssl, host);
	}
	int rc = server ? SSL_accept(ssl) : SSL_connect(ssl);
	if (rc != 1) {
		int r = handshake_err(c, ssl, rc, err);
		SSL_free(ssl);
		return r;
	}
	c->ssl = ssl;
	return 0;
}

int tls_client_start(struct conn *c, const struct remote_opts *o, struct ferry_err *err)
{
	if (!o->tls_cert && !o->tls_ca)
		return 0;
	if (!o->tls_ca)
		return fe_msg(err, EINVAL, "TLS: --tls-cacert is needed to verify the page server");
	SSL_CTX *ctx = new_ctx(0, err);
	if (!ctx)
		return -ENOMEM;
	int r = load_identity(ctx, o, err);
	if (r == 0) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		r = start(c, ctx, 0, o->address, err);
	}
	SSL_CTX_free(ctx);	/* the session holds its own reference */
	return r;
}

int tls_server_ctx(const struct remote_opts *o, void **out, struct ferry_err *err)
{
	*out = NULL;
	if (!o->tls_cert && !o->tls_ca && !o->tls_key)
		return 0;
	if (!o->tls_cert)
		return fe_msg(err, EINVAL, "TLS: the page server needs --tls-cert and --tls-key");
	SSL_CTX *ctx = new_ctx(1, err);
	if (!ctx)
		return -ENOMEM;
	int r = load_identity(ctx, o, err);
	if (r < 0) {
		SSL_CTX_free(ctx);
		return r;
	}
	if (o->tls_ca)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	*out = ctx;
	return 0;
}

int tls_server_accept(struct conn *c, void *ctx, struct ferry_err *err)
{
	return ctx ? start(c, ctx, 1, NULL, err) : 0;
}

void tls_ctx_free(void *ctx)
{
	SSL_CTX_free(ctx);
}

void tls_conn_free(struct conn *c)
{
	if (!c->ssl)
		return;
	SSL_shutdown(c->ssl);
	SSL_free(c->ssl);
	c->ssl = NULL;
}

static int io_fail(struct conn *c, int rc, const char *what, struct ferry_err *err)
{
	char why[256];
	int e = SSL_get_error(c->ssl, rc);
	if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0))
		return 0;	/* the peer closed: EOF */
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE || errno == EAGAIN)
		return fe_msg(err, ETIMEDOUT, "%s: TLS %s timed out after %d s (the peer hangs?)", c->peer, what,
			      conn_timeout());
	if (e == SSL_ERROR_SYSCALL)
		return fe_set(err, errno, "%s: TLS %s", c->peer, what);
	return fe_msg(err, EPROTO, "%s: TLS %s: %s", c->peer, what, ssl_reason(why, sizeof(why), "error"));
}

int tls_read(struct conn *c, void *buf, size_t len, struct ferry_err *err)
{
	size_t n = 0;
	errno = 0;
	int rc = SSL_read_ex(c->ssl, buf, len, &n);
	return rc == 1 ? (int)n : io_fail(c, rc, "receive", err);
}

int tls_write(struct conn *c, const void *buf, size_t len, struct ferry_err *err)
{
	size_t n = 0;
	errno = 0;
	int rc = SSL_write_ex(c->ssl, buf, len, &n);
	if (rc == 1)
		return 0;
	rc = io_fail(c, rc, "send", err);
	return rc ? rc : fe_class(err, FE_PEER_LOST, fe_msg(err, EPIPE, "%s: connection lost while sending (the peer "
							    "died or closed it)", c->peer));
}

int tls_pending(struct conn *c)
{
	return c->ssl && SSL_pending(c->ssl) > 0;
}
