/* fleet_sessions: this gateway's live sessions in its etcd registry (DESIGN §9 "Fleet": clients, leases and
 * live sessions live in etcd), so `sluice registry sessions` shows where each client is connected.
 *
 *   PREFIX/sessions/GWHEX/CLIENTHEX   "name=NAME gateway=HOST/IFACE address=A[ address6=A6] since=UNIXTIME"
 *
 * GWHEX is the gateway's public key (hex), CLIENTHEX the client's. Every key is attached to one etcd lease of
 * the gateway (FLEET_SESSION_TTL_S, kept alive by the registry thread), so a gateway that dies takes its
 * sessions with it within the TTL; a clean stop revokes the lease (they go at once).
 *
 * The control thread never talks to etcd: every FLEET_SESSION_SCAN_MS it compares a fingerprint of its live
 * sessions with the last one and, only when it changed, hands the registry thread the whole set (fleet.h:
 * fleet_offer_sessions; an unread older set is replaced, so bursts coalesce). The registry thread writes the
 * difference to what etcd holds, FLEET_SESSION_BATCH operations per transaction. */
#pragma once
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "daemon/config.h"
#include "daemon/registry/etcd_client.h"

#define FLEET_SESSION_TTL_S 6        /* a dead gateway's sessions vanish from etcd within this */
#define FLEET_SESSION_KEEPALIVE_MS 2000u
#define FLEET_SESSION_SCAN_MS 500u   /* the control thread's look at its sessions */
#define FLEET_SESSION_BATCH 64       /* operations per transaction (etcd's default limit: 128) */
#define FLEET_SESSION_RETRY_MS 1000u /* after a failed write */
#define FLEET_GW_LABEL_MAX 96

struct fleet_session {
	uint8_t key[SL_KEY_LEN];
	char name[SL_NAME_MAX];
	struct in_addr addr;
	bool has_addr6;
	struct in6_addr addr6;
	int64_t since; /* wall clock, s: set by the registry thread when the session first appears */
};

/* The registry thread's side (no lock: only that thread touches it). */
struct fleet_sessions {
	char gw_hex[2 * SL_KEY_LEN + 1];
	char gw_label[FLEET_GW_LABEL_MAX]; /* "HOST/IFACE" */
	int64_t lease;                     /* 0: none granted (or it expired) */
	uint64_t keepalive_due_ms;
	struct fleet_session *pub; /* what etcd holds, sorted by key */
	size_t n_pub;
	struct fleet_session *want; /* the newest set from the control thread, sorted by key */
	size_t n_want;
	bool dirty;          /* want != pub (or a write failed): flush */
	uint64_t retry_ms;   /* not before (after a failure) */
	uint64_t writes;     /* put/delete operations written */
	uint64_t failures;   /* flushes or keepalives that failed */
	uint64_t leases_lost; /* keepalives that found the lease gone (etcd away longer than the TTL) */
};

/* 0, or -errno (e->msg). */
int fleet_sessions_init(struct fleet_sessions *s, const uint8_t gw_pub[SL_KEY_LEN], const char *ifname,
			struct sl_err *e);
/* Takes `want` (malloc'd, n entries, any order; NULL/0: no sessions) as the set etcd should hold. */
void fleet_sessions_want(struct fleet_sessions *s, struct fleet_session *want, size_t n);
/* Keepalive when due, then the difference written when dirty. 0 or -errno (retried later by itself). */
int fleet_sessions_tick(struct fleet_sessions *s, struct etcd *c, const char *prefix, uint64_t now,
			struct sl_err *e);
/* A clean stop: the lease revoked (every session key with it); bounded by the client's timeout. */
int fleet_sessions_revoke(struct fleet_sessions *s, struct etcd *c, struct sl_err *e);
void fleet_sessions_free(struct fleet_sessions *s);

/* The record text (above) <-> fields, for the gateway and `sluice registry sessions`. */
void fleet_session_record(const struct fleet_session *x, const char *gw_label, char *out, size_t n);
int fleet_session_parse(const char *rec, struct fleet_session *x, char *gw_label, size_t label_n);
