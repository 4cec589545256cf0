/* aead: AES-256-GCM seal/open of data-plane datagrams, in place, through OpenSSL 3 EVP.
 * aead_init builds one cipher context per key and direction with the key schedule set once; per
 * packet only the IV is set, then AAD, one in-place update, final and the tag. Nothing is
 * allocated, locked or logged per packet. The raw aead_seal_iv/aead_open_iv (explicit nonce and
 * AAD) do the cipher work; dgram_seal/dgram_open add the header (AAD = its 20 bytes) and the nonce
 * 4 zero bytes || counter (big-endian).
 *
 * Cost on OpenSSL 3.0 (1400-byte packet, ~540 ns in all, ~360 ns of it the bulk cipher): the IV
 * goes in through EVP_CipherInit_ex (~57 ns; the EVP_CTRL_GCM_SET_IV_FIXED(-1) trick saves ~11 ns
 * but puts the context in TLS IV-generation mode: not worth it); the tag through
 * EVP_CIPHER_CTX_get/set_params (~35 ns, the ctrl ~56 ns). */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "daemon/dataplane/aead.h"

/* The nonce is NONCE_ZERO_LEN zero bytes followed by the 8-byte big-endian counter. */
#define NONCE_ZERO_LEN (SLUICE_NONCE_LEN - sizeof(uint64_t))

int aead_init(struct sl_aead *a, const uint8_t key[SLUICE_KEY_LEN], bool encrypt)
{
	EVP_CIPHER_CTX *ctx;

	a->ctx = NULL;
	a->encrypt = encrypt;
	if (!key)
		return -EINVAL;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	/* Key schedule once; the default GCM IV length is 12 bytes, which is SLUICE_NONCE_LEN. The
	 * IV is set per packet. */
	if (!EVP_CipherInit_ex2(ctx, EVP_aes_256_gcm(), key, NULL, encrypt ? 1 : 0, NULL) ||
	    EVP_CIPHER_CTX_get_key_length(ctx) != SLUICE_KEY_LEN ||
	    EVP_CIPHER_CTX_get_iv_length(ctx) != SLUICE_NONCE_LEN) {
		EVP_CIPHER_CTX_free(ctx);
		return -ENOMEM;
	}
	a->ctx = ctx;
	return 0;
}

int aead_rekey(struct sl_aead *a, const uint8_t key[SLUICE_KEY_LEN])
{
	if (!a->ctx || !key || !EVP_CipherInit_ex(a->ctx, NULL, NULL, key, NULL, a->encrypt ? 1 : 0))
		return -EINVAL;
	return 0;
}

void aead_free(struct sl_aead *a)
{
	/* EVP_CIPHER_CTX_free cleanses the provider context (key schedule) before freeing it. */
	EVP_CIPHER_CTX_free(a->ctx);
	OPENSSL_cleanse(a, sizeof(*a));
}

/* The tag as a one-element parameter list. EVP_CIPHER_CTX_get/set_params with it is the same
 * operation as the EVP_CTRL_AEAD_GET/SET_TAG ctrl, minus the ctrl's translation layer (~20 ns per
 * packet on OpenSSL 3.0). Returns a compound literal: valid until the end of the caller's enclosing
 * block. */
#define tag_param(tag)                                                                             \
	((OSSL_PARAM[]){                                                                           \
	    OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, (tag), SLUICE_TAG_LEN),            \
	    OSSL_PARAM_END})

/* Sets the IV and feeds the AAD: the common start of seal and open. */
static int aead_start(struct sl_aead *a, const uint8_t iv[SLUICE_NONCE_LEN], const uint8_t *aad,
		      size_t aad_len)
{
	int outl;

	if (!EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, iv, a->encrypt ? 1 : 0))
		return -1;
	if (aad_len && !EVP_CipherUpdate(a->ctx, NULL, &outl, aad, (int)aad_len))
		return -1;
	return 0;
}

static bool aead_lengths_ok(const struct sl_aead *a, size_t aad_len, size_t len)
{
	return a && a->ctx && aad_len <= INT_MAX && len <= INT_MAX;
}

int aead_seal_iv(struct sl_aead *a, const uint8_t iv[SLUICE_NONCE_LEN], const uint8_t *aad,
		 size_t aad_len, uint8_t *buf, size_t len, uint8_t tag[SLUICE_TAG_LEN])
{
	int outl;

	if (!aead_lengths_ok(a, aad_len, len) || !a->encrypt)
		return -1;
	if (aead_start(a, iv, aad, aad_len))
		return -1;
	if (len && !EVP_EncryptUpdate(a->ctx, buf, &outl, buf, (int)len))
		return -1;
	/* GCM writes nothing at final; buf + len is a valid (unused) output pointer. */
	if (!EVP_EncryptFinal_ex(a->ctx, buf + len, &outl))
		return -1;
	if (!EVP_CIPHER_CTX_get_params(a->ctx, tag_param(tag)))
		return -1;
	return 0;
}

int aead_open_iv(struct sl_aead *a, const uint8_t iv[SLUICE_NONCE_LEN], const uint8_t *aad,
		 size_t aad_len, uint8_t *buf, size_t len, const uint8_t tag[SLUICE_TAG_LEN])
{
	uint8_t tag_copy[SLUICE_TAG_LEN]; /* OSSL_PARAM takes a non-const pointer */
	int outl;

	if (!aead_lengths_ok(a, aad_len, len) || a->encrypt)
		return -1;
	if (aead_start(a, iv, aad, aad_len))
		return -1;
	if (len && !EVP_DecryptUpdate(a->ctx, buf, &outl, buf, (int)len))
		return -1;
	memcpy(tag_copy, tag, sizeof(tag_copy));
	if (!EVP_CIPHER_CTX_set_params(a->ctx, tag_param(tag_copy)))
		return -1;
	/* The tag is checked here; on failure buf holds unauthenticated plaintext that the caller
	 * must drop. */
	if (EVP_DecryptFinal_ex(a->ctx, buf + len, &outl) <= 0)
		return -1;
	return 0;
}

void aead_nonce(uint8_t nonce[SLUICE_NONCE_LEN], uint64_t counter)
{
	size_t i;

	memset(nonce, 0, NONCE_ZERO_LEN);
	for (i = 0; i < sizeof(counter); i++)
		nonce[SLUICE_NONCE_LEN - 1 - i] = (uint8_t)(counter >> (8 * i));
}

int dgram_seal(struct sl_aead *a, uint8_t *dgram, size_t inner_len, uint8_t type,
	       uint32_t session_id, uint64_t counter)
{
	const struct sl_hdr h = {
	    .type = type, .flags = 0, .session_id = session_id, .counter = counter};
	uint8_t nonce[SLUICE_NONCE_LEN];

	/* Never build what wire_hdr_decode would refuse. */
	if (inner_len > SLUICE_MTU_MAX || type < SL_TYPE_DATA || type > SL_TYPE_CONTROL ||
	    (type == SL_TYPE_KEEPALIVE && inner_len))
		return -1;
	wire_hdr_encode(dgram, &h);
	aead_nonce(nonce, counter);
	if (aead_seal_iv(a, nonce, dgram, SLUICE_HDR_LEN, dgram + SLUICE_HDR_LEN, inner_len,
			 dgram + SLUICE_HDR_LEN + inner_len))
		return -1;
	return (int)(inner_len + SLUICE_OVERHEAD);
}

int dgram_open(struct sl_aead *a, uint8_t *dgram, size_t len, const struct sl_hdr *h)
{
	uint8_t nonce[SLUICE_NONCE_LEN];
	size_t inner_len;

	if (len < SLUICE_OVERHEAD || len > SLUICE_DGRAM_MAX)
		return -1;
	inner_len = len - SLUICE_OVERHEAD;
	/* The nonce comes from the decoded counter and the AAD from the received bytes: a tag that
	 * verifies proves both, so the counter the caller marks in the replay window is the
	 * authenticated one. */
	aead_nonce(nonce, h->counter);
	if (aead_open_iv(a, nonce, dgram, SLUICE_HDR_LEN, dgram + SLUICE_HDR_LEN, inner_len,
			 dgram + SLUICE_HDR_LEN + inner_len))
		return -1;
	return (int)inner_len;
}
