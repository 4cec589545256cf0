/* pool: the gateway's tunnel-address assignments. A client keeps its address for ever — fixed in the config
 * or taken from the pool on its first authentication and persisted in StateDir/IFACE.leases before it is
 * used. The file is an append-only journal, one "<public key> <address>\n" line per lease, made durable with
 * fdatasync; a line counts only with its newline, so a crash (kill -9, power loss) at any moment leaves whole
 * leases plus at most one torn line, which the next start cuts off. A restart hands out the same addresses
 * and never loses or duplicates one. Leases of clients no longer configured stay reserved — until their
 * address becomes a configured client's fixed address (DESIGN §10.12: the fixed address wins; the lease is
 * dropped, and logged on a reload). A client's latest line is its lease. A drop writes nothing: while the
 * fixed address is configured every start drops that line again, and the address is given to nobody else
 * before a start without it (a removed client's fixed address stays taken until then), which reads the line
 * as that client's lease once more. */
#pragma once
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include "daemon/common/errmsg.h"
#include "daemon/control/session.h"

struct pool_lease {
	uint8_t key[SL_KEY_LEN];
	struct in_addr addr;
};

struct pool {
	int family;     /* AF_INET, AF_INET6 (0: no pool, e.g. no IPv6 prefix) */
	struct sl_prefix6 prefix6;  /* IPv6: the prefix (its address the gateway's) */
	struct in6_addr base6;      /* IPv6: the prefix with its host bits cleared */
	bool gw_in;     /* the gateway's address is one of the pool's numbers */
	uint32_t net;   /* host order; IPv6: 0 (numbers are offsets in the prefix) */
	uint32_t size;  /* addresses in the prefix */
	uint32_t gw;    /* host order */
	uint8_t *used;  /* one byte per address offset: 1 when taken */
	uint32_t hint;  /* lowest offset that may be free */
	struct pool_lease *leases;
	size_t n_leases, cap_leases;
	uint32_t *idx;  /* lease index by key: lease number + 1, 0 empty; half full at most */
	uint32_t idx_cap;
	int fd;         /* the journal, open for appending */
	size_t good_len; /* the journal's whole, acknowledged lines: a failed append is cut back to here */
	char path[SL_PATH_MAX];
};

/* Sets up the pool of `prefix` with the gateway address taken, reserves the fixed addresses of the
 * registry's peers, loads the lease file (missing = empty; malformed = error naming file and line) and gives
 * every configured peer without a fixed address its leased address. */
int pool_init(struct pool *p, const struct sl_prefix4 *prefix, const char *state_dir, const char *ifname,
	      struct gw_registry *r, struct sl_err *e);
/* The IPv6 pool of the same registry: journal StateDir/IFACE.leases6, the same format with IPv6 addresses.
 * Offsets in the prefix are the pool's numbers (struct pool_lease.addr holds them, network order). */
int pool_init6(struct pool *p, const struct sl_prefix6 *prefix, const char *state_dir, const char *ifname,
	       struct gw_registry *r, struct sl_err *e);
void pool_free(struct pool *p);
/* Gives a dynamic peer its lease of this pool's family, if it has one (a reload's new or changed client). */
void pool_lease_give(const struct pool *p, struct gw_registry *r, struct gw_peer *peer);
/* Gives peer an address of the pool's family (its lease, or the lowest free one, persisted before it is used).
 * -ENOSPC when full, -EIO when the journal cannot be written (e->msg says why; the address is free again
 * unless the failed line could not be cut off). Nothing to do (0) when it has one, or the pool is not set up
 * (no prefix of the family). */
int pool_assign(struct pool *p, struct gw_registry *r, struct gw_peer *peer, struct sl_err *e);
/* True when pool_assign would give peer a new lease (write a journal line). */
bool pool_needs_lease(struct pool *p, const struct gw_peer *peer);
/* pool_assign for several peers at once (a group commit): every new lease's line appended in one write and
 * made durable by one fdatasync, and only then any of the addresses given (peer_by_key finds the peers).
 * Peers that have an address or a lease, and a peer named twice, get nothing new. All or nothing: on failure
 * no peer gets a new address and *e says why. -ENOSPC, -ENOMEM: the group does not fit, and pool_assign of
 * each peer alone still works as before (it is what the caller falls back to); -EIO: the journal cannot be
 * written (the group's addresses are free again unless its lines could not be cut off). */
int pool_assign_many(struct pool *p, struct gw_registry *r, struct gw_peer *const *peers, size_t n,
		     struct sl_err *e);
/* Takes owner->addr (an IPv6 pool: owner->addr6) as owner's fixed address (a client a reload added or
 * changed). The caller has made sure no registered client holds it; a lease on it (a removed client's, or
 * owner's own) is dropped, and logged. */
void pool_reserve_fixed(struct pool *p, const struct gw_peer *owner);
/* The lease address of a key: true and *a when it has one. */
bool pool_lease_addr(const struct pool *p, const uint8_t key[SL_KEY_LEN], struct in_addr *a);
/* Parses lease-file text (for tests and fuzzing): calls back for each lease; an unterminated last line is a
 * torn append and ignored. 0 or -EINVAL (e->msg names line). */
int pool_parse_leases(const char *text, size_t len, const char *path,
		      int (*fn)(void *arg, const uint8_t key[SL_KEY_LEN], struct in_addr a), void *arg,
		      struct sl_err *e);
int pool_parse_leases6(const char *text, size_t len, const char *path,
		       int (*fn)(void *arg, const uint8_t key[SL_KEY_LEN], const struct in6_addr *a), void *arg,
		       struct sl_err *e);
