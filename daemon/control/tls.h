/* tls: TLS 1.3 with pinned Ed25519 keys and no CA (DESIGN §1). Each side makes a self-signed certificate from
 * its key at start-up; the verify callback accepts the peer's certificate only when its public key is the
 * pinned one (client) or one of the configured clients (server), and remembers that key for the connection.
 * Both sides then derive the data keys with the TLS exporter, so keys never travel. */
#pragma once
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include "daemon/common/errmsg.h"
#include "daemon/keys.h"

#define SL_TLS_EXPORT_LABEL "EXPORTER-sluice-data-keys"

/* Decides whether a peer key is acceptable. */
typedef bool (*tls_accept_fn)(void *arg, const uint8_t key[SL_KEY_LEN]);

SSL_CTX *tls_ctx_new(bool server, const uint8_t priv[SL_KEY_LEN], tls_accept_fn accept, void *arg,
		     struct sl_err *e);
void tls_ctx_free(SSL_CTX *ctx);

/* A new connection object on fd. The peer key seen by the verify callback is available afterwards through
 * tls_peer_key. */
SSL *tls_new(SSL_CTX *ctx, int fd);
void tls_free(SSL *ssl);
/* true if the verify callback saw and accepted a key (copied to key); *seen tells if any key was presented. */
bool tls_peer_key(SSL *ssl, uint8_t key[SL_KEY_LEN], bool *rejected);

/* Data keys for a session: client->server and server->client, bound to the session id. 0 or -EIO. */
int tls_export_keys(SSL *ssl, uint32_t session_id, uint8_t c2s[32], uint8_t s2c[32]);

/* The last OpenSSL error as text (for one log line). */
const char *tls_error_string(char *buf, size_t n);
