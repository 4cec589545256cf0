/* test_keystate: the threads' caches of cipher contexts (keystate.h). Sealing and opening through a cached
 * context equals a fresh one-shot EVP reference; a key evicted by more keys than the cache holds is re-keyed and
 * still seals and opens the same; transmit counters and replay windows are the keystate's, untouched by the
 * cache; a key's id is never reused (a keystate made anew at the same address with another key seals with the
 * new key); each thread has its own cache, freed at its exit; and past the cache's first contexts nothing is
 * allocated, hit or miss (OpenSSL's allocations counted through CRYPTO_set_mem_functions). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "daemon/dataplane/keystate.h"
#include "daemon/dataplane/replay.h"
#include "tests/unit/check.h"

#define CAP (KS_CACHE_SETS * KS_CACHE_WAYS) /* contexts per thread and direction */
#define N_KEYS (2 * CAP + 7)                /* more keys than the cache: every pass evicts */
#define PT_LEN 200

static _Atomic long allocs; /* OpenSSL's malloc/realloc calls */

static void *count_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	atomic_fetch_add(&allocs, 1);
	return malloc(n);
}

static void *count_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	atomic_fetch_add(&allocs, 1);
	return realloc(p, n);
}

static void count_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	free(p);
}

static void key_of(uint8_t key[SLUICE_KEY_LEN], unsigned i, unsigned dir)
{
	for (unsigned b = 0; b < SLUICE_KEY_LEN; b++)
		key[b] = (uint8_t)(i * 7 + b * 13 + dir * 101 + 1);
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* The reference: a fresh context for this one datagram (aead.c's own known-answer tests check aead_init). */
static int ref_seal(const uint8_t key[SLUICE_KEY_LEN], uint8_t *dgram, size_t inner, uint32_t sid, uint64_t ctr)
{
	struct sl_aead a;
	int n;

	if (aead_init(&a, key, true))
		return -1;
	n = dgram_seal(&a, dgram, inner, SL_TYPE_DATA, sid, ctr);
	aead_free(&a);
	return n;
}

/* Seals one datagram with ks (counter from it) and checks it against the reference, then opens it with the
 * peer's keystate (keys swapped) and checks the plaintext. */
static void seal_open_check(struct keystate *ks, struct keystate *peer, const uint8_t tx_key[SLUICE_KEY_LEN],
			    uint32_t sid, uint32_t seed)
{
	uint8_t pt[PT_LEN], d[PT_LEN + SLUICE_OVERHEAD], r[PT_LEN + SLUICE_OVERHEAD];
	uint64_t ctr = keystate_next(ks);
	struct sl_hdr h;
	int n, m;

	fill(pt, sizeof(pt), seed);
	memcpy(d + SLUICE_HDR_LEN, pt, PT_LEN);
	memcpy(r + SLUICE_HDR_LEN, pt, PT_LEN);
	n = dgram_seal(keystate_tx(ks), d, PT_LEN, SL_TYPE_DATA, sid, ctr);
	m = ref_seal(tx_key, r, PT_LEN, sid, ctr);
	CHECK_EQ_INT(n, PT_LEN + SLUICE_OVERHEAD);
	CHECK(n == m && !memcmp(d, r, (size_t)n));
	CHECK(wire_hdr_decode(d, (size_t)n, &h) == 0);
	CHECK(replay_check(&peer->replay, h.counter));
	CHECK_EQ_INT(dgram_open(keystate_rx(peer), d, (size_t)n, &h), PT_LEN);
	CHECK(!memcmp(d + SLUICE_HDR_LEN, pt, PT_LEN));
	CHECK(replay_update(&peer->replay, h.counter));
	/* a flipped bit does not open */
	r[SLUICE_HDR_LEN + 5] ^= 0x10;
	CHECK_EQ_INT(dgram_open(keystate_rx(peer), r, (size_t)m, &h), -1);
}

static struct keystate cli[N_KEYS], srv[N_KEYS];

static void make_keys(void)
{
	for (unsigned i = 0; i < N_KEYS; i++) {
		uint8_t c2s[SLUICE_KEY_LEN], s2c[SLUICE_KEY_LEN];
		key_of(c2s, i, 0);
		key_of(s2c, i, 1);
		CHECK_EQ_INT(keystate_init(&cli[i], c2s, s2c), 0);
		CHECK_EQ_INT(keystate_init(&srv[i], s2c, c2s), 0);
		CHECK(cli[i].id && srv[i].id && cli[i].id != srv[i].id);
	}
}

static void test_cached_equals_reference(void)
{
	uint8_t c2s[SLUICE_KEY_LEN], s2c[SLUICE_KEY_LEN];
	struct keystate_cache_stats st0, st1;
	long a0 = atomic_load(&allocs);

	keystate_cache_stats(&st0);
	key_of(c2s, 0, 0);
	key_of(s2c, 0, 1);
	/* one key, both ways, many datagrams: the first of each direction misses, the rest hit */
	for (uint32_t k = 0; k < 50; k++) {
		seal_open_check(&cli[0], &srv[0], c2s, 0x11110000u, k);
		seal_open_check(&srv[0], &cli[0], s2c, 0x11110000u, 1000 + k);
	}
	keystate_cache_stats(&st1);
	CHECK_EQ_INT(st1.misses - st0.misses, 4); /* cli tx, srv rx, srv tx, cli rx */
	CHECK_EQ_INT(st1.hits - st0.hits, 6 * 50 - 4); /* seal, open, open of a flipped copy */
	CHECK_EQ_INT(keystate_sent(&cli[0]), 50);
	CHECK_EQ_INT(keystate_sent(&srv[0]), 50);
	CHECK(atomic_load(&allocs) > a0); /* the counting sees OpenSSL's allocations (the contexts made here) */
}

/* Every key once (N_KEYS > cache: all but the last ones are evicted), then all again: each re-keys and still
 * equals the reference and opens; counters go on where they were, replay windows still refuse old counters. */
static void test_eviction(void)
{
	struct keystate_cache_stats st0, st1;

	for (unsigned pass = 0; pass < 2; pass++)
		for (unsigned i = 0; i < N_KEYS; i++) {
			uint8_t c2s[SLUICE_KEY_LEN];
			key_of(c2s, i, 0);
			seal_open_check(&cli[i], &srv[i], c2s, 0x22220000u + i, pass * 10000 + i);
		}
	keystate_cache_stats(&st0);
	CHECK(st0.contexts <= 2 * CAP);
	CHECK(st0.contexts >= CAP); /* the cache filled up before it evicted */
	for (unsigned i = 0; i < N_KEYS; i++) {
		uint8_t c2s[SLUICE_KEY_LEN];
		key_of(c2s, i, 0);
		CHECK_EQ_INT(keystate_sent(&cli[i]), i == 0 ? 52 : 2);
		/* a replayed counter stays refused after eviction and re-keying */
		CHECK(!replay_check(&srv[i].replay, keystate_sent(&cli[i]) - 1));
		seal_open_check(&cli[i], &srv[i], c2s, 0x33330000u + i, 20000 + i);
	}
	keystate_cache_stats(&st1);
	CHECK_EQ_INT(st1.misses - st0.misses, 2 * N_KEYS); /* in order over more keys than a set holds: all miss */
	CHECK_EQ_INT(st1.contexts, st0.contexts);
}

/* A keystate freed and made again at the same address with another key never finds the old key's context. */
static void test_id_not_reused(void)
{
	uint8_t k1[SLUICE_KEY_LEN], k2[SLUICE_KEY_LEN], k3[SLUICE_KEY_LEN];
	struct keystate a, b;
	uint64_t old;

	key_of(k1, 900, 0);
	key_of(k2, 901, 0);
	key_of(k3, 902, 0);
	keystate_init(&a, k1, k3);
	keystate_init(&b, k3, k1);
	seal_open_check(&a, &b, k1, 0x44440000u, 1);
	old = a.id;
	keystate_free(&a);
	CHECK(keystate_tx(&a) == NULL && keystate_rx(&a) == NULL); /* no key: no context */
	CHECK(dgram_seal(keystate_tx(&a), (uint8_t[SLUICE_OVERHEAD]){0}, 0, SL_TYPE_KEEPALIVE, 1, 0) == -1);
	keystate_init(&a, k2, k3);
	CHECK(a.id != old);
	keystate_free(&b);
	keystate_init(&b, k3, k2);
	seal_open_check(&a, &b, k2, 0x44440000u, 2);
	keystate_free(&a);
	keystate_free(&b);
}

/* Past the cache's first contexts: seal and open, hits and re-keying misses, allocate nothing. */
static void test_no_allocation(void)
{
	uint8_t d[PT_LEN + SLUICE_OVERHEAD];
	struct sl_hdr h;
	long before;
	int bad = 0;

	before = atomic_load(&allocs);
	for (unsigned i = 0; i < N_KEYS; i++) /* misses: every key is re-keyed */
		for (unsigned k = 0; k < 3; k++) {  /* and hits */
			int n;
			memset(d + SLUICE_HDR_LEN, (int)k, PT_LEN);
			n = dgram_seal(keystate_tx(&cli[i]), d, PT_LEN, SL_TYPE_DATA, 7, keystate_next(&cli[i]));
			if (n < 0 || wire_hdr_decode(d, (size_t)n, &h) ||
			    dgram_open(keystate_rx(&srv[i]), d, (size_t)n, &h) != PT_LEN)
				bad++;
		}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(atomic_load(&allocs) - before, 0);
}

struct thread_arg {
	unsigned first;
	int bad;
	struct keystate_cache_stats st;
};

/* Another thread, the same keys (as two workers sealing for one session): its own cache, the same bytes. */
static void *other_thread(void *p)
{
	struct thread_arg *t = p;

	for (unsigned i = t->first; i < t->first + 20; i++) {
		uint8_t pt[PT_LEN], d[PT_LEN + SLUICE_OVERHEAD], r[PT_LEN + SLUICE_OVERHEAD], c2s[SLUICE_KEY_LEN];
		int n, m;
		key_of(c2s, i, 0);
		fill(pt, sizeof(pt), i);
		memcpy(d + SLUICE_HDR_LEN, pt, PT_LEN);
		memcpy(r + SLUICE_HDR_LEN, pt, PT_LEN);
		n = dgram_seal(keystate_tx(&cli[i]), d, PT_LEN, SL_TYPE_DATA, 9, 1u << 20);
		m = ref_seal(c2s, r, PT_LEN, 9, 1u << 20);
		if (n != m || n < 0 || memcmp(d, r, (size_t)n))
			t->bad++;
	}
	keystate_cache_stats(&t->st);
	return NULL; /* the thread's exit frees its cache: ASan's leak check sees it */
}

static void test_threads(void)
{
	struct thread_arg t = {.first = 3};
	pthread_t th;

	CHECK(pthread_create(&th, NULL, other_thread, &t) == 0);
	pthread_join(th, NULL);
	CHECK_EQ_INT(t.bad, 0);
	CHECK_EQ_INT(t.st.misses, 20);
	CHECK_EQ_INT(t.st.contexts, 20);
}

int main(void)
{
	/* before anything of OpenSSL's allocates */
	CHECK(CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free) == 1);
	make_keys();
	test_cached_equals_reference();
	test_eviction();
	test_no_allocation();
	test_id_not_reused();
	test_threads();
	for (unsigned i = 0; i < N_KEYS; i++) {
		keystate_free(&cli[i]);
		keystate_free(&srv[i]);
	}
	keystate_thread_release();
	return check_done("test_keystate");
}
