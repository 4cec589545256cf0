/* reload: a SIGHUP's client list applied to the running registry and address pool (DESIGN §10.12).
 *
 *   removed client            its sessions end; its lease stays reserved, its fixed address until a restart
 *   kept client               keeps its sessions (a new Name is taken)
 *   kept client, new Address  replaced by a new peer (its sessions end; it re-authenticates for the new one)
 *   new client                dynamic: its lease from an earlier run, if any; fixed: its Address
 *
 * A fixed address beats a removed client's lease, which is dropped (and logged); it never takes the address a
 * registered client holds (refused and logged: a restart settles it, fixed addresses first). Order: removals;
 * new dynamic clients and clients leaving a fixed address take their leases; kept clients move to new fixed
 * addresses (one may wait for another to leave its address); new fixed clients. So the result does not
 * depend on the order of the file, and afterwards no two clients hold one address and no lease sits on a
 * registered client's fixed address. */
#pragma once
#include <stddef.h>
#include "daemon/config.h"
#include "daemon/control/pool.h"
#include "daemon/control/session.h"

struct reload_stats {
	unsigned added, removed, readdressed, refused;
};

/* Same prefixes in the same order (Subnets, PushRoutes). */
bool prefixes_equal(const struct sl_prefix *a, unsigned na, const struct sl_prefix *b, unsigned nb);
/* Control thread only. Logs one line per change. Kept clients whose Subnets changed get them and `repush`;
 * the caller publishes the subnets table afterwards (registry_publish_subnets). */
void clients_reload(struct gw_registry *r, struct pool *p, const struct sl_client_cfg *clients, size_t n,
		    struct reload_stats *st);
