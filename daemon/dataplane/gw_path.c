/* gw_path: the gateway's per-packet path.
 *   TUN -> (inner dst -> peer -> current session, fresh endpoint, MTU) -> seal -> sendmmsg
 *   recvmmsg -> header -> session by id -> replay window -> open -> mark seen -> inner source is the
 *   session's -> roam endpoint -> TUN write
 * No allocation, lock or log here; every drop is counted under its cause. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "daemon/gateway.h"

#define GW_TUN_BATCHES 4 /* batches per wake-up before yielding to the other fds */

static inline void drop(struct gw *g, struct gw_session *s, enum sl_drop why)
{
	g->st.drops[why]++;
	if (s)
		s->c.drops[why]++;
}

static bool endpoint_fresh(const struct gw_session *s, uint64_t now)
{
	return s->ep_seen_ms && now - s->ep_seen_ms <= SL_ENDPOINT_FRESH_MS;
}

void gw_on_tun(struct loop_io *io, uint32_t events)
{
	struct gw *g = (struct gw *)((char *)io - offsetof(struct gw, tun_io));
	struct dp_batch *b = g->tx;
	const unsigned mtu = g->cfg->mtu;
	uint64_t now = now_ms();

	/* segments of a super-packet already read are not in the fd any more: finish them before yielding */
	for (int round = 0; round < GW_TUN_BATCHES || g->t.sp_len; round++) {
		unsigned n = 0;
		bool empty = false;
		uint64_t t0 = 0;

		while (n < DP_BATCH) {
			uint8_t *slot = b->buf[n];
			ssize_t len = dp_tun_next(&g->t, slot + SLUICE_HDR_LEN, DP_SLOT_LEN - SLUICE_OVERHEAD);
			uint32_t dst;
			struct gw_peer *p;
			struct gw_session *s;
			int dl;

			if (len == -1) {
				empty = true;
				break;
			}
			if (len < 0) {
				g->st.tun_rx_packets++;
				drop(g, NULL, SL_DROP_BAD_INNER);
				continue;
			}
			if (!t0)
				t0 = now_ns();
			g->st.tun_rx_packets++;
			g->st.tun_rx_bytes += (uint64_t)len;
			if (dp_ipv4_dst(slot + SLUICE_HDR_LEN, (size_t)len, &dst)) {
				drop(g, NULL, SL_DROP_BAD_INNER);
				continue;
			}
			p = peer_by_addr(&g->reg, dst);
			s = p ? p->cur : NULL;
			if (!s || !endpoint_fresh(s, now)) {
				drop(g, s, SL_DROP_NO_ENDPOINT);
				continue;
			}
			if ((size_t)len > mtu) {
				drop(g, s, SL_DROP_OVERSIZE);
				continue;
			}
			dl = dgram_seal(&s->ks.tx, slot, (size_t)len, SL_TYPE_DATA, s->id, s->ks.tx_counter++);
			if (dl < 0) {
				drop(g, s, SL_DROP_QUEUE_OUT);
				continue;
			}
			s->c.tx_packets++;
			s->c.tx_bytes += (uint64_t)len;
			s->last_tx_ms = now;
			b->iov[n].iov_len = (size_t)dl;
			memcpy(&b->addr[n], &s->ep, s->ep_len);
			b->msgs[n].msg_hdr.msg_namelen = s->ep_len;
			n++;
		}
		if (n) {
			dp_udp_send(&g->u, b, n, &g->st);
			dp_latency_add(&g->st.lat_tun_udp, now_ns() - t0);
		}
		if (empty)
			break;
	}
}

void gw_send_keepalive(struct gw *g, struct gw_session *s, uint64_t now)
{
	int dl = dgram_seal(&s->ks.tx, g->ka_buf, 0, SL_TYPE_KEEPALIVE, s->id, s->ks.tx_counter++);

	if (dl < 0 || sendto(g->udp_io.fd, g->ka_buf, (size_t)dl, MSG_DONTWAIT, (struct sockaddr *)&s->ep,
			     s->ep_len) < 0) {
		g->st.drops[SL_DROP_QUEUE_OUT]++;
		return;
	}
	g->st.udp_tx_datagrams++;
	g->st.udp_tx_bytes += (uint64_t)dl;
	s->last_tx_ms = now;
}

/* Packets the kernel refused at a TUN write (one write may carry a coalesced train): counted as queue_in
 * drops and taken back out of the written counters. */
static void tun_lost(struct gw *g, struct gw_session *s, unsigned lost)
{
	if (!lost)
		return;
	g->st.drops[SL_DROP_QUEUE_IN] += lost;
	g->st.tun_tx_packets -= lost;
	if (s)
		s->c.drops[SL_DROP_QUEUE_IN] += lost;
}

static bool same_endpoint(const struct gw_session *s, const struct sockaddr_storage *a, socklen_t len)
{
	return s->ep_len == len && !memcmp(&s->ep, a, len);
}

/* One received datagram, in the order of DESIGN §3. */
static void rx_one(struct gw *g, uint8_t *buf, size_t len, const struct sockaddr_storage *from,
		   socklen_t from_len, uint64_t now)
{
	struct sl_hdr h;
	struct gw_session *s;
	uint32_t src;
	int n;

	g->st.udp_rx_datagrams++;
	g->st.udp_rx_bytes += len;
	if (wire_hdr_decode(buf, len, &h)) {
		drop(g, NULL, SL_DROP_BAD_HEADER);
		return;
	}
	s = session_by_id(&g->reg, h.session_id);
	if (!s) {
		drop(g, NULL, SL_DROP_UNKNOWN_SESSION);
		return;
	}
	if (!replay_check(&s->ks.replay, h.counter)) {
		drop(g, s, SL_DROP_REPLAY);
		return;
	}
	n = dgram_open(&s->ks.rx, buf, len, &h);
	if (n < 0) {
		drop(g, s, SL_DROP_AUTH);
		return;
	}
	if (!replay_update(&s->ks.replay, h.counter)) {
		drop(g, s, SL_DROP_REPLAY);
		return;
	}
	s->last_seen_ms = now;
	s->c.last_rx_ms = now;
	if (h.type == SL_TYPE_DATA) {
		const uint8_t *inner = buf + SLUICE_HDR_LEN;
		if ((unsigned)n > g->cfg->mtu) {
			drop(g, s, SL_DROP_OVERSIZE);
			return;
		}
		if (dp_ipv4_src(inner, (size_t)n, &src)) {
			drop(g, s, SL_DROP_BAD_INNER);
			return;
		}
		if (src != s->peer->addr.s_addr) {
			drop(g, s, SL_DROP_SPOOFED);
			return;
		}
	}
	if (!same_endpoint(s, from, from_len)) {
		memcpy(&s->ep, from, from_len); /* roaming: only ever after authentication */
		s->ep_len = from_len;
	}
	s->ep_seen_ms = now;
	if (h.type == SL_TYPE_DATA) {
		unsigned lost = dp_tun_put(&g->t, buf + SLUICE_HDR_LEN, (size_t)n);
		g->st.tun_tx_packets++;
		g->st.tun_tx_bytes += (uint64_t)n;
		s->c.rx_packets++;
		s->c.rx_bytes += (uint64_t)n;
		tun_lost(g, s, lost);
	}
	/* the client learns we are alive from any authenticated datagram: answer if we were silent */
	if (now - s->last_tx_ms >= SL_PASSIVE_KEEPALIVE_MS)
		gw_send_keepalive(g, s, now);
}

struct rx_ctx {
	struct gw *g;
	uint64_t now;
};

static void rx_cb(void *arg, uint8_t *buf, size_t len, const struct sockaddr_storage *from, socklen_t from_len)
{
	struct rx_ctx *x = arg;

	rx_one(x->g, buf, len, from, from_len, x->now);
}

void gw_on_udp(struct loop_io *io, uint32_t events)
{
	struct gw *g = (struct gw *)((char *)io - offsetof(struct gw, udp_io));
	struct rx_ctx x = {g, now_ms()};
	uint64_t t0 = now_ns();

	if (dp_udp_recv(&g->u, g->rx, rx_cb, &x) > 0) {
		tun_lost(g, NULL, dp_tun_flush(&g->t)); /* the batch's last train */
		dp_latency_add(&g->st.lat_udp_tun, now_ns() - t0);
	}
}
