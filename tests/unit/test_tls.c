/* test_tls: the peer-certificate checks of control/tls.c, on real TLS 1.3 handshakes between two contexts of
 * our own over a socket pair: the pinned key decides, and a certificate is refused for its shape — more than
 * one certificate, a certificate message over SL_TLS_MAX_CERT_LIST bytes, not Ed25519 — before any key is
 * looked at, on the gateway's end and on the client's; per-connection identities (tls_identity_*). */
#include <errno.h>
#include <openssl/err.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "daemon/control/tls.h"
#include "daemon/keys.h"
#include "tests/tools/certchain.h"
#include "tests/unit/check.h"

static uint8_t gw_priv[SL_KEY_LEN], cl_priv[SL_KEY_LEN], other_priv[SL_KEY_LEN];
static uint8_t gw_pub[SL_KEY_LEN], cl_pub[SL_KEY_LEN];
static unsigned accept_calls;

static bool gw_accepts(void *arg, const uint8_t key[SL_KEY_LEN])
{
	accept_calls++;
	return !memcmp(key, cl_pub, SL_KEY_LEN);
}

static bool cl_accepts(void *arg, const uint8_t key[SL_KEY_LEN])
{
	accept_calls++;
	return !memcmp(key, gw_pub, SL_KEY_LEN);
}

struct result {
	enum tls_verdict gw, cl; /* each end's verdict on the other's certificate */
	const char *gw_why, *cl_why;
	bool gw_done;            /* the gateway's handshake completed */
};

/* One handshake, both ends non-blocking in this thread, until each has finished or failed; the client's
 * connection presents cl_id if given (tls_identity_use), else its context's key. */
static struct result handshake_as(SSL_CTX *gw, SSL_CTX *cl, const struct tls_identity *cl_id)
{
	struct result r = {0};
	uint8_t key[SL_KEY_LEN];
	int sv[2];
	SSL *s, *c;
	bool s_end = false, c_end = false;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	s = tls_new(gw, sv[0]);
	c = tls_new(cl, sv[1]);
	CHECK(s && c);
	if (cl_id)
		CHECK(tls_identity_use(c, cl_id) == 0);
	for (int i = 0; i < 100 && !(s_end && c_end); i++) {
		if (!c_end) {
			int ret = SSL_connect(c), err = SSL_get_error(c, ret);
			if (ret == 1 || (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)) {
				c_end = true;
				r.cl = tls_peer(c, key, &r.cl_why);
				ERR_clear_error();
				if (ret != 1)
					shutdown(sv[1], SHUT_RDWR); /* a refusing client stops talking */
			}
		}
		if (!s_end) {
			int ret = SSL_accept(s), err = SSL_get_error(s, ret);
			if (ret == 1 || (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)) {
				s_end = true;
				r.gw_done = ret == 1;
				r.gw = tls_peer(s, key, &r.gw_why);
				ERR_clear_error();
			}
		}
	}
	CHECK(s_end && c_end);
	tls_free(s);
	tls_free(c);
	close(sv[0]);
	close(sv[1]);
	return r;
}

static struct result handshake(SSL_CTX *gw, SSL_CTX *cl)
{
	return handshake_as(gw, cl, NULL);
}

static SSL_CTX *ctx(bool server, const uint8_t priv[SL_KEY_LEN])
{
	struct sl_err e = {{0}};
	SSL_CTX *x = tls_ctx_new(server, priv, server ? gw_accepts : cl_accepts, NULL, &e);

	CHECK(x != NULL);
	return x;
}

/* ctx's certificate replaced by one for priv issued by `extra` (whose own certificate is added as the chain), or
 * padded with n_pad name entries */
static void use_cert(SSL_CTX *x, const uint8_t priv[SL_KEY_LEN], bool chain, unsigned n_pad)
{
	EVP_PKEY *pk = key_evp_private(priv), *ik = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	X509 *leaf = cert_issue(pk, "sluice", chain ? "issuer" : "sluice", chain ? ik : pk, n_pad);
	X509 *icert = chain ? cert_issue(ik, "issuer", "issuer", ik, 0) : NULL;

	CHECK(leaf && SSL_CTX_use_certificate(x, leaf) == 1 && SSL_CTX_use_PrivateKey(x, pk) == 1);
	if (chain)
		CHECK(icert && SSL_CTX_add1_chain_cert(x, icert) == 1);
	X509_free(leaf);
	X509_free(icert);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(pk);
}

static void test_pinned(void)
{
	SSL_CTX *gw = ctx(true, gw_priv), *cl = ctx(false, cl_priv), *stranger = ctx(false, other_priv);
	struct result r = handshake(gw, cl);

	CHECK(r.gw == TLS_PEER_ACCEPTED && r.cl == TLS_PEER_ACCEPTED && r.gw_done);
	r = handshake(gw, stranger);
	CHECK(r.gw == TLS_PEER_UNKNOWN_KEY && !r.gw_done);
	CHECK(r.gw_why && !strcmp(r.gw_why, "unknown key"));
	tls_ctx_free(gw);
	tls_ctx_free(cl);
	tls_ctx_free(stranger);
}

/* A configured key under one more certificate: refused for the chain, the key never asked about. */
static void test_chain_refused(void)
{
	SSL_CTX *gw = ctx(true, gw_priv), *cl = ctx(false, cl_priv);
	struct result r;

	use_cert(cl, cl_priv, true, 0);
	accept_calls = 0;
	r = handshake(gw, cl);
	CHECK(r.gw == TLS_PEER_BAD_CERT && !r.gw_done);
	CHECK(r.gw_why && !strcmp(r.gw_why, "more than one certificate"));
	CHECK(accept_calls == 1); /* the client's check of the gateway only */
	tls_ctx_free(gw);
	tls_ctx_free(cl);

	/* the other way round: a client refuses a gateway that sends a chain */
	gw = ctx(true, gw_priv);
	cl = ctx(false, cl_priv);
	use_cert(gw, gw_priv, true, 0);
	r = handshake(gw, cl);
	CHECK(r.cl == TLS_PEER_BAD_CERT && !r.gw_done);
	tls_ctx_free(gw);
	tls_ctx_free(cl);
}

/* A configured key in one certificate that is too large: refused as the message arrives, never parsed. */
static void test_size_cap(void)
{
	SSL_CTX *gw = ctx(true, gw_priv), *cl = ctx(false, cl_priv);
	struct result r;

	use_cert(cl, cl_priv, false, 2); /* a little larger than ours: still fine */
	r = handshake(gw, cl);
	CHECK(r.gw == TLS_PEER_ACCEPTED && r.gw_done);
	use_cert(cl, cl_priv, false, SL_TLS_MAX_CERT_LIST / 60); /* over the cap */
	accept_calls = 0;
	r = handshake(gw, cl);
	CHECK(r.gw == TLS_PEER_BAD_CERT && !r.gw_done);
	CHECK_STR_CONTAINS(r.gw_why, "over 2048 bytes");
	CHECK(accept_calls == 1);
	tls_ctx_free(gw);
	tls_ctx_free(cl);

	gw = ctx(true, gw_priv);
	cl = ctx(false, cl_priv);
	use_cert(gw, gw_priv, false, SL_TLS_MAX_CERT_LIST / 60);
	r = handshake(gw, cl);
	CHECK(r.cl == TLS_PEER_BAD_CERT);
	CHECK_STR_CONTAINS(r.cl_why, "over 2048 bytes");
	tls_ctx_free(gw);
	tls_ctx_free(cl);
}

/* A key of another type (a client certificate made with P-256): refused for its shape. */
static void test_not_ed25519(void)
{
	SSL_CTX *gw = ctx(true, gw_priv), *cl = ctx(false, cl_priv);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = ec ? cert_issue(ec, "sluice", "sluice", ec, 0) : NULL;
	struct result r;

	CHECK(x && SSL_CTX_use_certificate(cl, x) == 1 && SSL_CTX_use_PrivateKey(cl, ec) == 1);
	r = handshake(gw, cl);
	CHECK(r.gw == TLS_PEER_BAD_CERT && !r.gw_done);
	CHECK(r.gw_why && !strcmp(r.gw_why, "not an Ed25519 key"));
	X509_free(x);
	EVP_PKEY_free(ec);
	tls_ctx_free(gw);
	tls_ctx_free(cl);
}

/* Per-connection identities (the load generator's clients): made once, presented by many connections of one
 * context whose own key is another; the gateway decides on the key the connection presented. */
static void test_identity(void)
{
	SSL_CTX *gw = ctx(true, gw_priv), *cl = ctx(false, other_priv);
	struct tls_identity known, stranger;
	struct result r;

	CHECK(tls_identity_make(&known, cl_priv) == 0 && tls_identity_make(&stranger, other_priv) == 0);
	for (int i = 0; i < 3; i++) { /* the same identity again and again: each connection takes references */
		r = handshake_as(gw, cl, &known);
		CHECK(r.gw == TLS_PEER_ACCEPTED && r.cl == TLS_PEER_ACCEPTED && r.gw_done);
	}
	r = handshake_as(gw, cl, &stranger);
	CHECK(r.gw == TLS_PEER_UNKNOWN_KEY && !r.gw_done);
	r = handshake(gw, cl); /* the context's own key: the same stranger */
	CHECK(r.gw == TLS_PEER_UNKNOWN_KEY && !r.gw_done);
	tls_identity_free(&known);
	tls_identity_free(&stranger);
	CHECK(known.cert == NULL && known.pkey == NULL);
	tls_identity_free(&known); /* twice: harmless */
	/* one certificate as it is, no chain built for it from the store per handshake */
	CHECK(SSL_CTX_get_mode(gw) & SSL_MODE_NO_AUTO_CHAIN);
	CHECK(SSL_CTX_get_mode(cl) & SSL_MODE_NO_AUTO_CHAIN);
	tls_ctx_free(gw);
	tls_ctx_free(cl);
}

int main(void)
{
	CHECK(key_generate(gw_priv) == 0 && key_generate(cl_priv) == 0 && key_generate(other_priv) == 0);
	CHECK(key_public(gw_priv, gw_pub) == 0 && key_public(cl_priv, cl_pub) == 0);
	test_pinned();
	test_chain_refused();
	test_size_cap();
	test_not_ed25519();
	test_identity();
	return check_done("test_tls");
}
