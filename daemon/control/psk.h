/* psk: the pre-shared key of a client/gateway pair (DESIGN §9 "Pre-shared keys", §10.10) — a post-quantum
 * hedge mixed into the data keys, and the key confirmation that makes a mismatch visible on both ends.
 *
 *   data keys   without a PSK: the TLS exporter's 64 bytes as they are (c2s = bytes 0..31, s2c = 32..63);
 *               with one: HKDF-SHA256(IKM = those 64 bytes, salt = PSK, info = SL_PSK_INFO || session id
 *               (4 bytes, big-endian), L = 64), split the same way. Recorded traffic then stays confidential
 *               even if X25519 (and so the exporter) is broken later, as long as the PSK is secret.
 *   confirm     HMAC-SHA256(key = c2s || s2c, msg = label || session id), label SL_PSK_CONFIRM_SERVER for the
 *               gateway's proof (in its AUTH answer, "confirm=<hex>") and SL_PSK_CONFIRM_CLIENT for the
 *               client's ("CONFIRM <hex>" after it). Both ends always confirm, PSK or not, so a PSK on one
 *               end only, or two different ones, is named as a mismatch on both. Neither MAC reveals a key. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "daemon/common/errmsg.h"

#define SL_PSK_LEN 32
#define SL_PSK_MAC_LEN 32
#define SL_PSK_INFO "sluice psk data keys v1"
#define SL_PSK_CONFIRM_SERVER "sluice key confirmation v1 gateway"
#define SL_PSK_CONFIRM_CLIENT "sluice key confirmation v1 client"

/* Mixes psk into the exporter's keys in place (a NULL psk leaves them as they are). 0 or -EIO. */
int psk_mix(uint8_t c2s[32], uint8_t s2c[32], const uint8_t *psk, uint32_t session_id);
/* The confirmation MAC of one side (server: the gateway's) over the final data keys. 0 or -EIO. */
int psk_confirm_mac(const uint8_t c2s[32], const uint8_t s2c[32], uint32_t session_id, bool server,
		    uint8_t mac[SL_PSK_MAC_LEN]);
/* Constant-time compare of two MACs. */
bool psk_mac_equal(const uint8_t a[SL_PSK_MAC_LEN], const uint8_t b[SL_PSK_MAC_LEN]);
/* 64 lowercase hex characters + NUL; and back (0 or -EINVAL: exactly 64 hex characters). */
void psk_mac_hex(const uint8_t mac[SL_PSK_MAC_LEN], char out[2 * SL_PSK_MAC_LEN + 1]);
int psk_mac_from_hex(const char *s, size_t len, uint8_t mac[SL_PSK_MAC_LEN]);
