/* fleet_sync: one reconciliation of a gateway with its etcd registry (DESIGN §9 "Fleet", §10.11).
 *
 * Keys under the URL's PREFIX:
 *   PREFIX/pool               this fleet's `Address` (gateway address/prefix: "10.66.0.1/24", or with IPv6
 *                             "10.66.0.1/24, fd66::1/64"), recorded by the first gateway
 *   PREFIX/clients/NAME       "PUBKEY[ ADDRESS][ ADDRESS6][ psk=PSK]" (base64 key; optional fixed IPv4 and/or
 *                             IPv6 address; optional base64 pre-shared key, DESIGN §10.10: `--psk-file`)
 *   PREFIX/leases/key/HEX     "ADDRESS": the client (by public key, hex) -> its IPv4 tunnel address
 *   PREFIX/leases/addr/ADDR   "HEX": the address -> the client holding it
 *   PREFIX/leases6/key/HEX    the same for IPv6 (a dual-stack pool): "fd66::2", addresses in canonical
 *   PREFIX/leases6/addr/ADDR  (inet_ntop) text, so every gateway writes the same key
 * Each family's lease is created in one transaction that writes both directions only if neither exists (or, for a fixed
 * address, only if the address is free and the client's old lease is still what was read), so one client has
 * one address, an address one client, and every gateway reads the same lease. Leases are never deleted by a
 * gateway: a removed client's address stays reserved for it.
 *
 * fleet_sync reads everything under PREFIX/ but PREFIX/sessions/ (one range: every other key sorts before
 * it), checks the pool, merges the file's [Client]s (the file wins for its names, and for its keys), leases
 * an address of each family for every client that has none, and returns the resulting client list with every
 * address set (has_addr, and has_addr6 with an IPv6 pool). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "daemon/config.h"
#include "daemon/registry/etcd_client.h"

#define FLEET_KEY_MAX 512

struct fleet_sync_stats {
	unsigned leased;   /* leases this sync created */
	unsigned refused;  /* registry clients left out (bad record, address taken, duplicate key) */
	unsigned from_registry;
};

/* `file_path` names the config in messages. `strict`: a file client whose fixed address is leased to another key is an error (start-up) instead of being
 * left out with a log line. Returns 0 and *out (malloc'd, *n_out entries), *rev = the store revision read;
 * -EIO etcd unreachable, -EINVAL (pool mismatch, strict conflict), -EAGAIN too many lost races;
 * e->msg says which. */
int fleet_sync(struct etcd *c, const char *prefix, const struct sl_prefix4 *pool, const struct sl_prefix6 *pool6,
	       const char *file_path, const struct sl_client_cfg *file, size_t n_file, bool strict,
	       struct sl_client_cfg **out, size_t *n_out, int64_t *rev, struct fleet_sync_stats *st, struct sl_err *e);

/* Incremental apply (the registry thread, for each event of the watch on PREFIX/clients/): what one event
 * means for the merged list `list` that the last read (or apply) produced. FLEET_EV_SKIP: nothing changes (a
 * name the file has); FLEET_EV_PUT: *c is the parsed record (name, key, PSK, fixed addresses), to be leased
 * (fleet_lease_client) and then put into the list by name (fleet_list_put); FLEET_EV_DELETE: the entry named
 * c->name goes (fleet_list_del; also a put whose key is a file client's: the file wins). -EINVAL: only a full
 * read can say (a bad name or record, a key another registry client has, a key outside PREFIX/clients/, or
 * a delete or key change while `refused` clients are left out, which it might let in). */
enum fleet_event_kind {
	FLEET_EV_SKIP,
	FLEET_EV_PUT,
	FLEET_EV_DELETE,
};
int fleet_event_prepare(const char *prefix, bool del, const char *key, const char *value,
			const struct sl_client_cfg *file, size_t n_file, const struct sl_client_cfg *list, size_t n,
			unsigned refused, struct sl_client_cfg *c);
/* Replaces the entry of c->name or appends c (*list realloc'd): 0 or -ENOMEM. */
int fleet_list_put(struct sl_client_cfg **list, size_t *n, const struct sl_client_cfg *c);
/* Removes the entry named `name`; false when there is none. */
bool fleet_list_del(struct sl_client_cfg *list, size_t *n, const char *name);
/* The lease of each family for one registry client cl (its fixed addresses, or its existing lease, or the
 * lowest address free as far as `list` and etcd tell), the same transactions as fleet_sync, reading only
 * that client's keys: 0 and cl's addresses set; 1 left out (a fixed address not in the pool or another key's,
 * a full pool; counted in st->refused); -EAGAIN races kept being lost; else -errno (e->msg). */
int fleet_lease_client(struct etcd *c, const char *prefix, const struct sl_prefix4 *pool,
		       const struct sl_prefix6 *pool6, const struct sl_client_cfg *list, size_t n,
		       struct sl_client_cfg *cl, struct fleet_sync_stats *st, struct sl_err *e);

/* Record text of PREFIX/clients/NAME: "PUBKEY[ ADDRESS][ ADDRESS6][ psk=PSK]" <-> key + optional addresses
 * + optional pre-shared key (NULL: none). Parsing fills *has_psk / psk when has_psk is not NULL; a psk= field
 * is still checked when it is NULL. */
void fleet_client_record(const uint8_t key[SL_KEY_LEN], const struct in_addr *addr, const struct in6_addr *addr6,
			 const uint8_t *psk, char *out, size_t n);
int fleet_client_parse(const char *rec, uint8_t key[SL_KEY_LEN], bool *has_addr, struct in_addr *addr,
		       bool *has_addr6, struct in6_addr *addr6, bool *has_psk, uint8_t psk[SL_KEY_LEN]);
/* 64 lower-case hex characters + NUL. */
void fleet_key_hex(const uint8_t key[SL_KEY_LEN], char out[2 * SL_KEY_LEN + 1]);
int fleet_key_unhex(const char *s, uint8_t key[SL_KEY_LEN]);
/* "a.b.c.d/len" of the pool record, ", x::y/len" appended for an IPv6 prefix (pool6 NULL or len 0: none) */
void fleet_pool_text(const struct sl_prefix4 *pool, const struct sl_prefix6 *pool6, char *out, size_t n);
/* Whether a is a client address of pool (inside, not network/broadcast, not the gateway's). */
bool fleet_addr_in_pool(const struct sl_prefix4 *pool, struct in_addr a);
/* The same for IPv6: one of the pool's addresses (pool6_offset) and not the gateway's. */
bool fleet_addr6_in_pool(const struct sl_prefix6 *pool6, const struct in6_addr *a);
/* A name usable as PREFIX/clients/NAME: [A-Za-z0-9._-], 1..SL_NAME_MAX-1 characters. */
bool fleet_name_ok(const char *name);
/* Leases `addr` (struct in_addr for AF_INET, struct in6_addr for AF_INET6) to key (a fixed address): -EEXIST
 * when another key holds it (*owner_hex set), 0 when done or already so. Used by `sluice registry add`. */
int fleet_lease_fixed(struct etcd *c, const char *prefix, const uint8_t key[SL_KEY_LEN], int af, const void *addr,
		      char owner_hex[2 * SL_KEY_LEN + 1], struct sl_err *e);
