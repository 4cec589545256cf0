/* cl_path: the client's per-packet path. One snapshot load per batch; nothing here caches a session id, key
 * or address. No allocation, lock or log; every drop is counted. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "daemon/client.h"

#define CL_TUN_BATCHES 4

static inline void drop(struct cl *c, enum sl_drop why)
{
	c->st.drops[why]++;
	c->pc.drops[why]++;
}

static void note_tx(struct cl *c, uint64_t now, bool data)
{
	c->last_tx_ms = now;
	if (data)
		c->last_data_tx_ms = now;
	if (!c->unanswered_since_ms)
		c->unanswered_since_ms = now;
	if (data && !c->probe_timer.due_ms)
		loop_timer_set(&c->probe_timer, c->unanswered_since_ms + SL_REPLY_TIMEOUT_MS);
}

void cl_on_tun(struct loop_io *io, uint32_t events)
{
	struct cl *c = (struct cl *)((char *)io - offsetof(struct cl, tun_io));
	struct dp_batch *b = c->tx;
	uint64_t now = now_ms();

	/* segments of a super-packet already read are not in the fd any more: finish them before yielding */
	for (int round = 0; round < CL_TUN_BATCHES || c->t.sp_len; round++) {
		struct cl_snap *snap = atomic_load_explicit(&c->cur, memory_order_acquire);
		unsigned n = 0;
		bool empty = false;
		uint64_t t0 = 0;

		while (n < DP_BATCH) {
			uint8_t *slot = b->buf[n];
			ssize_t len = dp_tun_next(&c->t, slot + SLUICE_HDR_LEN, DP_SLOT_LEN - SLUICE_OVERHEAD);
			int dl;

			if (len == -1) {
				empty = true;
				break;
			}
			if (len < 0) {
				c->st.tun_rx_packets++;
				drop(c, SL_DROP_BAD_INNER);
				continue;
			}
			if (!t0)
				t0 = now_ns();
			c->st.tun_rx_packets++;
			c->st.tun_rx_bytes += (uint64_t)len;
			if (!snap || snap->ks.tx_counter >= SL_COUNTER_REKEY) {
				drop(c, SL_DROP_NO_ENDPOINT);
				continue;
			}
			if ((size_t)len > snap->s.mtu) {
				drop(c, SL_DROP_OVERSIZE);
				continue;
			}
			if ((slot[SLUICE_HDR_LEN] >> 4) != 4) {
				drop(c, SL_DROP_BAD_INNER); /* IPv4 tunnel: the kernel's IPv6 chatter stays here */
				continue;
			}
			dl = dgram_seal(&snap->ks.tx, slot, (size_t)len, SL_TYPE_DATA, snap->s.session_id,
					snap->ks.tx_counter++);
			if (dl < 0) {
				drop(c, SL_DROP_QUEUE_OUT);
				continue;
			}
			c->pc.tx_packets++;
			c->pc.tx_bytes += (uint64_t)len;
			b->iov[n].iov_len = (size_t)dl;
			memcpy(&b->addr[n], &c->ep, c->ep_len);
			b->msgs[n].msg_hdr.msg_namelen = c->ep_len;
			n++;
		}
		if (n) {
			note_tx(c, now, true);
			dp_udp_send(&c->u, b, n, &c->st);
			dp_latency_add(&c->st.lat_tun_udp, now_ns() - t0);
		}
		if (empty)
			break;
	}
}

void cl_send_keepalive(struct cl *c, uint64_t now)
{
	struct cl_snap *snap = atomic_load_explicit(&c->cur, memory_order_acquire);
	int dl;

	if (!snap)
		return;
	dl = dgram_seal(&snap->ks.tx, c->ka_buf, 0, SL_TYPE_KEEPALIVE, snap->s.session_id,
			snap->ks.tx_counter++);
	if (dl < 0 || sendto(c->udp_io.fd, c->ka_buf, (size_t)dl, MSG_DONTWAIT, (struct sockaddr *)&c->ep,
			     c->ep_len) < 0) {
		drop(c, SL_DROP_QUEUE_OUT);
		return;
	}
	c->st.udp_tx_datagrams++;
	c->st.udp_tx_bytes += (uint64_t)dl;
	note_tx(c, now, false);
}

/* Packets the kernel refused at a TUN write (one write may carry a coalesced train): queue_in drops. */
static void tun_lost(struct cl *c, unsigned lost)
{
	if (!lost)
		return;
	c->st.drops[SL_DROP_QUEUE_IN] += lost;
	c->pc.drops[SL_DROP_QUEUE_IN] += lost;
	c->st.tun_tx_packets -= lost;
}

static void rx_one(struct cl *c, struct cl_snap *cur, uint8_t *buf, size_t len, uint64_t now)
{
	struct cl_snap *snap = NULL;
	struct sl_hdr h;
	int n;

	c->st.udp_rx_datagrams++;
	c->st.udp_rx_bytes += len;
	if (wire_hdr_decode(buf, len, &h)) {
		drop(c, SL_DROP_BAD_HEADER);
		return;
	}
	if (cur && cur->s.session_id == h.session_id)
		snap = cur;
	else if (c->prev && c->prev->s.session_id == h.session_id && now < c->prev_until_ms)
		snap = c->prev;
	if (!snap) {
		drop(c, SL_DROP_UNKNOWN_SESSION);
		return;
	}
	if (!replay_check(&snap->ks.replay, h.counter)) {
		drop(c, SL_DROP_REPLAY);
		return;
	}
	n = dgram_open(&snap->ks.rx, buf, len, &h);
	if (n < 0) {
		drop(c, SL_DROP_AUTH);
		return;
	}
	if (!replay_update(&snap->ks.replay, h.counter)) {
		drop(c, SL_DROP_REPLAY);
		return;
	}
	c->pc.last_rx_ms = now;
	c->unanswered_since_ms = 0;
	if (h.type != SL_TYPE_DATA)
		return;
	if ((unsigned)n > snap->s.mtu) {
		drop(c, SL_DROP_OVERSIZE);
		return;
	}
	tun_lost(c, dp_tun_put(&c->t, buf + SLUICE_HDR_LEN, (size_t)n));
	c->st.tun_tx_packets++;
	c->st.tun_tx_bytes += (uint64_t)n;
	c->pc.rx_packets++;
	c->pc.rx_bytes += (uint64_t)n;
}

struct rx_ctx {
	struct cl *c;
	struct cl_snap *cur;
	uint64_t now;
};

static void rx_cb(void *arg, uint8_t *buf, size_t len, const struct sockaddr_storage *from, socklen_t from_len)
{
	struct rx_ctx *x = arg;

	rx_one(x->c, x->cur, buf, len, x->now);
}

void cl_on_udp(struct loop_io *io, uint32_t events)
{
	struct cl *c = (struct cl *)((char *)io - offsetof(struct cl, udp_io));
	struct rx_ctx x = {c, atomic_load_explicit(&c->cur, memory_order_acquire), now_ms()};
	uint64_t t0 = now_ns();

	if (dp_udp_recv(&c->u, c->rx, rx_cb, &x) > 0) {
		tun_lost(c, dp_tun_flush(&c->t)); /* the batch's last train */
		dp_latency_add(&c->st.lat_udp_tun, now_ns() - t0);
	}
}
