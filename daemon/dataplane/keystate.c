/* keystate: set up and tear down the cipher contexts and replay window of one session key. */
#include <string.h>
#include <time.h>
#include "daemon/dataplane/keystate.h"

int keystate_init(struct keystate *ks, const uint8_t tx_key[SLUICE_KEY_LEN],
		  const uint8_t rx_key[SLUICE_KEY_LEN], unsigned n_tx)
{
	int ret = 0;

	memset(ks, 0, sizeof(*ks));
	atomic_init(&ks->tx_counter, 0);
	replay_init(&ks->replay);
	ks->n_tx = n_tx < 1 ? 1 : n_tx > SL_TX_SLOTS ? SL_TX_SLOTS : n_tx;
	for (unsigned i = 0; i < ks->n_tx && !ret; i++)
		ret = aead_init(&ks->tx[i], tx_key, true);
	if (!ret)
		ret = aead_init(&ks->rx, rx_key, false);
	if (ret)
		keystate_free(ks);
	return ret;
}

void keystate_free(struct keystate *ks)
{
	for (unsigned i = 0; i < SL_TX_SLOTS; i++)
		aead_free(&ks->tx[i]);
	aead_free(&ks->rx);
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
