/* stealth: the prelude a client sends before TLS when the gateway runs `Stealth = on` (DESIGN §9 "Stealth
 * control port"). Without a valid, fresh, unreplayed prelude the gateway sends nothing at all: an
 * internet-wide scan sees a port that accepts and then closes, never a TLS ServerHello or a certificate.
 *
 *   offset size
 *   0      8    timestamp, unix seconds, big-endian
 *   8      16   random nonce
 *   24     32   HMAC-SHA256(key, bytes 0..23), key = HMAC-SHA256(key = SL_STEALTH_LABEL, gateway public key)
 *
 * Fresh: the timestamp at most SL_STEALTH_WINDOW_S behind the gateway's clock and at most SL_STEALTH_FUTURE_S
 * ahead. Unreplayed: the nonce not seen before — the gateway remembers every accepted nonce until its
 * timestamp has left the window, in a fixed table (SL_STEALTH_CACHE entries, SL_STEALTH_PROBE slots looked at
 * per nonce); when a nonce's slots are all live, the entry that expires first is forgotten for it. Refusing
 * instead (fail closed) would let anyone with the public key fill the table and lock every client out;
 * forgetting means a prelude captured on the path can be replayed, within its window, once a flood pushed its
 * nonce out: the replayer sees a TLS ServerHello, nothing more. Whoever knows the gateway's public key (every
 * client) can make a prelude: stealth hides the gateway from scanners, it does not authenticate anyone — TLS
 * with pinned keys still does. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "daemon/keys.h"

#define SL_STEALTH_PRELUDE_LEN 56
#define SL_STEALTH_LABEL "sluice stealth prelude v1"
#define SL_STEALTH_WINDOW_S 30 /* a prelude may be this old */
#define SL_STEALTH_FUTURE_S 30 /* … and this far ahead of the gateway's clock: clocks off either way alike */
#define SL_STEALTH_CACHE 8192 /* accepted nonces remembered (24 bytes each) */
#define SL_STEALTH_PROBE 32   /* slots looked at per nonce */
#define SL_STEALTH_LINGER_MIN_MS 1000u /* a refused peer is closed after 1..3 s, without a byte */
#define SL_STEALTH_LINGER_SPAN_MS 2000u

enum stealth_verdict {
	STEALTH_OK,
	STEALTH_BAD,    /* not a prelude made with this gateway's key (e.g. a TLS ClientHello, garbage) */
	STEALTH_STALE,  /* a good MAC, the timestamp outside the window */
	STEALTH_REPLAY, /* a good MAC, fresh, the nonce already used */
};

struct stealth_entry {
	uint8_t nonce[16];
	int64_t until; /* unix s; 0: free */
};

struct stealth_cache {
	struct stealth_entry e[SL_STEALTH_CACHE];
};

/* The prelude key of a gateway's public key. */
void stealth_key(const uint8_t gw_pub[SL_KEY_LEN], uint8_t key[32]);
/* A new prelude for now_s (unix seconds). 0 or -EIO. */
int stealth_prelude_make(const uint8_t key[32], int64_t now_s, uint8_t out[SL_STEALTH_PRELUDE_LEN]);
/* Checks a prelude; an accepted one's nonce is remembered in cache. */
enum stealth_verdict stealth_prelude_check(struct stealth_cache *cache, const uint8_t key[32], int64_t now_s,
					   const uint8_t in[SL_STEALTH_PRELUDE_LEN]);
