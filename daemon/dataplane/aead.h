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
/* Frees the context (and wipes it); safe on a zeroed or already freed struct. */
void aead_free(struct sl_aead *a);

/* Seal in place. `dgram` starts with room for the header; the inner packet (`inner_len` bytes) is already at
 * dgram + SLUICE_HDR_LEN and there are SLUICE_TAG_LEN more bytes of room after it. Writes the header (type,
 * session id, counter), encrypts, appends the tag. Returns the datagram length (inner_len + SLUICE_OVERHEAD),
 * or -1 on an EVP failure. */
int dgram_seal(struct sl_aead *a, uint8_t *dgram, size_t inner_len, uint8_t type, uint32_t session_id,
	       uint64_t counter);

/* Open in place a datagram whose header `h` was decoded by wire_hdr_decode. Decrypts dgram + SLUICE_HDR_LEN.
 * Returns the inner length (len - SLUICE_OVERHEAD) or -1 if the tag does not verify. */
int dgram_open(struct sl_aead *a, uint8_t *dgram, size_t len, const struct sl_hdr *h);
