/* session: peers and sessions of the gateway, their hash tables and their life cycle. */
#include <errno.h>
#include <inttypes.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <openssl/crypto.h>
#include <string.h>
#include "daemon/control/session.h"
#include "daemon/log.h"
#include "daemon/loop.h"

#define REGISTRY_BUCKETS 1024u

static uint32_t key_hash(const uint8_t key[SL_KEY_LEN])
{
	uint32_t h;
	memcpy(&h, key, sizeof(h)); /* keys are uniformly random: their first bytes hash well */
	return h;
}

int registry_init_workers(struct gw_registry *r, unsigned workers)
{
	memset(r, 0, sizeof(*r));
	qsbr_init(&r->q, workers);
	r->n_slots = r->q.n ? r->q.n : 1; /* counted on workers only: no control-thread slot */
	if (h32_init(&r->by_id, REGISTRY_BUCKETS, &r->q) || h32_init(&r->by_addr, REGISTRY_BUCKETS, &r->q) ||
	    h32_init(&r->by_addr6, REGISTRY_BUCKETS, &r->q) ||
	    h32_init(&r->by_key, REGISTRY_BUCKETS, &r->q)) {
		registry_free(r);
		return -ENOMEM;
	}
	return 0;
}

void registry_free(struct gw_registry *r)
{
	while (r->n_peers)
		registry_remove_peer(r, r->peers[r->n_peers - 1]);
	qsbr_drain(&r->q); /* the workers are stopped */
	sn_free(r->subnets);
	free(r->peers);
	h32_free(&r->by_id);
	h32_free(&r->by_addr);
	h32_free(&r->by_addr6);
	h32_free(&r->by_key);
	memset(r, 0, sizeof(*r));
}

struct gw_peer *registry_add_peer(struct gw_registry *r, const struct sl_client_cfg *c)
{
	struct gw_peer *p = calloc(1, sizeof(*p));
	struct gw_peer **peers = realloc(r->peers, (r->n_peers + 1) * sizeof(*peers));

	if (!p || !peers) {
		free(p);
		if (peers)
			r->peers = peers;
		return NULL;
	}
	r->peers = peers;
	snprintf(p->name, sizeof(p->name), "%s", c->name);
	memcpy(p->pubkey, c->pubkey, SL_KEY_LEN);
	peer_set_psk(p, c);
	memcpy(p->subnets, c->subnets, sizeof(p->subnets));
	p->n_subnets = c->n_subnets;
	h32_put(&r->by_key, &p->by_key, key_hash(p->pubkey));
	if (c->has_addr) {
		p->fixed_addr = true;
		peer_set_addr(r, p, c->addr);
	}
	if (c->has_addr6) {
		p->fixed_addr6 = true;
		peer_set_addr6(r, p, &c->addr6);
	}
	r->peers[r->n_peers++] = p;
	return p;
}

void peer_set_psk(struct gw_peer *p, const struct sl_client_cfg *c)
{
	p->has_psk = c->has_psk;
	memcpy(p->psk, c->psk, SL_KEY_LEN);
}

static void table_free(struct qsbr_node *n)
{
	sn_free((struct sn_table *)((char *)n - offsetof(struct sn_table, retire)));
}

/* The table of every peer's Subnets but `except`'s. */
static int publish_subnets(struct gw_registry *r, const struct gw_peer *except)
{
	struct sn_entry *e = NULL;
	struct sn_table *t, *old;
	unsigned n = 0;
	int err = 0;

	for (size_t i = 0; i < r->n_peers; i++)
		if (r->peers[i] != except)
			n += r->peers[i]->n_subnets;
	if (n && !(e = calloc(n, sizeof(*e))))
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; i < r->n_peers; i++) {
		struct gw_peer *p = r->peers[i];
		for (unsigned j = 0; p != except && j < p->n_subnets; j++)
			e[n++] = (struct sn_entry){.p = p->subnets[j], .owner = p};
	}
	t = sn_build(e, n, &err);
	free(e);
	if (err)
		return err;
	old = __atomic_exchange_n(&r->subnets, t, __ATOMIC_ACQ_REL);
	if (old)
		qsbr_retire(&r->q, &old->retire, table_free);
	return 0;
}

int registry_publish_subnets(struct gw_registry *r)
{
	return publish_subnets(r, NULL);
}

static void peer_free(struct qsbr_node *n)
{
	struct gw_peer *p = h32_entry(n, struct gw_peer, retire);

	OPENSSL_cleanse(p->psk, sizeof(p->psk));
	free(p);
}

void registry_remove_peer(struct gw_registry *r, struct gw_peer *p)
{
	if (p->cur)
		session_destroy(r, p->cur);
	if (p->prev)
		session_destroy(r, p->prev);
	if (p->addr.s_addr)
		h32_del(&r->by_addr, &p->by_addr);
	if (p->has_addr6)
		h32_del(&r->by_addr6, &p->by_addr6);
	h32_del(&r->by_key, &p->by_key);
	/* no table may name it once it is retired; should the smaller table fail to build, its entries leave
	 * with every other peer's (nothing is routed to them until the next publish) rather than dangle */
	if (p->n_subnets && publish_subnets(r, p)) {
		struct sn_table *old = __atomic_exchange_n(&r->subnets, NULL, __ATOMIC_ACQ_REL);
		if (old)
			qsbr_retire(&r->q, &old->retire, table_free);
	}
	for (size_t i = r->n_peers; i-- > 0;) { /* from the end: registry_free removes the last, O(1) each */
		if (r->peers[i] == p) {
			r->peers[i] = r->peers[--r->n_peers];
			break;
		}
	}
	qsbr_retire(&r->q, &p->retire, peer_free); /* after its sessions: freed after them */
}

struct gw_peer *peer_by_key(const struct gw_registry *r, const uint8_t key[SL_KEY_LEN])
{
	uint32_t h = key_hash(key);
	unsigned g;

	for (struct h32_node *n = h32_first(&r->by_key, h, &g); n; n = h32_next(n, g)) {
		struct gw_peer *p = h32_entry(n, struct gw_peer, by_key);
		if (n->key == h && !memcmp(p->pubkey, key, SL_KEY_LEN))
			return p;
	}
	return NULL;
}

void peer_set_addr(struct gw_registry *r, struct gw_peer *p, struct in_addr a)
{
	if (p->addr.s_addr)
		h32_del(&r->by_addr, &p->by_addr);
	p->addr = a;
	if (a.s_addr)
		h32_put(&r->by_addr, &p->by_addr, a.s_addr);
}

void peer_set_addr6(struct gw_registry *r, struct gw_peer *p, const struct in6_addr *a)
{
	if (p->has_addr6)
		h32_del(&r->by_addr6, &p->by_addr6);
	p->has_addr6 = a != NULL;
	if (a) {
		p->addr6 = *a;
		h32_put(&r->by_addr6, &p->by_addr6, addr6_key(a->s6_addr));
	}
}

uint32_t session_new_id(const struct gw_registry *r)
{
	uint32_t id;

	do {
		if (RAND_bytes((unsigned char *)&id, sizeof(id)) != 1)
			return 0;
	} while (id == 0 || session_by_id(r, id));
	return id;
}

/* When the reaper must look at s next: the end of its grace as the previous session, else its expiry or its
 * silence, whichever comes first. */
static uint64_t session_due(const struct gw_session *s)
{
	uint64_t expiry = s->expires_ms + SL_SESSION_GRACE_MS, silence = SL_RD(s->last_seen_ms) + SL_SESSION_IDLE_MS;

	if (s->peer->prev == s)
		return s->peer->prev_until_ms;
	return expiry < silence ? expiry : silence;
}

static void wheel_unlink(struct gw_session *s)
{
	if (!s->wheel_pprev)
		return;
	*s->wheel_pprev = s->wheel_next;
	if (s->wheel_next)
		s->wheel_next->wheel_pprev = s->wheel_pprev;
	s->wheel_next = NULL;
	s->wheel_pprev = NULL;
}

/* Into the slot of its next deadline's tick, never one a reap already looked at (that would wait a revolution). */
static void wheel_put(struct gw_registry *r, struct gw_session *s)
{
	uint64_t tick = session_due(s) / SL_WHEEL_TICK_MS;
	struct gw_session **head;

	if (tick <= r->wheel_done)
		tick = r->wheel_done + 1;
	head = &r->wheel[tick % SL_WHEEL_SLOTS];
	wheel_unlink(s);
	s->wheel_next = *head;
	if (*head)
		(*head)->wheel_pprev = &s->wheel_next;
	*head = s;
	s->wheel_pprev = head;
}

struct gw_session *session_create(struct gw_registry *r, struct gw_peer *p, uint32_t id,
				  const uint8_t tx_key[32], const uint8_t rx_key[32], uint64_t lifetime_ms)
{
	struct gw_session *s = calloc(1, sizeof(*s) + (r->n_slots + 1) * sizeof(s->c[0]));
	uint64_t now = now_ms();

	if (!s)
		return NULL;
	s->id = id;
	if (!s->id || keystate_init(&s->ks, tx_key, rx_key)) {
		free(s);
		return NULL;
	}
	atomic_flag_clear(&s->rx_lock);
	s->n_c = r->n_slots;
	s->peer = p;
	s->created_ms = s->last_seen_ms = now;
	s->expires_ms = now + lifetime_ms;
	if (p->cur) {
		/* until the client's first datagram under the new key, send where the old session last heard */
		struct sockaddr_storage ep;
		s->ep_len = session_ep_read(p->cur, &ep);
		memcpy(&s->ep, &ep, s->ep_len);
		s->ep_seen_ms = SL_RD(p->cur->ep_seen_ms);
		if (p->prev)
			session_destroy(r, p->prev);
		p->prev = p->cur;
		p->prev_until_ms = now + SL_SESSION_GRACE_MS;
		wheel_put(r, p->prev); /* its deadline is now the end of its grace */
	}
	h32_put(&r->by_id, &s->by_id, s->id);
	__atomic_store_n(&p->cur, s, __ATOMIC_RELEASE); /* published whole */
	wheel_put(r, s);
	return s;
}

void session_counters(const struct gw_session *s, struct dp_peer_counters *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < s->n_c; i++)
		counters_add(out, &s->c[i]);
}

/* After the grace period: what workers counted between the unlinking and now goes to the peer too. */
static void session_free(struct qsbr_node *n)
{
	struct gw_session *s = h32_entry(n, struct gw_session, retire);
	struct dp_peer_counters now, *then = &s->c[s->n_c];

	if (s->peer) {
		session_counters(s, &now);
		now.rx_bytes -= then->rx_bytes;
		now.rx_packets -= then->rx_packets;
		now.tx_bytes -= then->tx_bytes;
		now.tx_packets -= then->tx_packets;
		for (int i = 0; i < SL_DROP__COUNT; i++)
			now.drops[i] -= then->drops[i];
		counters_add(&s->peer->gone, &now);
	}
	keystate_free(&s->ks);
	free(s);
}

void session_destroy(struct gw_registry *r, struct gw_session *s)
{
	struct gw_peer *p = s->peer;

	session_counters(s, &s->c[s->n_c]);
	counters_add(&p->gone, &s->c[s->n_c]);
	if (p->cur == s)
		__atomic_store_n(&p->cur, NULL, __ATOMIC_RELEASE);
	if (p->prev == s)
		p->prev = NULL;
	wheel_unlink(s);
	h32_del(&r->by_id, &s->by_id);
	qsbr_retire(&r->q, &s->retire, session_free);
}

void session_reject(struct gw_registry *r, struct gw_session *s)
{
	struct gw_peer *p = s->peer;
	struct gw_session *prev = p->prev;

	if (p->cur == s && prev) {
		p->prev = NULL;
		__atomic_store_n(&p->cur, prev, __ATOMIC_RELEASE); /* published whole, as session_create does */
		wheel_put(r, prev); /* current again: its expiry and silence count, not its grace */
	}
	session_destroy(r, s);
}

/* One session whose slot came: destroyed if its deadline passed, else into the slot of its next one. */
static unsigned reap_one(struct gw_registry *r, struct gw_session *s, uint64_t now)
{
	struct gw_peer *p = s->peer;

	if (p->prev == s) {
		if (now < p->prev_until_ms) {
			wheel_put(r, s);
			return 0;
		}
	} else if (p->cur != s) { /* cannot be: a session is its peer's current or previous one until destroyed */
		wheel_unlink(s);
		return 0;
	} else if (now >= s->expires_ms + SL_SESSION_GRACE_MS) {
		log_info("client '%s': session %08x ended: expired", p->name, s->id);
	} else if (ms_since(SL_RD(s->last_seen_ms), now) >= SL_SESSION_IDLE_MS) {
		/* last_seen_ms is a worker's clock: it may be ahead of `now` (ms_since) */
		log_info("client '%s': session %08x ended: silent for %" PRIu64 " ms", p->name, s->id,
			 ms_since(SL_RD(s->last_seen_ms), now));
	} else {
		wheel_put(r, s); /* heard from since: its next deadline */
		return 0;
	}
	session_destroy(r, s);
	return 1;
}

/* The slots of every tick up to now's that no reap looked at yet (all of them once after a long gap): O(the
 * sessions whose deadline came), not O(sessions) — 100,000 idle sessions cost nothing between their deadlines. */
unsigned registry_reap(struct gw_registry *r, uint64_t now)
{
	uint64_t last = now / SL_WHEEL_TICK_MS, t = r->wheel_done + 1;
	unsigned n = 0;

	r->reap_looked = 0;
	if (last < t)
		return 0;
	if (last - t >= SL_WHEEL_SLOTS)
		t = last - SL_WHEEL_SLOTS + 1;
	r->wheel_done = last; /* before: a session put back now goes to a later tick, never to one being looked at */
	for (; t <= last; t++) {
		struct gw_session *list = r->wheel[t % SL_WHEEL_SLOTS], *s;

		r->wheel[t % SL_WHEEL_SLOTS] = NULL;
		if (list)
			list->wheel_pprev = &list;
		while ((s = list)) { /* reap_one takes s off `list`: destroyed or put into another slot */
			r->reap_looked++;
			n += reap_one(r, s, now);
		}
	}
	return n;
}

void peer_counters(const struct gw_peer *p, struct dp_peer_counters *out)
{
	struct dp_peer_counters sc;

	*out = p->gone;
	if (p->cur) {
		session_counters(p->cur, &sc);
		counters_add(out, &sc);
	}
	if (p->prev) {
		session_counters(p->prev, &sc);
		counters_add(out, &sc);
	}
}
