/* cl_path: the client's per-packet path, run by every data worker: each reads its own TUN queue, seals with
 * its own context and sends on the shared UDP socket to the snapshot's server address; worker 0 receives.
 * One snapshot load per batch; nothing here caches a session id, key or address (a failover to another
 * server is a new snapshot). No allocation, lock or log; every drop is counted in the
 * worker's own counters. On the TCP fallback (c->stream set, loaded once per batch) each sealed datagram
 * goes out as one frame on the stream instead of the UDP batch; worker 0 reads the stream as it reads UDP,
 * through the same receive path, and stamps udp_rx_ms only for what came over UDP. */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "daemon/client.h"

#define CL_TUN_BATCHES 4

static inline void drop(struct dp_worker *w, enum sl_drop why)
{
	SL_ADD(w->st.drops[why], 1);
	SL_ADD(w->pc.drops[why], 1);
}

/* Any thread that sent: the keepalive and reply timers read these. */
static void note_tx(struct cl *c, uint64_t now, bool data)
{
	if (SL_RD(c->last_tx_ms) != now)
		SL_WR(c->last_tx_ms, now);
	if (!data)
		return;
	if (SL_RD(c->last_data_tx_ms) != now)
		SL_WR(c->last_data_tx_ms, now);
	if (!SL_RD(c->unanswered_since_ms)) {
		uint64_t zero = 0;
		__atomic_compare_exchange_n(&c->unanswered_since_ms, &zero, now, false, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED);
	}
	/* the reply timer is the control thread's: wake it once, it re-arms itself while data goes unanswered */
	if (!atomic_load_explicit(&c->probe_armed, memory_order_relaxed) &&
	    !atomic_exchange_explicit(&c->probe_armed, true, memory_order_acq_rel))
		eventfd_write(c->probe_io.fd, 1);
}

void cl_on_tun(struct loop_io *io, uint32_t events)
{
	struct dp_worker *w = (struct dp_worker *)((char *)io - offsetof(struct dp_worker, tun_io));
	struct cl *c = w->owner;
	struct dp_batch *b = w->tx;
	uint64_t now = now_ms();

	/* segments of a super-packet already read are not in the fd any more: finish them before yielding */
	for (int round = 0; round < CL_TUN_BATCHES || w->t.sp_len; round++) {
		struct cl_snap *snap = atomic_load_explicit(&c->cur, memory_order_acquire);
		struct dp_stream *st = atomic_load_explicit(&c->stream, memory_order_acquire);
		unsigned n = 0, framed = 0;
		bool empty = false;
		uint64_t t0 = 0;

		while (n < DP_BATCH) {
			uint8_t *slot = b->buf[n];
			ssize_t len = dp_tun_next(&w->t, slot + SLUICE_HDR_LEN, DP_SLOT_LEN - SLUICE_OVERHEAD);
			unsigned v;
			int dl;

			if (len == -1) {
				empty = true;
				break;
			}
			if (len == -3) { /* the link is gone (deleted under us): nothing more will come */
				dp_worker_fatal(w, "TUN read", errno);
				return;
			}
			if (len < 0) {
				SL_ADD(w->st.tun_rx_packets, 1);
				drop(w, SL_DROP_BAD_INNER);
				continue;
			}
			if (!t0)
				t0 = now_ns();
			SL_ADD(w->st.tun_rx_packets, 1);
			SL_ADD(w->st.tun_rx_bytes, (uint64_t)len);
			if (!snap || keystate_sent(&snap->ks) >= SL_COUNTER_REKEY) {
				drop(w, SL_DROP_NO_ENDPOINT);
				continue;
			}
			v = dp_ip_version(slot + SLUICE_HDR_LEN, (size_t)len);
			if (v == 6 && !snap->s.has_v6) {
				/* ::/0 is routed here also when the gateway offers no IPv6 (DESIGN 9): no leak */
				drop(w, SL_DROP_NO_IPV6);
				continue;
			}
			if (v == 4 && snap->s.no_v4) {
				/* the same for IPv4 when the gateway is IPv6-only: 0.0.0.0/0 ends here, never leaks */
				drop(w, SL_DROP_NO_IPV4);
				continue;
			}
			if (v != 4 && v != 6) {
				drop(w, SL_DROP_BAD_INNER);
				continue;
			}
			if ((size_t)len > snap->mtu) { /* the effective MTU: what the path to the gateway carries */
				drop(w, SL_DROP_OVERSIZE);
				if (v == 4)
					dp_answer_too_big(w, slot + SLUICE_HDR_LEN, (size_t)len, snap->mtu,
							  snap->s.gateway.s_addr, now);
				else /* from the gateway's IPv6 tunnel address */
					dp_answer_too_big6(w, slot + SLUICE_HDR_LEN, (size_t)len, snap->mtu,
							   snap->s.gateway6.s6_addr, now);
				continue;
			}
			if (v == 6)
				SL_ADD(w->st.tun_rx_packets6, 1);
			dl = dgram_seal(keystate_tx(&snap->ks), slot, (size_t)len, SL_TYPE_DATA, snap->s.session_id,
					keystate_next(&snap->ks));
			if (dl < 0) {
				drop(w, SL_DROP_QUEUE_OUT);
				continue;
			}
			if (st) { /* TCP fallback: one frame, outside the UDP batch */
				if (dp_stream_send(st, slot, (size_t)dl)) {
					drop(w, SL_DROP_QUEUE_OUT);
					continue;
				}
				SL_ADD(w->st.tcp_tx_datagrams, 1);
				SL_ADD(w->pc.tx_packets, 1);
				SL_ADD(w->pc.tx_bytes, (uint64_t)len);
				framed++;
				continue;
			}
			SL_ADD(w->pc.tx_packets, 1);
			SL_ADD(w->pc.tx_bytes, (uint64_t)len);
			b->iov[n].iov_len = (size_t)dl;
			memcpy(&b->addr[n], &snap->ep, snap->ep_len);
			b->msgs[n].msg_hdr.msg_namelen = snap->ep_len;
			n++;
		}
		if (n || framed) {
			note_tx(c, now, true);
			if (n)
				dp_udp_send(&w->u, b, n, &w->st);
			dp_latency_add(&w->st.lat_tun_udp, now_ns() - t0);
		}
		if (empty)
			break;
	}
}

void cl_send_keepalive(struct cl *c, uint64_t now, bool udp)
{
	struct cl_snap *snap = atomic_load_explicit(&c->cur, memory_order_acquire);
	struct dp_stream *st = udp ? NULL : atomic_load_explicit(&c->stream, memory_order_acquire);
	struct dp_worker *w = &c->w[c->n_w]; /* the control thread's slot */
	int dl;

	if (!snap)
		return;
	dl = dgram_seal(keystate_tx(&snap->ks), w->ka_buf, 0, SL_TYPE_KEEPALIVE, snap->s.session_id,
			keystate_next(&snap->ks));
	if (st) {
		if (dl < 0 || dp_stream_send(st, w->ka_buf, (size_t)dl)) {
			drop(w, SL_DROP_QUEUE_OUT);
			return;
		}
		SL_ADD(w->st.tcp_tx_datagrams, 1);
		note_tx(c, now, false);
		return;
	}
	if (dl < 0 || sendto(c->udp_fd, w->ka_buf, (size_t)dl, MSG_DONTWAIT, (struct sockaddr *)&snap->ep,
			     snap->ep_len) < 0) {
		drop(w, SL_DROP_QUEUE_OUT);
		return;
	}
	SL_ADD(w->st.udp_tx_datagrams, 1);
	SL_ADD(w->st.udp_tx_bytes, (uint64_t)dl);
	note_tx(c, now, false);
}

uint64_t cl_last_rx_ms(const struct cl *c)
{
	uint64_t last = 0;

	for (unsigned i = 0; i <= c->n_w; i++) {
		uint64_t t = SL_RD(c->w[i].pc.last_rx_ms);
		if (t > last)
			last = t;
	}
	return last;
}

/* Packets the kernel refused at a TUN write (one write may carry a coalesced train): queue_in drops. */
static void tun_lost(struct dp_worker *w, unsigned lost)
{
	if (!lost)
		return;
	SL_ADD(w->st.drops[SL_DROP_QUEUE_IN], lost);
	SL_ADD(w->pc.drops[SL_DROP_QUEUE_IN], lost);
	SL_SUB(w->st.tun_tx_packets, lost);
}

static void rx_one(struct dp_worker *w, struct cl_snap *cur, uint8_t *buf, size_t len, uint64_t now, bool tcp)
{
	struct cl *c = w->owner;
	struct cl_snap *snap = NULL, *prev;
	struct sl_hdr h;
	int n;

	if (tcp) {
		SL_ADD(w->st.tcp_rx_datagrams, 1);
	} else {
		SL_ADD(w->st.udp_rx_datagrams, 1);
		SL_ADD(w->st.udp_rx_bytes, len);
	}
	if (wire_hdr_decode(buf, len, &h)) {
		drop(w, SL_DROP_BAD_HEADER);
		return;
	}
	if (cur && cur->s.session_id == h.session_id) {
		snap = cur;
	} else {
		prev = atomic_load_explicit(&c->prev, memory_order_acquire);
		if (prev && prev->s.session_id == h.session_id && now < SL_RD(c->prev_until_ms))
			snap = prev;
	}
	if (!snap) {
		drop(w, SL_DROP_UNKNOWN_SESSION);
		return;
	}
	/* only worker 0 receives: the replay window and the opening context have one user */
	if (!replay_check(&snap->ks.replay, h.counter)) {
		drop(w, SL_DROP_REPLAY);
		return;
	}
	n = dgram_open(keystate_rx(&snap->ks), buf, len, &h);
	if (n < 0) {
		drop(w, SL_DROP_AUTH);
		return;
	}
	if (!replay_update(&snap->ks.replay, h.counter)) {
		drop(w, SL_DROP_REPLAY);
		return;
	}
	SL_WR(w->pc.last_rx_ms, now);
	if (!tcp && SL_RD(c->udp_rx_ms) != now)
		SL_WR(c->udp_rx_ms, now); /* UDP gets through (the fallback moves back) */
	if (SL_RD(c->unanswered_since_ms))
		SL_WR(c->unanswered_since_ms, 0);
	if (h.type != SL_TYPE_DATA)
		return;
	if ((unsigned)n > snap->s.mtu) { /* the gateway's own MTU: it never sends more */
		drop(w, SL_DROP_OVERSIZE);
		return;
	}
	tun_lost(w, dp_tun_put(&w->t, buf + SLUICE_HDR_LEN, (size_t)n));
	SL_ADD(w->st.tun_tx_packets, 1);
	SL_ADD(w->st.tun_tx_bytes, (uint64_t)n);
	if (dp_ip_version(buf + SLUICE_HDR_LEN, (size_t)n) == 6)
		SL_ADD(w->st.tun_tx_packets6, 1);
	SL_ADD(w->pc.rx_packets, 1);
	SL_ADD(w->pc.rx_bytes, (uint64_t)n);
}

struct rx_ctx {
	struct dp_worker *w;
	struct cl_snap *cur;
	uint64_t now;
	bool tcp;
};

static void rx_cb(void *arg, uint8_t *buf, size_t len, const struct sockaddr_storage *from, socklen_t from_len)
{
	struct rx_ctx *x = arg;

	rx_one(x->w, x->cur, buf, len, x->now, x->tcp);
}

void cl_on_udp(struct loop_io *io, uint32_t events)
{
	struct dp_worker *w = (struct dp_worker *)((char *)io - offsetof(struct dp_worker, udp_io));
	struct cl *c = w->owner;
	struct rx_ctx x = {w, atomic_load_explicit(&c->cur, memory_order_acquire), now_ms(), false};
	uint64_t t0 = now_ns();

	if (dp_udp_drain(&w->u, w->rx, rx_cb, &x, DP_RX_ROUNDS) > 0) {
		tun_lost(w, dp_tun_flush(&w->t)); /* the wake-up's last train */
		dp_latency_add(&w->st.lat_udp_tun, now_ns() - t0);
	}
}

/* The TCP fallback stream, in worker 0 (the receive side's one user, as for UDP). */
void cl_on_stream(struct loop_io *io, uint32_t events)
{
	struct dp_stream *st = (struct dp_stream *)((char *)io - offsetof(struct dp_stream, io));
	struct cl *c = st->owner;
	struct dp_worker *w = &c->w[0];
	struct rx_ctx x = {w, atomic_load_explicit(&c->cur, memory_order_acquire), now_ms(), true};
	uint64_t t0 = now_ns();
	int n = dp_stream_service(st, events, rx_cb, &x); /* -1: ended, the control thread reaps it */

	if (n != 0)
		tun_lost(w, dp_tun_flush(&w->t));
	if (n > 0)
		dp_latency_add(&w->st.lat_udp_tun, now_ns() - t0);
}
