/* keystate: the running per-key state the data plane owns for one session — the two cipher contexts (one per
 * direction), the next transmit counter and the receive replay window — and the counters it keeps.
 * The control plane creates it from the exporter keys and frees it; only the data plane touches it in between. */
#pragma once
#include <stdatomic.h>
#include <stdint.h>
#include "daemon/dataplane/aead.h"
#include "daemon/dataplane/qsbr.h"
#include "daemon/dataplane/replay.h"
#include "daemon/dataplane/wire.h"

/* A key is retired (the client re-authenticates) long before its counter could wrap: at 2^60 packets. */
#define SL_COUNTER_REKEY (1ull << 60)

/* Sealing contexts: one per data worker, plus on a client one for the control thread's keepalives (EVP
 * contexts are not shared between threads); the counter they draw from is one atomic, so every datagram of a
 * key has its own. */
#define SL_TX_SLOTS (SL_MAX_WORKERS + 1)

struct keystate {
	struct sl_aead tx[SL_TX_SLOTS];
	unsigned n_tx;
	_Atomic uint64_t tx_counter;
	struct sl_aead rx; /* one receiver at a time (the gateway: under the session's rx lock) */
	struct replay replay;
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

/* Per-session transfer counters (bytes are inner packet bytes). */
struct dp_peer_counters {
	uint64_t rx_bytes, rx_packets;
	uint64_t tx_bytes, tx_packets;
	uint64_t drops[SL_DROP__COUNT];
	uint64_t last_rx_ms; /* monotonic, last authenticated datagram */
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

/* n_tx: sealing contexts to make (workers + 1, at most SL_TX_SLOTS). */
int keystate_init(struct keystate *ks, const uint8_t tx_key[SLUICE_KEY_LEN],
		  const uint8_t rx_key[SLUICE_KEY_LEN], unsigned n_tx);
void keystate_free(struct keystate *ks);
