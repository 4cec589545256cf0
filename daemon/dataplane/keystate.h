/* keystate: the running per-key state the data plane owns for one session — the two 32-byte keys (one per
 * direction), the next transmit counter and the receive replay window — and the counters it keeps.
 * The control plane creates it from the exporter keys and frees it; only the data plane touches it in between.
 *
 * Cipher contexts are not the session's: every thread that seals or opens (data workers, a client's control
 * thread, loadgen) has its own cache of EVP contexts (KS_CACHE_SETS x KS_CACHE_WAYS per direction, made as
 * they are first needed), looked up by the key's id. A key in use keeps its context keyed (a hit: one hash,
 * four compares, no allocation); a key not in the cache takes the least recently used context of its set and
 * re-keys it (EVP_CipherInit_ex with the key only: the AES and GHASH key schedules, no allocation once the
 * thread's cache has its contexts). An idle session holds no context at all: 10,000 sessions cost 10,000 x 72
 * bytes of keys and ids, not 10,000 x 4 contexts of ~1.2 KB. A freed key's schedule stays in at most one
 * context per thread and direction until evicted or the thread ends (keystate_thread_release). */
#pragma once
#include <stdatomic.h>
#include <stdint.h>
#include "daemon/dataplane/aead.h"
#include "daemon/dataplane/qsbr.h"
#include "daemon/dataplane/replay.h"
#include "daemon/dataplane/wire.h"

/* A key is retired (the client re-authenticates) long before its counter could wrap: at 2^60 packets. */
#define SL_COUNTER_REKEY (1ull << 60)

/* Per thread and direction: KS_CACHE_SETS sets of KS_CACHE_WAYS contexts (256: the sessions a worker can keep
 * keyed at once; more active sessions than that re-key on their next datagram, which is what a trickle of
 * keepalives from 10,000 clients does). */
#define KS_CACHE_SETS 64u /* power of two */
#define KS_CACHE_WAYS 4u

struct keystate {
	uint64_t id; /* unique in the process (never reused): names the key in the threads' caches; 0 = none */
	uint8_t tx_key[SLUICE_KEY_LEN], rx_key[SLUICE_KEY_LEN];
	_Atomic uint64_t tx_counter;
	struct replay replay; /* one receiver at a time (the gateway: under the session's rx lock) */
};

/* The next transmit counter (relaxed: only uniqueness matters; the receiver's window absorbs reordering). */
static inline uint64_t keystate_next(struct keystate *ks)
{
	return atomic_fetch_add_explicit(&ks->tx_counter, 1, memory_order_relaxed);
}

static inline uint64_t keystate_sent(const struct keystate *ks)
{
	return atomic_load_explicit(&ks->tx_counter, memory_order_relaxed);
}

/* The calling thread's sealing (tx) / opening (rx) context keyed with ks's key, for dgram_seal/dgram_open. NULL
 * only when the thread's cache could not make a context (out of memory: its first KS_CACHE_SETS x WAYS misses
 * allocate, nothing after) or ks has no key. Valid until the thread's next keystate_tx/keystate_rx call. */
struct sl_aead *keystate_tx(const struct keystate *ks);
struct sl_aead *keystate_rx(const struct keystate *ks);
/* Frees the calling thread's cache (contexts wiped); a thread's exit does it too. */
void keystate_thread_release(void);

/* The calling thread's cache, for tests and profiles. */
struct keystate_cache_stats {
	uint64_t hits, misses; /* lookups that found the key keyed / re-keyed a context */
	unsigned contexts;     /* contexts made (at most 2 x KS_CACHE_SETS x KS_CACHE_WAYS) */
};
void keystate_cache_stats(struct keystate_cache_stats *out);

/* Per-session transfer counters (bytes are inner packet bytes). */
struct dp_peer_counters {
	uint64_t rx_bytes, rx_packets;
	uint64_t tx_bytes, tx_packets;
	uint64_t drops[SL_DROP__COUNT];
	uint64_t last_rx_ms; /* monotonic, last authenticated datagram */
	uint64_t owed_ms; /* not a counter: this worker owes the session a keepalive since then, 0 if not (gw_path.c) */
};

/* Time a packet spends inside the daemon, sampled once per batch (the batch's first packet, so the worst of
 * the batch): an exponentially weighted average and a log-linear histogram (8 buckets per power of two) from
 * which the p95 is read. Two clock reads per batch; no allocation. */
#define DP_LAT_SUB 8
#define DP_LAT_BUCKETS (40 * DP_LAT_SUB)

struct dp_latency {
	uint64_t avg_ns; /* EWMA, weight 1/8 */
	uint64_t samples;
	uint32_t hist[DP_LAT_BUCKETS];
};

/* Adds one counter block to another (`from` may be a worker's live slot: relaxed loads). */
void counters_add(struct dp_peer_counters *to, const struct dp_peer_counters *from);

void dp_latency_add(struct dp_latency *l, uint64_t ns);
/* The q-quantile (0 < q < 1) in ns, 0 without samples; accurate to 1/8 of its power of two. */
uint64_t dp_latency_quantile(const struct dp_latency *l, double q);
uint64_t now_ns(void);

/* Interface counters. */
struct dp_stats {
	uint64_t tun_rx_packets, tun_rx_bytes; /* read from the TUN */
	uint64_t tun_tx_packets, tun_tx_bytes; /* written to the TUN */
	uint64_t tun_rx_packets6, tun_tx_packets6; /* of those, IPv6 (DESIGN 9) */
	uint64_t udp_rx_datagrams, udp_rx_bytes;
	uint64_t udp_tx_datagrams, udp_tx_bytes;
	uint64_t tcp_rx_datagrams, tcp_tx_datagrams; /* the same datagrams over a TCP fallback stream (stream.h) */
	uint64_t drops[SL_DROP__COUNT];
	uint64_t icmp_too_big;         /* oversize packets answered with "fragmentation needed" (icmp.h) */
	struct dp_latency lat_tun_udp; /* TUN read -> UDP send */
	struct dp_latency lat_udp_tun; /* UDP receive -> TUN write */
};

/* Copies the keys and gives them a fresh id. 0 (nothing can fail: the contexts are the threads'). */
int keystate_init(struct keystate *ks, const uint8_t tx_key[SLUICE_KEY_LEN], const uint8_t rx_key[SLUICE_KEY_LEN]);
/* Wipes the keys. */
void keystate_free(struct keystate *ks);
