/* aead: AES-256-GCM seal/open of one datagram in place, through OpenSSL EVP.
 * One cipher context per key and direction, made once (aead_init) and reused: nothing is allocated, locked or
 * logged per packet. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "daemon/dataplane/wire.h"

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

struct sl_aead {
	EVP_CIPHER_CTX *ctx;
	bool encrypt;
};

/* Makes the context for `key` (32 bytes). Returns 0 or -ENOMEM/-EINVAL. */
int aead_init(struct sl_aead *a, const uint8_t key[SLUICE_KEY_LEN], bool encrypt);
/* Keys a made context anew, same direction (EVP_CipherInit_ex with the key only: the key schedules, nothing
 * allocated). 0 or -EINVAL. */
int aead_rekey(struct sl_aead *a, const uint8_t key[SLUICE_KEY_LEN]);
/* Frees the context (and wipes it); safe on a zeroed or already freed struct. */
void aead_free(struct sl_aead *a);

/* Seal in place. `dgram` starts with room for the header; the inner packet (`inner_len` bytes) is already at
 * dgram + SLUICE_HDR_LEN and there are SLUICE_TAG_LEN more bytes of room after it. Writes the header (type,
 * session id, counter), encrypts, appends the tag. Returns the datagram length (inner_len + SLUICE_OVERHEAD),
 * or -1 on an EVP failure, a NULL `a`, inner_len > SLUICE_MTU_MAX, a type outside 1..3 or a KEEPALIVE with payload. */
int dgram_seal(struct sl_aead *a, uint8_t *dgram, size_t inner_len, uint8_t type, uint32_t session_id,
	       uint64_t counter);

/* Open in place a datagram whose header `h` was decoded by wire_hdr_decode. Decrypts dgram + SLUICE_HDR_LEN.
 * Returns the inner length (len - SLUICE_OVERHEAD) or -1 if the tag does not verify (or `a` is NULL). */
int dgram_open(struct sl_aead *a, uint8_t *dgram, size_t len, const struct sl_hdr *h);

/* Raw AES-256-GCM with an explicit nonce and AAD (what dgram_seal/dgram_open use; also for known-answer tests).
 * Encrypts/decrypts `len` bytes of buf in place. seal needs an encrypt context and writes the tag; open needs a
 * decrypt context and returns -1 if the tag does not verify (buf then holds garbage to drop). Returns 0 or -1. */
int aead_seal_iv(struct sl_aead *a, const uint8_t iv[SLUICE_NONCE_LEN], const uint8_t *aad, size_t aad_len,
		 uint8_t *buf, size_t len, uint8_t tag[SLUICE_TAG_LEN]);
int aead_open_iv(struct sl_aead *a, const uint8_t iv[SLUICE_NONCE_LEN], const uint8_t *aad, size_t aad_len,
		 uint8_t *buf, size_t len, const uint8_t tag[SLUICE_TAG_LEN]);

/* The datagram nonce of DESIGN §3: 4 zero bytes || counter (big-endian). */
void aead_nonce(uint8_t nonce[SLUICE_NONCE_LEN], uint64_t counter);
