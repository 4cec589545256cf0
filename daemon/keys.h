/* keys: Ed25519 keys as sluice stores them — 32 raw bytes, written as 44 characters of standard base64.
 * A private key file holds the base64 private key (one line); it must not be readable by group or others. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "daemon/common/errmsg.h"

#define SL_KEY_LEN 32
#define SL_KEY_B64_LEN 44 /* without the NUL */

typedef struct evp_pkey_st EVP_PKEY;

/* Decodes exactly 44 base64 characters (surrounding white space ignored) into 32 bytes. 0 or -EINVAL. */
int key_from_base64(const char *s, uint8_t out[SL_KEY_LEN]);
/* Encodes 32 bytes as 44 base64 characters + NUL. */
void key_to_base64(const uint8_t key[SL_KEY_LEN], char out[SL_KEY_B64_LEN + 1]);
/* New random private key. 0 or -EIO. */
int key_generate(uint8_t priv[SL_KEY_LEN]);
/* Public key of a private key. 0 or -EINVAL. */
int key_public(const uint8_t priv[SL_KEY_LEN], uint8_t pub[SL_KEY_LEN]);
/* Reads a private key file: must be a regular file with no group/other access bits and hold one base64 key.
 * Errors: -errno with e->msg = "PATH: why". */
int key_load_private_file(const char *path, uint8_t priv[SL_KEY_LEN], struct sl_err *e);
/* OpenSSL key objects (caller frees with EVP_PKEY_free); NULL on failure. */
EVP_PKEY *key_evp_private(const uint8_t priv[SL_KEY_LEN]);
EVP_PKEY *key_evp_public(const uint8_t pub[SL_KEY_LEN]);
