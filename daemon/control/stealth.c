/* stealth: the pre-TLS prelude (daemon/control/stealth.h). */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>
#include "daemon/control/stealth.h"

void stealth_key(const uint8_t gw_pub[SL_KEY_LEN], uint8_t key[32])
{
	unsigned int len = 0;

	HMAC(EVP_sha256(), SL_STEALTH_LABEL, (int)strlen(SL_STEALTH_LABEL), gw_pub, SL_KEY_LEN, key, &len);
}

static bool mac(const uint8_t key[32], const uint8_t in[24], uint8_t out[32])
{
	unsigned int len = 0;

	return HMAC(EVP_sha256(), key, 32, in, 24, out, &len) && len == 32;
}

int stealth_prelude_make(const uint8_t key[32], int64_t now_s, uint8_t out[SL_STEALTH_PRELUDE_LEN])
{
	uint64_t t = (uint64_t)now_s;

	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(t >> (56 - 8 * i));
	if (RAND_bytes(out + 8, 16) != 1 || !mac(key, out, out + 24))
		return -EIO;
	return 0;
}

enum stealth_verdict stealth_prelude_check(struct stealth_cache *cache, const uint8_t key[32], int64_t now_s,
					   const uint8_t in[SL_STEALTH_PRELUDE_LEN])
{
	uint8_t want[32];
	uint64_t t = 0;
	int64_t ts, d;
	struct stealth_entry *slot = NULL;
	uint32_t h;

	if (!mac(key, in, want) || CRYPTO_memcmp(want, in + 24, 32))
		return STEALTH_BAD;
	for (int i = 0; i < 8; i++)
		t = t << 8 | in[i];
	ts = (int64_t)t;
	d = ts - now_s;
	/* behind by up to the window, ahead by up to SL_STEALTH_FUTURE_S (a client's clock off either way); a nonce
	 * is remembered until its timestamp leaves the window, so a future one lives longer — the eviction below
	 * keeps that from filling the table */
	if (t > (uint64_t)INT64_MAX || d > SL_STEALTH_FUTURE_S || d < -SL_STEALTH_WINDOW_S)
		return STEALTH_STALE;
	/* the MAC is unpredictable without the key: its first bytes place the nonce */
	h = (uint32_t)in[24] | (uint32_t)in[25] << 8 | (uint32_t)in[26] << 16 | (uint32_t)in[27] << 24;
	for (unsigned i = 0; i < SL_STEALTH_PROBE; i++) {
		struct stealth_entry *e = &cache->e[(h + i) % SL_STEALTH_CACHE];
		if (e->until < now_s) {
			if (!slot || slot->until >= now_s)
				slot = e;
			continue;
		}
		if (!memcmp(e->nonce, in + 8, 16))
			return STEALTH_REPLAY;
		if (!slot || (slot->until >= now_s && e->until < slot->until))
			slot = e;
	}
	/* No expired slot: the live entry that expires first makes room. Refusing instead would let anyone with
	 * the gateway's public key (every client) fill the table with its own preludes and lock every client
	 * out. The cost: the forgotten nonce's prelude, if an on-path observer captured it, can be replayed for
	 * the rest of its window — it then sees a ServerHello (what stealth hides), never a session. */
	memcpy(slot->nonce, in + 8, 16);
	slot->until = ts + SL_STEALTH_WINDOW_S; /* after that the timestamp alone refuses it */
	return STEALTH_OK;
}
