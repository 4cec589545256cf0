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
	uint32_t net;   /* host order */
	uint32_t size;  /* addresses in the prefix */
	uint32_t gw;    /* host order */
	uint8_t *used;  /* one byte per address offset: 1 when taken */
	uint32_t hint;  /* lowest offset that may be free */
	struct pool_lease *leases;
	size_t n_leases, cap_leases;
	uint32_t *idx;  /* lease index by key: lease number + 1, 0 empty; half full at most */
	uint32_t idx_cap;
	int fd;         /* the journal, open for appending */
	char path[SL_PATH_MAX];
};

/* Sets up the pool of `prefix` with the gateway address taken, reserves the fixed addresses of the
 * registry's peers, loads the lease file (missing = empty; malformed = error naming file and line) and gives
 * every configured peer without a fixed address its leased address. */
int pool_init(struct pool *p, const struct sl_prefix4 *prefix, const char *state_dir, const char *ifname,
	      struct gw_registry *r, struct sl_err *e);
void pool_free(struct pool *p);
/* Gives peer an address (its lease, or the lowest free one, persisted before it is used). -ENOSPC when full. */
int pool_assign(struct pool *p, struct gw_registry *r, struct gw_peer *peer, struct sl_err *e);
/* Takes owner->addr as owner's fixed address (a client a reload added or changed). The caller has made sure
 * no registered client holds it; a lease on it (a removed client's, or owner's own) is dropped, and logged. */
void pool_reserve_fixed(struct pool *p, const struct gw_peer *owner);
/* The lease address of a key: true and *a when it has one. */
bool pool_lease_addr(const struct pool *p, const uint8_t key[SL_KEY_LEN], struct in_addr *a);
/* Parses lease-file text (for tests and fuzzing): calls back for each lease; an unterminated last line is a
 * torn append and ignored. 0 or -EINVAL (e->msg names line). */
int pool_parse_leases(const char *text, size_t len, const char *path,
		      int (*fn)(void *arg, const uint8_t key[SL_KEY_LEN], struct in_addr a), void *arg,
		      struct sl_err *e);
