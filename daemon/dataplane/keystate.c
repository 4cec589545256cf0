/* keystate: set up and tear down one session key; the threads' caches of cipher contexts (keystate.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include "daemon/dataplane/keystate.h"

enum { KS_TX, KS_RX };

struct ks_way {
	uint64_t tag;  /* the keystate id it is keyed for; 0: none */
	uint64_t used; /* the cache's tick at its last use: the least recent of a set is re-keyed */
	struct sl_aead a;
};

struct ks_cache {
	uint64_t tick;
	struct keystate_cache_stats st;
	struct ks_way way[2][KS_CACHE_SETS][KS_CACHE_WAYS];
};

static _Atomic uint64_t next_id = 1;
static __thread struct ks_cache *t_cache;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static int cache_key_ret = -1;

static void cache_free(void *p)
{
	struct ks_cache *c = p;

	if (!c)
		return;
	for (unsigned d = 0; d < 2; d++)
		for (unsigned s = 0; s < KS_CACHE_SETS; s++)
			for (unsigned w = 0; w < KS_CACHE_WAYS; w++)
				aead_free(&c->way[d][s][w].a); /* wipes the key schedule */
	free(c);
}

static void cache_key_make(void)
{
	cache_key_ret = pthread_key_create(&cache_key, cache_free);
}

/* The thread's cache, made at its first use (once per thread; a thread's exit frees it). */
static struct ks_cache *cache_get(void)
{
	struct ks_cache *c;

	if (t_cache)
		return t_cache;
	pthread_once(&cache_once, cache_key_make);
	if (cache_key_ret)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (pthread_setspecific(cache_key, c)) {
		free(c);
		return NULL;
	}
	t_cache = c;
	return c;
}

void keystate_thread_release(void)
{
	struct ks_cache *c = t_cache;

	if (!c)
		return;
	t_cache = NULL;
	pthread_setspecific(cache_key, NULL);
	cache_free(c);
}

void keystate_cache_stats(struct keystate_cache_stats *out)
{
	if (t_cache)
		*out = t_cache->st;
	else
		memset(out, 0, sizeof(*out));
}

/* Fibonacci hashing: consecutive ids (sessions made one after the other) spread over every set. */
static unsigned set_of(uint64_t id)
{
	return (unsigned)((id * 0x9e3779b97f4a7c15ull) >> 32) & (KS_CACHE_SETS - 1);
}

static struct sl_aead *ks_ctx(const struct keystate *ks, unsigned dir)
{
	struct ks_cache *c = t_cache ? t_cache : cache_get();
	struct ks_way *set, *v;

	if (!c || !ks->id)
		return NULL;
	set = c->way[dir][set_of(ks->id)];
	v = &set[0];
	c->tick++;
	for (unsigned i = 0; i < KS_CACHE_WAYS; i++) {
		if (set[i].tag == ks->id) {
			set[i].used = c->tick;
			c->st.hits++;
			return &set[i].a;
		}
		if (set[i].used < v->used)
			v = &set[i];
	}
	/* a miss: the least recently used way (an unused one first: its `used` is 0) takes this key */
	c->st.misses++;
	v->tag = 0;
	if (!v->a.ctx) {
		if (aead_init(&v->a, dir == KS_TX ? ks->tx_key : ks->rx_key, dir == KS_TX))
			return NULL;
		c->st.contexts++;
	} else if (aead_rekey(&v->a, dir == KS_TX ? ks->tx_key : ks->rx_key)) {
		return NULL;
	}
	v->tag = ks->id;
	v->used = c->tick;
	return &v->a;
}

struct sl_aead *keystate_tx(const struct keystate *ks)
{
	return ks_ctx(ks, KS_TX);
}

struct sl_aead *keystate_rx(const struct keystate *ks)
{
	return ks_ctx(ks, KS_RX);
}

int keystate_init(struct keystate *ks, const uint8_t tx_key[SLUICE_KEY_LEN], const uint8_t rx_key[SLUICE_KEY_LEN])
{
	memset(ks, 0, sizeof(*ks));
	atomic_init(&ks->tx_counter, 0);
	replay_init(&ks->replay);
	memcpy(ks->tx_key, tx_key, SLUICE_KEY_LEN);
	memcpy(ks->rx_key, rx_key, SLUICE_KEY_LEN);
	ks->id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
	return 0;
}

void keystate_free(struct keystate *ks)
{
	OPENSSL_cleanse(ks->tx_key, sizeof(ks->tx_key));
	OPENSSL_cleanse(ks->rx_key, sizeof(ks->rx_key));
	ks->id = 0;
}

/* `from` may be a worker's live slot: relaxed loads (see SL_ADD). */
void counters_add(struct dp_peer_counters *to, const struct dp_peer_counters *from)
{
	uint64_t last = SL_RD(from->last_rx_ms);

	to->rx_bytes += SL_RD(from->rx_bytes);
	to->rx_packets += SL_RD(from->rx_packets);
	to->tx_bytes += SL_RD(from->tx_bytes);
	to->tx_packets += SL_RD(from->tx_packets);
	for (int i = 0; i < SL_DROP__COUNT; i++)
		to->drops[i] += SL_RD(from->drops[i]);
	if (last > to->last_rx_ms)
		to->last_rx_ms = last;
}

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned lat_bucket(uint64_t ns)
{
	unsigned msb, b;

	if (ns < DP_LAT_SUB)
		return (unsigned)ns;
	msb = 63u - (unsigned)__builtin_clzll(ns);
	/* the 3 bits below the most significant one pick the sub-bucket */
	b = (msb - 2) * DP_LAT_SUB + (unsigned)((ns >> (msb - 3)) & (DP_LAT_SUB - 1));
	return b < DP_LAT_BUCKETS ? b : DP_LAT_BUCKETS - 1;
}

/* Upper bound of a bucket, inverse of lat_bucket. */
static uint64_t lat_bucket_top(unsigned b)
{
	unsigned msb, sub;

	if (b < DP_LAT_SUB)
		return b;
	msb = b / DP_LAT_SUB + 2;
	sub = b % DP_LAT_SUB;
	return ((uint64_t)(DP_LAT_SUB + sub + 1) << (msb - 3)) - 1;
}

void dp_latency_add(struct dp_latency *l, uint64_t ns)
{
	SL_WR(l->avg_ns, l->samples ? l->avg_ns + ns / 8 - l->avg_ns / 8 : ns);
	SL_ADD(l->samples, 1);
	SL_ADD(l->hist[lat_bucket(ns)], 1);
}

uint64_t dp_latency_quantile(const struct dp_latency *l, double q)
{
	uint64_t total = 0, want, seen = 0;

	for (unsigned i = 0; i < DP_LAT_BUCKETS; i++)
		total += l->hist[i];
	if (!total)
		return 0;
	want = (uint64_t)((double)total * q);
	for (unsigned i = 0; i < DP_LAT_BUCKETS; i++) {
		seen += l->hist[i];
		if (seen > want)
			return lat_bucket_top(i);
	}
	return lat_bucket_top(DP_LAT_BUCKETS - 1);
}
