/* tls: contexts, self-signed certificates from Ed25519 keys, pinned-key verification, key export. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <string.h>
#include "daemon/control/tls.h"

#define CERT_VALID_DAYS 3650
#define STR_(x) #x
#define STR(x) STR_(x)

struct tls_ctx_data {
	tls_accept_fn accept;
	void *arg;
};

struct tls_conn_data {
	uint8_t key[SL_KEY_LEN];
	enum tls_verdict verdict;
	const char *why; /* a refusal's reason */
};

static int ctx_idx = -1, conn_idx = -1;

static X509 *self_signed(EVP_PKEY *pkey)
{
	X509 *x = X509_new();
	X509_NAME *name;

	if (!x)
		return NULL;
	if (!X509_set_version(x, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 86400L * CERT_VALID_DAYS) || !X509_set_pubkey(x, pkey))
		goto fail;
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"sluice", -1, -1, 0) ||
	    !X509_set_issuer_name(x, name) || !X509_sign(x, pkey, NULL)) /* Ed25519: no digest */
		goto fail;
	return x;
fail:
	X509_free(x);
	return NULL;
}

/* The whole verification of the peer's certificate (SSL_CTX_set_cert_verify_callback: OpenSSL's chain building
 * and signature checks never run). TLS itself proves that the peer holds the private key of its leaf (the
 * CertificateVerify signature, checked after this); all that is left to decide is whether that key is
 * acceptable — so a chain is never verified, only refused: exactly one certificate, an Ed25519 key, then the
 * pin. The list reached us already capped in size (SL_TLS_MAX_CERT_LIST) and parsed; nothing here costs more
 * than a compare. */
static int verify_peer(X509_STORE_CTX *store, void *arg)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_ctx_data *cd = arg;
	struct tls_conn_data *conn = ssl ? SSL_get_ex_data(ssl, conn_idx) : NULL;
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_untrusted(store); /* as sent, the leaf first */
	X509 *leaf = X509_STORE_CTX_get0_cert(store);
	EVP_PKEY *pk;
	size_t len = SL_KEY_LEN;

	if (!conn || !cd || !leaf)
		return 0;
	if (!chain || sk_X509_num(chain) != 1) {
		conn->verdict = TLS_PEER_BAD_CERT;
		conn->why = "more than one certificate";
		X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_CHAIN_TOO_LONG);
		return 0;
	}
	pk = X509_get0_pubkey(leaf);
	if (!pk || EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519 ||
	    EVP_PKEY_get_raw_public_key(pk, conn->key, &len) != 1 || len != SL_KEY_LEN) {
		conn->verdict = TLS_PEER_BAD_CERT;
		conn->why = "not an Ed25519 key";
		X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
		return 0;
	}
	if (!cd->accept(cd->arg, conn->key)) {
		conn->verdict = TLS_PEER_UNKNOWN_KEY;
		conn->why = "unknown key";
		X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
		return 0;
	}
	conn->verdict = TLS_PEER_ACCEPTED;
	return 1;
}

static void free_ctx_data(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	OPENSSL_free(ptr);
}

SSL_CTX *tls_ctx_new(bool server, const uint8_t priv[SL_KEY_LEN], tls_accept_fn accept, void *arg,
		     struct sl_err *e)
{
	char buf[256];
	SSL_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	X509 *cert = NULL;
	struct tls_ctx_data *cd = NULL;

	if (ctx_idx < 0) {
		ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_ctx_data);
		conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_ctx_data);
	}
	ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	pkey = key_evp_private(priv);
	cert = pkey ? self_signed(pkey) : NULL;
	cd = OPENSSL_zalloc(sizeof(*cd));
	if (!ctx || !cert || !cd) {
		sl_errf(e, -ENOMEM, "tls: set-up failed: %s", tls_error_string(buf, sizeof(buf)));
		goto fail;
	}
	cd->accept = accept;
	cd->arg = arg;
	SSL_CTX_set_ex_data(ctx, ctx_idx, cd);
	cd = NULL;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) || SSL_CTX_use_certificate(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, pkey) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		sl_errf(e, -EINVAL, "tls: certificate set-up failed: %s", tls_error_string(buf, sizeof(buf)));
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_cert_verify_callback(ctx, verify_peer, SSL_CTX_get_ex_data(ctx, ctx_idx));
	/* a longer certificate message is refused as it arrives, before it is parsed */
	SSL_CTX_set_max_cert_list(ctx, SL_TLS_MAX_CERT_LIST);
#ifdef SSL_OP_NO_RX_CERTIFICATE_COMPRESSION
	SSL_CTX_set_options(ctx, SSL_OP_NO_RX_CERTIFICATE_COMPRESSION); /* the cap is on what we must parse */
#endif
	/* our certificate goes out alone, as it is: without this, every handshake would first try to build a
	 * chain for it from the (empty) store — X509_verify_cert per connection, for nothing */
	SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
	SSL_CTX_set_num_tickets(ctx, 0); /* one request per connection: no resumption */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	X509_free(cert);
	EVP_PKEY_free(pkey);
	return ctx;
fail:
	OPENSSL_free(cd);
	X509_free(cert);
	EVP_PKEY_free(pkey);
	SSL_CTX_free(ctx);
	return NULL;
}

int tls_identity_make(struct tls_identity *id, const uint8_t priv[SL_KEY_LEN])
{
	id->pkey = key_evp_private(priv);
	id->cert = id->pkey ? self_signed(id->pkey) : NULL;
	if (!id->cert || X509_check_private_key(id->cert, id->pkey) != 1) {
		tls_identity_free(id);
		return -EINVAL;
	}
	return 0;
}

/* SSL_use_certificate and SSL_use_PrivateKey take references (no copies); the pair was checked when made. */
int tls_identity_use(SSL *ssl, const struct tls_identity *id)
{
	return SSL_use_certificate(ssl, id->cert) == 1 && SSL_use_PrivateKey(ssl, id->pkey) == 1 ? 0 : -EINVAL;
}

void tls_identity_free(struct tls_identity *id)
{
	X509_free(id->cert);
	EVP_PKEY_free(id->pkey);
	id->cert = NULL;
	id->pkey = NULL;
}

int tls_use_key(SSL *ssl, const uint8_t priv[SL_KEY_LEN])
{
	struct tls_identity id;
	int ret = tls_identity_make(&id, priv);

	if (!ret)
		ret = tls_identity_use(ssl, &id);
	tls_identity_free(&id);
	return ret;
}

void tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

SSL *tls_new(SSL_CTX *ctx, int fd)
{
	SSL *ssl = SSL_new(ctx);
	struct tls_conn_data *conn = OPENSSL_zalloc(sizeof(*conn));

	if (!ssl || !conn || !SSL_set_fd(ssl, fd)) {
		OPENSSL_free(conn);
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_ex_data(ssl, conn_idx, conn);
	return ssl;
}

void tls_free(SSL *ssl)
{
	if (ssl)
		SSL_free(ssl); /* frees the conn data through free_ctx_data */
}

enum tls_verdict tls_peer(SSL *ssl, uint8_t key[SL_KEY_LEN], const char **why)
{
	struct tls_conn_data *conn = SSL_get_ex_data(ssl, conn_idx);
	OSSL_HANDSHAKE_STATE st = SSL_get_state(ssl);
	unsigned long err = ERR_peek_last_error();

	if (why)
		*why = NULL;
	if (!conn)
		return TLS_PEER_NONE;
	if (conn->verdict == TLS_PEER_NONE && (st == TLS_ST_SR_CERT || st == TLS_ST_CR_CERT) &&
	    ERR_GET_LIB(err) == ERR_LIB_SSL && ERR_GET_REASON(err) == SSL_R_EXCESSIVE_MESSAGE_SIZE) {
		/* refused by the size cap while the certificate message was arriving: never parsed, no key */
		conn->verdict = TLS_PEER_BAD_CERT;
		conn->why = "certificate list over " STR(SL_TLS_MAX_CERT_LIST) " bytes";
	}
	if (why)
		*why = conn->why;
	if (conn->verdict == TLS_PEER_ACCEPTED || conn->verdict == TLS_PEER_UNKNOWN_KEY)
		memcpy(key, conn->key, SL_KEY_LEN);
	return conn->verdict;
}

int tls_export_keys(SSL *ssl, uint32_t session_id, uint8_t c2s[32], uint8_t s2c[32])
{
	unsigned char out[64], ctx[4] = {session_id >> 24, session_id >> 16, session_id >> 8, session_id};

	if (SSL_export_keying_material(ssl, out, sizeof(out), SL_TLS_EXPORT_LABEL, strlen(SL_TLS_EXPORT_LABEL),
				       ctx, sizeof(ctx), 1) != 1)
		return -EIO;
	memcpy(c2s, out, 32);
	memcpy(s2c, out + 32, 32);
	OPENSSL_cleanse(out, sizeof(out));
	return 0;
}

const char *tls_error_string(char *buf, size_t n)
{
	unsigned long err = ERR_get_error();

	if (!err) {
		snprintf(buf, n, "%s", errno ? strerror(errno) : "connection closed");
		return buf;
	}
	ERR_error_string_n(err, buf, n);
	ERR_clear_error();
	return buf;
}
