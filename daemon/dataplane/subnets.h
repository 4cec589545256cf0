/* subnets: the gateway's table of networks behind clients (DESIGN 9 "Sites and routing", `[Client] Subnets =`):
 * which peer a prefix of either family belongs to. The data plane asks it twice: on the TUN side, whose
 * session an inner destination that is no client's own address goes to; on the UDP side, whether an inner
 * source that is not the client's own address is one of that client's networks (anti-spoofing) and whether an
 * inner destination belongs to another client (client-to-client).
 *
 * A table is immutable once published: the control thread builds a new one (start, SIGHUP), swaps the pointer
 * and retires the old one through the registry's QSBR, so workers read it without a lock. Entries are sorted
 * by prefix length, longest first: the first match is the longest-prefix match. A lookup is a linear scan of
 * at most SL_MAX_SUBNETS_TOTAL entries, allocation-free, and costs nothing while no client has Subnets. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "daemon/dataplane/qsbr.h"
#include "daemon/lists.h"

#define SL_MAX_SUBNETS_TOTAL 256 /* of all clients together: keeps the scan O(small) */

struct sn_entry {
	struct sl_prefix p;
	void *owner; /* the gateway's struct gw_peer */
};

struct sn_table {
	struct qsbr_node retire;
	unsigned n;
	struct sn_entry e[];
};

/* True when addr (an in_addr or in6_addr of `family`) lies inside p. */
bool prefix_contains(const struct sl_prefix *p, int family, const void *addr);
/* The owner of the longest prefix of t holding addr, or NULL (also for t NULL). */
void *sn_lookup(const struct sn_table *t, int family, const void *addr);
/* A table of n entries (copied and sorted longest first), or NULL for n 0 or out of memory (*err -ENOMEM). */
struct sn_table *sn_build(const struct sn_entry *e, unsigned n, int *err);
void sn_free(struct sn_table *t);
