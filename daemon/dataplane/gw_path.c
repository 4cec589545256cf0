/* gw_path: the gateway's per-packet path, run by every data worker on its own TUN queue and UDP socket.
 *   TUN -> (inner dst, IPv4 or IPv6 by the version nibble -> peer by its address, else by its Subnets ->
 *   current session, fresh endpoint, MTU: above it "fragmentation needed" / "packet too big" back into the
 *   TUN, dataplane/icmp.h) -> seal -> sendmmsg
 *   recvmmsg -> header -> session by id -> replay window -> open -> mark seen -> inner source is the
 *   session's address of that family or in its peer's Subnets (anti-spoofing for both families) -> roam
 *   endpoint -> (ClientToClient = off: inner dst is no other client's address or Subnets) -> TUN write
 * The Subnets lookups scan a small immutable table (dataplane/subnets.h), and only for an address that is no
 * client's own.
 * A session with a TCP fallback stream (dataplane/stream.h) sends its datagrams there instead of UDP, one
 * frame per datagram; the worker that reads that stream runs the same receive path on its frames (no
 * endpoint: a stream is not a UDP address to roam to). A keepalive is answered the way it came, so a client
 * on TCP that probes UDP learns when UDP works again.
 * Answers on UDP: a KEEPALIVE's answer leaves in the wake-up that read it, all of that wake-up's in one sendmmsg;
 * what the kernel answered at once to the wake-up's TUN writes (an echo) is read and sent before the wake-up
 * ends; a passive keepalive (to a client we were silent to) is decided SL_PASSIVE_DEFER_MS later, and only
 * if nothing else reached the client meanwhile (ka_owe).
 * No allocation or log here; every drop is counted under its cause, in the worker's own counters. The only
 * shared writes: a session's transmit counter (one atomic add per datagram) and its receive side, under a
 * per-session lock that is uncontended while the kernel keeps a client's address:port on one socket. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "daemon/gateway.h"

#define GW_TUN_BATCHES 4 /* batches per wake-up before yielding to the other fds */

static inline void drop(struct dp_worker *w, struct gw_session *s, enum sl_drop why)
{
	SL_ADD(w->st.drops[why], 1);
	if (s)
		SL_ADD(s->c[w->idx].drops[why], 1);
}

static bool endpoint_fresh(const struct gw_session *s, uint64_t now)
{
	uint64_t seen = SL_RD(s->ep_seen_ms);
	return seen && ms_since(seen, now) <= SL_ENDPOINT_FRESH_MS; /* another worker's `now` may be ahead */
}

void gw_on_tun(struct loop_io *io, uint32_t events)
{
	struct dp_worker *w = (struct dp_worker *)((char *)io - offsetof(struct dp_worker, tun_io));
	struct gw *g = w->owner;
	struct dp_batch *b = w->tx;
	const unsigned mtu = g->cfg->mtu;
	uint64_t now = now_ms();

	/* segments of a super-packet already read are not in the fd any more: finish them before yielding */
	for (int round = 0; round < GW_TUN_BATCHES || w->t.sp_len; round++) {
		unsigned n = 0;
		bool empty = false;
		uint64_t t0 = 0;

		while (n < DP_BATCH) {
			uint8_t *slot = b->buf[n];
			ssize_t len = dp_tun_next(&w->t, slot + SLUICE_HDR_LEN, DP_SLOT_LEN - SLUICE_OVERHEAD);
			uint32_t dst = 0;
			const uint8_t *dst6 = NULL;
			struct gw_peer *p;
			struct gw_session *s;
			struct dp_stream *st;
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
				drop(w, NULL, SL_DROP_BAD_INNER);
				continue;
			}
			if (!t0)
				t0 = now_ns();
			SL_ADD(w->st.tun_rx_packets, 1);
			SL_ADD(w->st.tun_rx_bytes, (uint64_t)len);
			if (dp_ip_version(slot + SLUICE_HDR_LEN, (size_t)len) == 6) {
				dst6 = dp_ipv6_dst(slot + SLUICE_HDR_LEN, (size_t)len);
				if (!dst6) {
					drop(w, NULL, SL_DROP_BAD_INNER);
					continue;
				}
				SL_ADD(w->st.tun_rx_packets6, 1);
				p = peer_by_addr6(&g->reg, dst6);
				if (!p)
					p = peer_by_subnet(&g->reg, AF_INET6, dst6);
			} else {
				if (dp_ipv4_dst(slot + SLUICE_HDR_LEN, (size_t)len, &dst)) {
					drop(w, NULL, SL_DROP_BAD_INNER);
					continue;
				}
				p = peer_by_addr(&g->reg, dst);
				if (!p)
					p = peer_by_subnet(&g->reg, AF_INET, &dst);
			}
			s = p ? peer_cur(p) : NULL;
			st = s ? session_stream(s) : NULL;
			if (!s || (!st && !endpoint_fresh(s, now))) {
				drop(w, s, SL_DROP_NO_ENDPOINT);
				continue;
			}
			if ((size_t)len > mtu) {
				/* from the client's side of the tunnel: not an address of ours (a martian here) */
				drop(w, s, SL_DROP_OVERSIZE);
				if (dst6) /* from the client's side, as for IPv4 */
					dp_answer_too_big6(w, slot + SLUICE_HDR_LEN, (size_t)len, mtu, dst6, now);
				else
					dp_answer_too_big(w, slot + SLUICE_HDR_LEN, (size_t)len, mtu, dst, now);
				continue;
			}
			dl = dgram_seal(keystate_tx(&s->ks), slot, (size_t)len, SL_TYPE_DATA, s->id,
					keystate_next(&s->ks));
			if (dl < 0) {
				drop(w, s, SL_DROP_QUEUE_OUT);
				continue;
			}
			if (st) { /* TCP fallback: one frame now, outside the UDP batch */
				if (dp_stream_send(st, slot, (size_t)dl)) {
					drop(w, s, SL_DROP_QUEUE_OUT);
					continue;
				}
				SL_ADD(w->st.tcp_tx_datagrams, 1);
			}
			SL_ADD(s->c[w->idx].tx_packets, 1);
			SL_ADD(s->c[w->idx].tx_bytes, (uint64_t)len);
			if (SL_RD(s->last_tx_ms) != now)
				SL_WR(s->last_tx_ms, now);
			if (st)
				continue;
			b->iov[n].iov_len = (size_t)dl;
			b->msgs[n].msg_hdr.msg_namelen = session_ep_read(s, &b->addr[n]);
			n++;
		}
		if (n) {
			dp_udp_send(&w->u, b, n, &w->st);
			dp_latency_add(&w->st.lat_tun_udp, now_ns() - t0);
		}
		if (empty)
			break;
	}
}

void gw_send_keepalive(struct dp_worker *w, struct gw_session *s, uint64_t now, struct dp_stream *via)
{
	struct sockaddr_storage ep;
	socklen_t ep_len;
	int dl = dgram_seal(keystate_tx(&s->ks), w->ka_buf, 0, SL_TYPE_KEEPALIVE, s->id,
			    keystate_next(&s->ks));

	if (via) {
		if (dl < 0 || dp_stream_send(via, w->ka_buf, (size_t)dl)) {
			SL_ADD(w->st.drops[SL_DROP_QUEUE_OUT], 1);
			return;
		}
		SL_ADD(w->st.tcp_tx_datagrams, 1);
		SL_WR(s->last_tx_ms, now);
		return;
	}
	ep_len = session_ep_read(s, &ep);
	if (dl < 0 || sendto(w->udp_io.fd, w->ka_buf, (size_t)dl, MSG_DONTWAIT, (struct sockaddr *)&ep, ep_len) < 0) {
		SL_ADD(w->st.drops[SL_DROP_QUEUE_OUT], 1);
		return;
	}
	SL_ADD(w->st.udp_tx_datagrams, 1);
	SL_ADD(w->st.udp_tx_bytes, (uint64_t)dl);
	SL_WR(s->last_tx_ms, now);
}

/* The keepalives of one UDP wake-up go out together: sealed into the worker's transmit batch (free while
 * the UDP side runs: the TUN side uses it only in its own handler) and sent in one sendmmsg when the wake-up
 * ends or the batch is full, instead of one sendto each. An answer to a KEEPALIVE still leaves in the wake-up
 * that read it: a few microseconds later, never after a wait. */
static void ka_flush(struct dp_worker *w)
{
	if (w->n_ka)
		dp_udp_send(&w->u, w->tx, w->n_ka, &w->st);
	w->n_ka = 0;
}

static void ka_queue(struct dp_worker *w, struct gw_session *s, uint64_t now)
{
	struct dp_batch *b = w->tx;
	int dl;

	if (w->n_ka == DP_BATCH)
		ka_flush(w);
	dl = dgram_seal(keystate_tx(&s->ks), b->buf[w->n_ka], 0, SL_TYPE_KEEPALIVE, s->id, keystate_next(&s->ks));
	if (dl < 0) {
		SL_ADD(w->st.drops[SL_DROP_QUEUE_OUT], 1);
		return;
	}
	b->iov[w->n_ka].iov_len = (size_t)dl;
	b->msgs[w->n_ka].msg_hdr.msg_namelen = session_ep_read(s, &b->addr[w->n_ka]);
	w->n_ka++;
	SL_WR(s->last_tx_ms, now); /* a send the kernel then refuses is counted as a queue_out drop */
}

/* A session that sent us something while we were silent is owed a keepalive (SL_PASSIVE_KEEPALIVE_MS), so
 * that it does not start probing us — unless an answer reaches it anyway, which an echo's reply usually does a
 * few microseconds later: from this wake-up (the kernel queued it on our TUN queue during the write, see
 * gw_on_udp), or from another worker (a flow the TUN has not seen for 3 s gets its first reply on the queue
 * of its hash; the TUN learns the flow's queue only after the write). So the decision waits
 * SL_PASSIVE_DEFER_MS: the session's id goes on the worker's list of owed ones, its epoll_wait returns by the
 * time the oldest is due, and gw_on_due sends a keepalive to those still unanswered. An echo costs one datagram
 * back, not a keepalive and then the reply; a keepalive that is owed leaves SL_PASSIVE_DEFER_MS to 1.5 times
 * that late, and the list costs a worker at most one wake-up of its own per half of it. A session is on a
 * worker's list once (its mark in the session's counter slot of that worker: a one-way sender's stream of
 * datagrams is one entry, not one per datagram). The list is bounded: when full, its oldest entry is decided
 * now. */
static void owed_decide(struct dp_worker *w, const struct dp_owed *o, uint64_t now)
{
	struct gw *g = w->owner;
	struct gw_session *s = session_by_id(&g->reg, o->id); /* gone meanwhile: nobody to answer */

	if (!s)
		return;
	s->c[w->idx].owed_ms = 0;
	/* still nothing sent since the second before it spoke (the stamps of two workers may differ by a ms); not
	 * to a session a re-authentication replaced meanwhile (its client is answered under the new one) */
	if (!session_stream(s) && ms_since(SL_RD(s->last_tx_ms), o->ms) >= SL_PASSIVE_KEEPALIVE_MS &&
	    peer_cur(s->peer) == s)
		ka_queue(w, s, now);
}

static void ka_owe(struct dp_worker *w, struct gw_session *s, uint64_t now)
{
	if (s->c[w->idx].owed_ms) /* already on this worker's list */
		return;
	if (w->owed_n == DP_OWED_MAX) {
		owed_decide(w, &w->owed[w->owed_head], now);
		w->owed_head = (w->owed_head + 1) % DP_OWED_MAX;
		w->owed_n--;
	}
	w->owed[(w->owed_head + w->owed_n) % DP_OWED_MAX] = (struct dp_owed){.id = s->id, .ms = now};
	w->owed_n++;
	s->c[w->idx].owed_ms = now;
	if (!w->due_ms) {
		w->due_ms = now + SL_PASSIVE_DEFER_MS;
		w->on_due = gw_on_due; /* what the worker's loop calls then */
	}
}

void gw_on_due(struct dp_worker *w, uint64_t now)
{
	w->n_ka = 0;
	while (w->owed_n && now >= w->owed[w->owed_head].ms + SL_PASSIVE_DEFER_MS) {
		owed_decide(w, &w->owed[w->owed_head], now);
		w->owed_head = (w->owed_head + 1) % DP_OWED_MAX;
		w->owed_n--;
	}
	/* the next look: when the oldest left is due, but not sooner than half a deferral from now — with data
	 * flowing, the oldest is always due within a few ms, and each such look would be a wake-up of its own */
	w->due_ms = 0;
	if (w->owed_n) {
		w->due_ms = w->owed[w->owed_head].ms + SL_PASSIVE_DEFER_MS;
		if (w->due_ms < now + SL_PASSIVE_DEFER_MS / 2)
			w->due_ms = now + SL_PASSIVE_DEFER_MS / 2;
	}
	ka_flush(w);
}

/* Packets the kernel refused at a TUN write (one write may carry a coalesced train): counted as queue_in
 * drops and taken back out of the written counters. */
static void tun_lost(struct dp_worker *w, struct gw_session *s, unsigned lost)
{
	if (!lost)
		return;
	SL_ADD(w->st.drops[SL_DROP_QUEUE_IN], lost);
	SL_SUB(w->st.tun_tx_packets, lost);
	if (s)
		SL_ADD(s->c[w->idx].drops[SL_DROP_QUEUE_IN], lost);
}

static bool same_endpoint(const struct gw_session *s, const struct sockaddr_storage *a, socklen_t len)
{
	return s->ep_len == len && !memcmp(&s->ep, a, len); /* under rx_lock: the only writer is us */
}

/* The part of a datagram's handling that uses the session's receive side: under its lock. Returns the inner
 * length of an authenticated DATA packet, 0 for an authenticated KEEPALIVE/CONTROL, -1 for a drop. */
static int rx_locked(struct dp_worker *w, struct gw_session *s, uint8_t *buf, size_t len, const struct sl_hdr *h,
		     const struct sockaddr_storage *from, socklen_t from_len, uint64_t now)
{
	const struct gw *g = w->owner;
	uint32_t src;
	const uint8_t *src6;
	int n;

	if (!replay_check(&s->ks.replay, h->counter)) {
		drop(w, s, SL_DROP_REPLAY);
		return -1;
	}
	n = dgram_open(keystate_rx(&s->ks), buf, len, h);
	if (n < 0) {
		drop(w, s, SL_DROP_AUTH);
		return -1;
	}
	if (!replay_update(&s->ks.replay, h->counter)) {
		drop(w, s, SL_DROP_REPLAY);
		return -1;
	}
	if (SL_RD(s->last_seen_ms) != now)
		SL_WR(s->last_seen_ms, now);
	SL_WR(s->c[w->idx].last_rx_ms, now);
	if (h->type == SL_TYPE_DATA) {
		const uint8_t *inner = buf + SLUICE_HDR_LEN;
		if ((unsigned)n > g->cfg->mtu) {
			drop(w, s, SL_DROP_OVERSIZE);
			return -1;
		}
		/* its own address of that family, else one of its Subnets (a scan only for such a source) */
		if (dp_ip_version(inner, (size_t)n) == 6) {
			const struct gw_peer *p = s->peer;
			if (!(src6 = dp_ipv6_src(inner, (size_t)n))) {
				drop(w, s, SL_DROP_BAD_INNER);
				return -1;
			}
			if ((!p->has_addr6 || memcmp(src6, p->addr6.s6_addr, 16)) &&
			    peer_by_subnet(&g->reg, AF_INET6, src6) != p) {
				drop(w, s, SL_DROP_SPOOFED); /* also: IPv6 from a client the gateway gave none */
				return -1;
			}
			SL_ADD(w->st.tun_tx_packets6, 1);
		} else {
			if (dp_ipv4_src(inner, (size_t)n, &src)) {
				drop(w, s, SL_DROP_BAD_INNER);
				return -1;
			}
			/* s_addr 0: the peer has no IPv4 address (an IPv6-only gateway), so no source is its own */
			if ((!s->peer->addr.s_addr || src != s->peer->addr.s_addr) &&
			    peer_by_subnet(&g->reg, AF_INET, &src) != s->peer) {
				drop(w, s, SL_DROP_SPOOFED); /* also: IPv4 from a client the gateway gave none */
				return -1;
			}
		}
	}
	if (!from) /* from a stream: no UDP address to learn */
		return h->type == SL_TYPE_DATA ? n : 0;
	if (!same_endpoint(s, from, from_len))
		session_ep_write(s, from, from_len); /* roaming: only ever after authentication */
	if (SL_RD(s->ep_seen_ms) != now)
		SL_WR(s->ep_seen_ms, now);
	return h->type == SL_TYPE_DATA ? n : 0;
}

/* Is an authenticated inner packet addressed to a client (its tunnel address or its Subnets)? */
static bool to_client(const struct gw *g, const uint8_t *inner, size_t len)
{
	const uint8_t *dst6;
	uint32_t dst;

	if (dp_ip_version(inner, len) == 6) {
		if (!(dst6 = dp_ipv6_dst(inner, len)))
			return false; /* its source was read: the header is whole */
		return peer_by_addr6(&g->reg, dst6) || peer_by_subnet(&g->reg, AF_INET6, dst6);
	}
	if (dp_ipv4_dst(inner, len, &dst))
		return false;
	return peer_by_addr(&g->reg, dst) || peer_by_subnet(&g->reg, AF_INET, &dst);
}

/* One received datagram, in the order of DESIGN §3; via: the stream it came on (NULL: UDP, from `from`). */
static void rx_one(struct dp_worker *w, uint8_t *buf, size_t len, const struct sockaddr_storage *from,
		   socklen_t from_len, uint64_t now, struct dp_stream *via)
{
	struct gw *g = w->owner;
	struct sl_hdr h;
	struct gw_session *s;
	int n;

	if (via) {
		SL_ADD(w->st.tcp_rx_datagrams, 1);
	} else {
		SL_ADD(w->st.udp_rx_datagrams, 1);
		SL_ADD(w->st.udp_rx_bytes, len);
	}
	if (wire_hdr_decode(buf, len, &h)) {
		drop(w, NULL, SL_DROP_BAD_HEADER);
		return;
	}
	/* a stream carries its own session's datagrams only: another session's (captured elsewhere) is never
	 * opened — it would burn that session's replay window and draw its keepalive onto this stream */
	s = via && h.session_id != via->session_id ? NULL : session_by_id(&g->reg, h.session_id);
	if (!s) {
		drop(w, NULL, SL_DROP_UNKNOWN_SESSION);
		return;
	}
	session_rx_lock(s);
	n = rx_locked(w, s, buf, len, &h, from, from_len, now);
	session_rx_unlock(s);
	if (n < 0)
		return;
	if (h.type == SL_TYPE_DATA && !SL_RD(g->cfg->client_to_client) &&
	    to_client(g, buf + SLUICE_HDR_LEN, (size_t)n)) {
		drop(w, s, SL_DROP_CLIENT_TO_CLIENT); /* never reaches the kernel, which would route it back */
		return;
	}
	if (h.type == SL_TYPE_DATA) {
		unsigned lost = dp_tun_put(&w->t, buf + SLUICE_HDR_LEN, (size_t)n);
		SL_ADD(w->st.tun_tx_packets, 1);
		SL_ADD(w->st.tun_tx_bytes, (uint64_t)n);
		SL_ADD(s->c[w->idx].rx_packets, 1);
		SL_ADD(s->c[w->idx].rx_bytes, (uint64_t)n);
		tun_lost(w, s, lost);
	}
	/* the client learns we are alive from any authenticated datagram: a KEEPALIVE is its liveness probe and
	 * is answered at once (DESIGN 10.4); other traffic only if we were silent */
	if (via) {
		if (h.type == SL_TYPE_KEEPALIVE || ms_since(SL_RD(s->last_tx_ms), now) >= SL_PASSIVE_KEEPALIVE_MS)
			gw_send_keepalive(w, s, now, via);
	} else if (h.type == SL_TYPE_KEEPALIVE) {
		ka_queue(w, s, now);
	} else if (ms_since(SL_RD(s->last_tx_ms), now) >= SL_PASSIVE_KEEPALIVE_MS) {
		ka_owe(w, s, now);
	}
}

struct rx_ctx {
	struct dp_worker *w;
	uint64_t now;
	struct dp_stream *via;
};

static void rx_cb(void *arg, uint8_t *buf, size_t len, const struct sockaddr_storage *from, socklen_t from_len)
{
	struct rx_ctx *x = arg;

	rx_one(x->w, buf, len, from, from_len, x->now, x->via);
}

void gw_on_udp(struct loop_io *io, uint32_t events)
{
	struct dp_worker *w = (struct dp_worker *)((char *)io - offsetof(struct dp_worker, udp_io));
	struct rx_ctx x = {w, now_ms(), NULL};
	uint64_t t0 = now_ns(), written = w->st.tun_tx_packets; /* our own counter: a plain read */

	w->n_ka = 0;
	if (dp_udp_drain(&w->u, w->rx, rx_cb, &x, DP_RX_ROUNDS) > 0) {
		tun_lost(w, NULL, dp_tun_flush(&w->t)); /* the wake-up's last train */
		dp_latency_add(&w->st.lat_udp_tun, now_ns() - t0);
	}
	ka_flush(w); /* the answers to KEEPALIVEs: at once, before any reply below */
	/* What the kernel answered to those writes at once (an echo, a TCP ACK from a local service) is on our TUN
	 * queue already: read and sent now rather than after one more epoll_wait. When nothing came back, one
	 * read that finds the queue empty. */
	if (w->st.tun_tx_packets != written && w->t.fd >= 0)
		gw_on_tun(&w->tun_io, EPOLLIN);
}

/* A TCP fallback stream's socket, in the worker that reads it (control/gw_stream.c registered it). */
void gw_on_stream(struct loop_io *io, uint32_t events)
{
	struct dp_stream *st = (struct dp_stream *)((char *)io - offsetof(struct dp_stream, io));
	struct gw *g = st->owner;
	struct dp_worker *w = &g->w[st->worker];
	struct rx_ctx x = {w, now_ms(), st};
	uint64_t t0 = now_ns();
	int n = dp_stream_service(st, events, rx_cb, &x); /* -1: ended, the control thread reaps it */

	if (n != 0)
		tun_lost(w, NULL, dp_tun_flush(&w->t));
	if (n > 0)
		dp_latency_add(&w->st.lat_udp_tun, now_ns() - t0);
}
