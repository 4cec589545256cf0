/* client-table: the client's own nftables table `inet sluice_cl_IFACE` (DESIGN §10.7), one per
 * interface: MSS clamping of the TCP SYNs (and SYN-ACKs) crossing the tunnel, so TCP never depends
 * on path MTU discovery. Created at client start (replacing what a crashed run of the same
 * interface left), replaced whole when the tunnel MTU changes, removed at exit — each in ONE batch
 * through netcfg/nft_batch.c. Without `Subnets` nothing here drops a packet (the filtering is the
 * kill switch's); with it, a forward chain keeps what the host forwards to that LAN <-> the tunnel. */
#pragma once
#include <net/if.h>
#include <stddef.h>
#include "daemon/common/errmsg.h"
#include "daemon/lists.h"

#define SL_CLT_PREFIX "sluice_cl_"
#define SL_CLT_NAME_MAX (sizeof(SL_CLT_PREFIX) + IFNAMSIZ)

/* "sluice_cl_IFACE" */
void clt_name(const char *ifname, char *out, size_t n);
/* Builds (or atomically replaces) the table of `ifname` for tunnel MTU `mtu`: SYNs leaving or
 * entering through the link get MSS mtu - 40 (IPv4) / mtu - 60 (IPv6) at most; with n_subnets, the
 * forward chain lets exactly those LANs and the tunnel talk through the host. 0 or -errno, e->msg set. */
int clt_apply(const char *ifname, unsigned mtu, const struct sl_prefix *subnets, unsigned n_subnets,
	      struct sl_err *e);
/* Deletes the table of `ifname`; 0 also when it was not there. */
int clt_remove(const char *ifname, struct sl_err *e);
