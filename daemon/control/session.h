/* session: the gateway's registry of clients (peers) and their sessions — the data model both planes share.
 *
 *   peer     one per [Client] of the config: name, pinned public key, stable tunnel address,
 *            current session (TX uses it) and the previous one (kept SL_SESSION_GRACE_MS after a re-auth so
 *            datagrams in flight still decrypt).
 *   session  one authenticated key pair: id (random, unique), keystate, endpoint (roaming), expiry, counters.
 *
 * Lookups are O(1): sessions by id (receive path), peers by tunnel address (transmit path), peers by public
 * key (handshake). Only the control thread creates, replaces and frees; the data workers look up and count,
 * concurrently and without a lock (common/hash32.h): what the control thread unlinks is freed only after a
 * grace period (dataplane/qsbr.h). Per worker: its own counters in each session, and its own cache of cipher
 * contexts (keystate.h: a session holds only its keys). Shared between workers, per session: the transmit
 * counter (one atomic add), the receive side (replay window) under a per-session lock that only contends if a
 * client's datagrams reach two workers at once (the kernel steers one address:port to one socket), and the
 * endpoint under a sequence lock. */
#pragma once
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include "daemon/common/hash32.h"
#include "daemon/config.h"
#include "daemon/dataplane/keystate.h"
#include "daemon/dataplane/qsbr.h"
#include "daemon/dataplane/subnets.h"

#if defined(__x86_64__) || defined(__i386__)
#define sl_cpu_relax() __builtin_ia32_pause()
#else
#define sl_cpu_relax() __asm__ __volatile__("" ::: "memory")
#endif

#define SL_SESSION_GRACE_MS 30000u   /* previous session kept after a re-auth */
#define SL_ENDPOINT_FRESH_MS 60000u  /* the server only sends to an endpoint seen this recently */
#define SL_SESSION_IDLE_MS 180000u   /* a session silent this long (no datagram, no ping) is reaped */
/* The reaper's timing wheel: a session waits in the slot of the SL_WHEEL_TICK_MS interval holding its next
 * deadline (expiry, silence, end of grace), so a reap looks only at the sessions whose deadline came; one
 * revolution is SL_WHEEL_SLOTS ticks (a deadline further away is looked at once per revolution). */
#define SL_WHEEL_TICK_MS 5000u
#define SL_WHEEL_SLOTS 64u

struct gw_peer;
struct dp_stream;

/* A session's endpoint: an IPv4 or IPv6 UDP address (28 bytes, where a sockaddr_storage takes 128). */
union sl_ep {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

struct gw_session {
	struct h32_node by_id;
	struct qsbr_node retire;
	struct gw_peer *peer;
	uint32_t id;
	atomic_flag rx_lock; /* the receive side: replay window, endpoint writes */
	uint32_t ep_seq;     /* endpoint sequence lock: odd while it is rewritten */
	struct keystate ks;
	uint64_t created_ms, expires_ms;
	uint64_t last_seen_ms; /* authenticated datagram or ping */
	union sl_ep ep;
	socklen_t ep_len;
	uint64_t ep_seen_ms; /* 0: no endpoint yet */
	uint64_t last_tx_ms; /* last datagram we sent under this session */
	struct dp_stream *stream; /* TCP fallback: data goes here while set (control thread writes, workers read) */
	bool confirmed;      /* control thread: its client's key confirmation (CONFIRM) checked out (control/psk.h) */
	unsigned n_c;        /* counter slots: one per worker */
	struct gw_session *wheel_next, **wheel_pprev; /* the reaper's wheel slot (control thread only) */
	struct dp_peer_counters c[]; /* n_c + 1: one per worker; the last is what went to the peer at unlinking */
};

struct gw_peer {
	struct h32_node by_addr;
	struct qsbr_node retire;
	struct h32_node by_key;
	char name[SL_NAME_MAX];
	uint8_t pubkey[SL_KEY_LEN];
	struct in_addr addr; /* s_addr 0: not assigned yet */
	bool fixed_addr;
	struct h32_node by_addr6;
	bool has_addr6;        /* addr6 assigned (a gateway with an IPv6 pool) */
	bool fixed_addr6;
	struct in6_addr addr6;
	bool listed; /* control thread, during a reload: in the new client list */
	bool has_psk; /* PresharedKeyFile = of its [Client] (control/psk.h); a reload may change it */
	uint8_t psk[SL_KEY_LEN];
	bool repush; /* control thread: what it would receive changed (SIGHUP): its next PING gets EXPIRED, so it
		      * re-authenticates for the new snapshot (DESIGN 10.9) */
	struct sl_prefix subnets[SL_MAX_SUBNETS]; /* [Client] Subnets = (control thread; workers use r->subnets) */
	unsigned n_subnets;
	struct gw_session *cur, *prev;
	uint64_t prev_until_ms;
	uint64_t last_handshake_wall; /* seconds since the epoch, 0: never */
	uint64_t handshakes;
	uint64_t transport_switches; /* its data moved UDP -> TCP or back (control thread) */
	struct dp_peer_counters gone; /* counters of sessions already freed, so totals survive rekeys */
};

struct gw_registry {
	struct h32 by_id;
	struct h32 by_addr;
	struct h32 by_addr6; /* keyed by the last 32 bits: pool addresses differ only there (config.h) */
	struct h32 by_key;
	struct gw_peer **peers;
	size_t n_peers;
	struct sn_table *subnets; /* every peer's Subnets, longest first: workers load it with registry_subnets() */
	unsigned n_slots; /* counter slots per session: one per worker */
	struct qsbr q;    /* sessions and peers unlinked, waiting for the workers to let go */
	struct gw_session *wheel[SL_WHEEL_SLOTS]; /* the reaper's: every session, by its next deadline */
	uint64_t wheel_done;                      /* the last tick (ms / SL_WHEEL_TICK_MS) a reap looked at */
	unsigned reap_looked;                     /* sessions the last reap looked at (the tests read it) */
};

/* A registry for `workers` data workers (0: used from one thread only, as the unit tests do). */
int registry_init_workers(struct gw_registry *r, unsigned workers);
static inline int registry_init(struct gw_registry *r)
{
	return registry_init_workers(r, 0);
}
void registry_free(struct gw_registry *r);

/* Rebuilds and publishes the subnets table from every peer's Subnets; the old table is freed once no worker
 * can hold it. Control thread, after peers were added or their Subnets changed (a removed peer's entries go
 * in registry_remove_peer, before the peer itself is retired). 0 or -ENOMEM (the old table stays). */
int registry_publish_subnets(struct gw_registry *r);
static inline const struct sn_table *registry_subnets(const struct gw_registry *r)
{
	return __atomic_load_n(&r->subnets, __ATOMIC_ACQUIRE);
}
/* The peer whose Subnets hold addr (an in_addr / in6_addr of family), or NULL: any thread. */
static inline struct gw_peer *peer_by_subnet(const struct gw_registry *r, int family, const void *addr)
{
	return sn_lookup(registry_subnets(r), family, addr);
}

/* Adds a peer for a [Client] (address assigned later). -ENOMEM. */
struct gw_peer *registry_add_peer(struct gw_registry *r, const struct sl_client_cfg *c);
/* Removes a peer with its sessions. */
void registry_remove_peer(struct gw_registry *r, struct gw_peer *p);
struct gw_peer *peer_by_key(const struct gw_registry *r, const uint8_t key[SL_KEY_LEN]);
/* The peer's pre-shared key from its [Client] (at start and at every reload: new sessions use it). */
void peer_set_psk(struct gw_peer *p, const struct sl_client_cfg *c);
void peer_set_addr(struct gw_registry *r, struct gw_peer *p, struct in_addr a);
/* The peer's IPv6 address (a NULL: none). */
void peer_set_addr6(struct gw_registry *r, struct gw_peer *p, const struct in6_addr *a);

static inline uint32_t addr6_key(const uint8_t a[16])
{
	uint32_t k;
	__builtin_memcpy(&k, a + 12, sizeof(k));
	return k;
}

/* The peer of an IPv6 tunnel address (16 bytes, as in a packet header), or NULL. */
static inline struct gw_peer *peer_by_addr6(const struct gw_registry *r, const uint8_t a[16])
{
	struct h32_node *n = h32_get(&r->by_addr6, addr6_key(a)); /* unique among the pool's addresses */
	struct gw_peer *p = n ? h32_entry(n, struct gw_peer, by_addr6) : NULL;

	return p && !__builtin_memcmp(p->addr6.s6_addr, a, 16) ? p : NULL;
}

static inline struct gw_peer *peer_by_addr(const struct gw_registry *r, uint32_t addr_be)
{
	struct h32_node *n = h32_get(&r->by_addr, addr_be);
	return n ? h32_entry(n, struct gw_peer, by_addr) : NULL;
}

static inline struct gw_session *session_by_id(const struct gw_registry *r, uint32_t id)
{
	struct h32_node *n = h32_get(&r->by_id, id);
	return n ? h32_entry(n, struct gw_session, by_id) : NULL;
}

/* The peer's current session, as a worker reads it. */
static inline struct gw_session *peer_cur(const struct gw_peer *p)
{
	return __atomic_load_n(&p->cur, __ATOMIC_ACQUIRE);
}

/* The session's TCP fallback stream, or NULL: its data goes over UDP. */
static inline struct dp_stream *session_stream(const struct gw_session *s)
{
	return __atomic_load_n(&s->stream, __ATOMIC_ACQUIRE);
}

/* The endpoint into *a (a worker, any time): a sequence-lock read. Returns its length. */
static inline socklen_t session_ep_read(const struct gw_session *s, struct sockaddr_storage *a)
{
	uint32_t seq;
	socklen_t len;

	do {
		seq = __atomic_load_n(&s->ep_seq, __ATOMIC_ACQUIRE);
		len = SL_RD(s->ep_len);
		if (len > sizeof(s->ep))
			len = sizeof(s->ep);
		__builtin_memcpy(a, &s->ep, len);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while ((seq & 1) || __atomic_load_n(&s->ep_seq, __ATOMIC_RELAXED) != seq);
	return len;
}

/* A new endpoint (roaming): only under rx_lock, so there is one writer. An address of neither family (longer
 * than union sl_ep) is not taken. */
static inline void session_ep_write(struct gw_session *s, const struct sockaddr_storage *a, socklen_t len)
{
	if (len > sizeof(s->ep))
		return;
	__atomic_store_n(&s->ep_seq, s->ep_seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__builtin_memcpy(&s->ep, a, len);
	SL_WR(s->ep_len, len);
	__atomic_store_n(&s->ep_seq, s->ep_seq + 1, __ATOMIC_RELEASE);
}

static inline void session_rx_lock(struct gw_session *s)
{
	while (atomic_flag_test_and_set_explicit(&s->rx_lock, memory_order_acquire))
		sl_cpu_relax();
}

static inline void session_rx_unlock(struct gw_session *s)
{
	atomic_flag_clear_explicit(&s->rx_lock, memory_order_release);
}

/* Creates a new session for p with id (from session_new_id) and the keys; it becomes p->cur, the old current
 * one becomes p->prev (endpoint carried over) and any older one is freed. Returns NULL on failure. */
struct gw_session *session_create(struct gw_registry *r, struct gw_peer *p, uint32_t id,
				  const uint8_t tx_key[32], const uint8_t rx_key[32], uint64_t lifetime_ms);
/* A fresh random session id not in use (never 0). */
uint32_t session_new_id(const struct gw_registry *r);
/* Unlinks one session from its peer and the id table; it is freed when no worker can hold it. */
void session_destroy(struct gw_registry *r, struct gw_session *s);
/* A session that failed its key confirmation (control/psk.h): destroyed, and the peer's previous session, if
 * any, is its current one again (a failed rekey leaves the working session as it was). */
void session_reject(struct gw_registry *r, struct gw_session *s);
/* Drops previous sessions past their grace period and sessions expired or silent for SL_SESSION_IDLE_MS.
 * Called from a periodic timer: O(peers) per call, never per packet. Returns how many were freed. */
unsigned registry_reap(struct gw_registry *r, uint64_t now);
/* Sum of a peer's counters: freed sessions + live ones. */
void peer_counters(const struct gw_peer *p, struct dp_peer_counters *out);
/* Sum of one session's counter slots. */
void session_counters(const struct gw_session *s, struct dp_peer_counters *out);
