/* ratelimit: per-source token buckets for the gateway's control port. Every accepted connection costs one TLS
 * handshake (signatures, key exchange): a source gets `burst` at once and `rate` per second after that. A
 * fixed table (no allocation per source); two sources that hash to the same slot share a bucket unless the
 * older one is idle and full again, which errs on the strict side and only under a flood of sources. IPv6
 * sources are limited per /64, what one host can easily own. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include "daemon/common/hash32.h"

struct rate_bucket {
	uint32_t key;
	uint32_t milli; /* tokens in thousandths */
	uint64_t last_ms;
};

static inline uint32_t rate_key(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET6) {
		const struct in6_addr *in6 = &((const struct sockaddr_in6 *)a)->sin6_addr;
		uint32_t w[2];
		if (IN6_IS_ADDR_V4MAPPED(in6)) { /* an IPv4 client of a dual-stack listener: its own address */
			memcpy(w, &in6->s6_addr[12], sizeof(w[0]));
			return w[0];
		}
		memcpy(w, in6, sizeof(w));
		return h32_mix(w[0] ^ h32_mix(w[1]));
	}
	return ((const struct sockaddr_in *)a)->sin_addr.s_addr;
}

/* Takes one token for `key` at `now_ms` from a table of n_pow2 buckets. true: go ahead; false: over the limit. */
static inline bool rate_take(struct rate_bucket *tab, uint32_t n_pow2, uint32_t key, uint64_t now_ms,
			     uint32_t rate_per_s, uint32_t burst)
{
	struct rate_bucket *b = &tab[h32_mix(key) & (n_pow2 - 1)];
	uint64_t full = (uint64_t)burst * 1000u, milli;

	milli = b->last_ms ? b->milli + (now_ms - b->last_ms) * rate_per_s : full;
	if (milli > full)
		milli = full;
	if (b->key != key && milli == full)
		b->key = key; /* the slot's previous source is idle: the bucket is the new one's */
	b->last_ms = now_ms ? now_ms : 1;
	if (milli < 1000) {
		b->milli = (uint32_t)milli;
		return false;
	}
	b->milli = (uint32_t)(milli - 1000);
	return true;
}
