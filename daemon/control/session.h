/* session: the gateway's registry of clients (peers) and their sessions — the data model both planes share.
 *
 *   peer     one per [Client] of the config: name, pinned public key, stable tunnel address,
 *            current session (TX uses it) and the previous one (kept SL_SESSION_GRACE_MS after a re-auth so
 *            datagrams in flight still decrypt).
 *   session  one authenticated key pair: id (random, unique), keystate, endpoint (roaming), expiry, counters.
 *
 * Lookups are O(1): sessions by id (receive path), peers by tunnel address (transmit path), peers by public
 * key (handshake). Only the control plane creates, replaces and frees; the data plane looks up and counts. */
#pragma once
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include "daemon/common/hash32.h"
#include "daemon/config.h"
#include "daemon/dataplane/keystate.h"

#define SL_SESSION_GRACE_MS 30000u   /* previous session kept after a re-auth */
#define SL_ENDPOINT_FRESH_MS 60000u  /* the server only sends to an endpoint seen this recently */
#define SL_SESSION_IDLE_MS 180000u   /* a session silent this long (no datagram, no ping) is reaped */

struct gw_peer;

struct gw_session {
	struct h32_node by_id;
	struct gw_peer *peer;
	uint32_t id;
	struct keystate ks;
	uint64_t created_ms, expires_ms;
	uint64_t last_seen_ms; /* authenticated datagram or ping */
	struct sockaddr_storage ep;
	socklen_t ep_len;
	uint64_t ep_seen_ms; /* 0: no endpoint yet */
	uint64_t last_tx_ms; /* last datagram we sent under this session */
	struct dp_peer_counters c;
};

struct gw_peer {
	struct h32_node by_addr;
	struct h32_node by_key;
	char name[SL_NAME_MAX];
	uint8_t pubkey[SL_KEY_LEN];
	struct in_addr addr; /* s_addr 0: not assigned yet */
	bool fixed_addr;
	struct gw_session *cur, *prev;
	uint64_t prev_until_ms;
	uint64_t last_handshake_wall; /* seconds since the epoch, 0: never */
	uint64_t handshakes;
	struct dp_peer_counters gone; /* counters of sessions already freed, so totals survive rekeys */
};

struct gw_registry {
	struct h32 by_id;
	struct h32 by_addr;
	struct h32 by_key;
	struct gw_peer **peers;
	size_t n_peers;
};

int registry_init(struct gw_registry *r);
void registry_free(struct gw_registry *r);

/* Adds a peer for a [Client] (address assigned later). -ENOMEM. */
struct gw_peer *registry_add_peer(struct gw_registry *r, const struct sl_client_cfg *c);
/* Removes a peer with its sessions. */
void registry_remove_peer(struct gw_registry *r, struct gw_peer *p);
struct gw_peer *peer_by_key(const struct gw_registry *r, const uint8_t key[SL_KEY_LEN]);
void peer_set_addr(struct gw_registry *r, struct gw_peer *p, struct in_addr a);

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

/* Creates a new session for p with id (from session_new_id) and the keys; it becomes p->cur, the old current
 * one becomes p->prev (endpoint carried over) and any older one is freed. Returns NULL on failure. */
struct gw_session *session_create(struct gw_registry *r, struct gw_peer *p, uint32_t id,
				  const uint8_t tx_key[32], const uint8_t rx_key[32], uint64_t lifetime_ms);
/* A fresh random session id not in use (never 0). */
uint32_t session_new_id(const struct gw_registry *r);
/* Frees one session (unlinks it from its peer and the id table). */
void session_destroy(struct gw_registry *r, struct gw_session *s);
/* Drops previous sessions past their grace period and sessions expired or silent for SL_SESSION_IDLE_MS.
 * Called from a periodic timer: O(peers) per call, never per packet. Returns how many were freed. */
unsigned registry_reap(struct gw_registry *r, uint64_t now);
/* Sum of a peer's counters: freed sessions + live ones. */
void peer_counters(const struct gw_peer *p, struct dp_peer_counters *out);
