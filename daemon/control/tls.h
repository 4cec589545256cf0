/* tls: TLS 1.3 with pinned Ed25519 keys and no CA (DESIGN §1). Each side makes a self-signed certificate from
 * its key at start-up. The peer's certificate is never verified as a chain (no CA, nothing to build or check
 * signatures against): the peer must present exactly one certificate, in a certificate message of at most
 * SL_TLS_MAX_CERT_LIST bytes, with an Ed25519 key that is the pinned one (client) or one of the configured
 * clients (server); that key is remembered for the connection. TLS proves the peer holds its private key.
 * The limits are the same on both ends. Both sides then derive the data keys with the TLS exporter, so keys
 * never travel. */
#pragma once
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include "daemon/common/errmsg.h"
#include "daemon/keys.h"

#define SL_TLS_EXPORT_LABEL "EXPORTER-sluice-data-keys"
/* The largest certificate message accepted from a peer (OpenSSL's default is 100 KiB). Ours is about 300
 * bytes: one self-signed Ed25519 certificate. */
#define SL_TLS_MAX_CERT_LIST 2048

/* What the peer's certificate came to. */
enum tls_verdict {
	TLS_PEER_NONE,        /* the handshake ended before a certificate was examined */
	TLS_PEER_ACCEPTED,    /* one Ed25519 certificate with an acceptable key */
	TLS_PEER_UNKNOWN_KEY, /* one Ed25519 certificate, its key not acceptable */
	TLS_PEER_BAD_CERT,    /* refused for its shape, before any key was looked at: more than one certificate,
			       * a certificate message over SL_TLS_MAX_CERT_LIST bytes, not an Ed25519 key */
};

/* Decides whether a peer key is acceptable. */
typedef bool (*tls_accept_fn)(void *arg, const uint8_t key[SL_KEY_LEN]);

SSL_CTX *tls_ctx_new(bool server, const uint8_t priv[SL_KEY_LEN], tls_accept_fn accept, void *arg,
		     struct sl_err *e);
void tls_ctx_free(SSL_CTX *ctx);

/* A new connection object on fd. What became of the peer's certificate is available through tls_peer. */
SSL *tls_new(SSL_CTX *ctx, int fd);
/* A key and the self-signed certificate made from it, built once and presented by many connections: the load
 * generator's clients, thousands of keys sharing one context (a context costs milliseconds to make; a
 * certificate about half a millisecond with OpenSSL 3.0, so it is made before the clock starts, not per
 * handshake). */
struct tls_identity {
	EVP_PKEY *pkey;
	X509 *cert;
};
/* Makes the identity of priv (its certificate checked against it once). 0 or -EINVAL. */
int tls_identity_make(struct tls_identity *id, const uint8_t priv[SL_KEY_LEN]);
/* This connection presents id instead of its context's key; the connection takes its own references. 0 or
 * -EINVAL. */
int tls_identity_use(SSL *ssl, const struct tls_identity *id);
void tls_identity_free(struct tls_identity *id);
/* tls_identity_make, _use and _free in one: a connection with its own key, made on the spot. */
int tls_use_key(SSL *ssl, const uint8_t priv[SL_KEY_LEN]);
void tls_free(SSL *ssl);
/* The verdict on the peer's certificate; the key is copied out for ACCEPTED and UNKNOWN_KEY, and *why (if
 * given) points at a refusal's reason ("more than one certificate", …) or is NULL. Call it before the error
 * queue is cleared: a certificate message over the size cap is known from the error OpenSSL left there. */
enum tls_verdict tls_peer(SSL *ssl, uint8_t key[SL_KEY_LEN], const char **why);

/* Data keys for a session: client->server and server->client, bound to the session id. 0 or -EIO. */
int tls_export_keys(SSL *ssl, uint32_t session_id, uint8_t c2s[32], uint8_t s2c[32]);

/* The last OpenSSL error as text (for one log line). */
const char *tls_error_string(char *buf, size_t n);
