/* ratelimit: per-source token buckets for the gateway's control port. Every accepted connection costs one TLS
 * handshake (signatures, key exchange): a source gets `burst` at once and `rate` per second after that. IPv6
 * sources are limited per /64, what one host can easily own; IPv4 per address.
 *
 * A fixed table (no allocation per source), RATE_WAYS-way set associative: a source's set is chosen by a hash
 * seeded at random per process, so nobody outside can compute which addresses share a set, and each bucket
 * holds its source's whole prefix (an IPv4 address, an IPv6 /64), compared in full. A source never draws on
 * another's tokens: a newcomer takes a free bucket of its set, or one whose source is idle (its bucket full
 * again); when all RATE_WAYS buckets of its set hold busy sources it is refused, which errs on the strict side
 * and needs a flood of sources busy in every set (each bucket kept below full costs one handshake per 1/rate
 * seconds). Bounded: RATE_WAYS buckets looked at per connection. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include "daemon/common/hash32.h"

#define RATE_WAYS 4u /* buckets per set */

struct rate_src {
	uint32_t w[2]; /* IPv4: the address, 0; IPv6: the /64 (network order) */
	uint32_t fam;  /* 4 or 6; 0: an unused bucket */
};

struct rate_bucket {
	struct rate_src src;
	uint32_t milli; /* tokens in thousandths */
	uint64_t last_ms;
};

static inline struct rate_src rate_src(const struct sockaddr_storage *a)
{
	struct rate_src s = {{0, 0}, 4};

	if (a->ss_family == AF_INET6) {
		const struct in6_addr *in6 = &((const struct sockaddr_in6 *)a)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(in6)) { /* an IPv4 client of a dual-stack listener: its own address */
			memcpy(&s.w[0], &in6->s6_addr[12], sizeof(s.w[0]));
			return s;
		}
		memcpy(s.w, in6, sizeof(s.w));
		s.fam = 6;
		return s;
	}
	s.w[0] = ((const struct sockaddr_in *)a)->sin_addr.s_addr;
	return s;
}

static inline bool rate_src_eq(const struct rate_src *a, const struct rate_src *b)
{
	return a->fam == b->fam && a->w[0] == b->w[0] && a->w[1] == b->w[1];
}

/* The first bucket of src's set in a table of n_pow2 (>= RATE_WAYS) buckets. */
static inline uint32_t rate_set(uint32_t n_pow2, uint32_t seed, const struct rate_src *src)
{
	uint32_t h = h32_mix(seed ^ src->fam);

	h = h32_mix(h ^ src->w[0] ^ seed);
	h = h32_mix(h ^ src->w[1] ^ seed);
	return (h & (n_pow2 / RATE_WAYS - 1)) * RATE_WAYS;
}

/* Tokens (thousandths) of b at now_ms, refilled and capped at full. */
static inline uint64_t rate_milli(const struct rate_bucket *b, uint64_t now_ms, uint32_t rate_per_s,
				  uint64_t full)
{
	uint64_t milli;

	if (!b->last_ms)
		return full;
	milli = b->milli + (now_ms > b->last_ms ? now_ms - b->last_ms : 0) * rate_per_s;
	return milli > full ? full : milli;
}

/* Takes one token for src at now_ms from a table of n_pow2 buckets (a power of two, at least RATE_WAYS) hashed
 * with seed. true: go ahead; false: over the limit, or every bucket of its set busy with other sources. */
static inline bool rate_take(struct rate_bucket *tab, uint32_t n_pow2, uint32_t seed, const struct rate_src *src,
			     uint64_t now_ms, uint32_t rate_per_s, uint32_t burst)
{
	struct rate_bucket *set = &tab[rate_set(n_pow2, seed, src)], *b = NULL;
	uint64_t full = (uint64_t)burst * 1000u, milli = 0;

	for (unsigned i = 0; i < RATE_WAYS; i++) {
		if (set[i].last_ms && rate_src_eq(&set[i].src, src)) {
			b = &set[i];
			milli = rate_milli(b, now_ms, rate_per_s, full);
			break;
		}
	}
	for (unsigned i = 0; !b && i < RATE_WAYS; i++) {
		if (rate_milli(&set[i], now_ms, rate_per_s, full) == full) {
			b = &set[i]; /* free, or its source is idle: the bucket is the newcomer's, full */
			b->src = *src;
			milli = full;
		}
	}
	if (!b)
		return false; /* the set is busy with other sources: no sharing of their tokens */
	b->last_ms = now_ms ? now_ms : 1;
	if (milli < 1000) {
		b->milli = (uint32_t)milli;
		return false;
	}
	b->milli = (uint32_t)(milli - 1000);
	return true;
}
