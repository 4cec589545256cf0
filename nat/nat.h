/* nat: the gateway's nftables table `ip sluice_nat` (DESIGN §6), in ONE batch:
 *   postrouting (nat, srcnat): ip saddr POOL oifname EGRESS masquerade
 *   forward (filter, policy accept): iifname TUN oifname EGRESS accept;
 *                                    iifname EGRESS oifname TUN ct state established,related accept;
 *                                    iifname TUN drop   (nothing else leaves the tunnel)
 *   mss (filter, hook forward, prio mangle): iifname/oifname TUN tcp flags & syn
 *                                            tcp option maxseg size set MTU - 40
 * net.ipv4.ip_forward is not the table's: netcfg/forwarding.h (shared by every interface of a namespace). */
#pragma once
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include "daemon/common/errmsg.h"

#define SL_NAT_TABLE "sluice_nat"

struct nat_spec {
	char tun_ifname[IFNAMSIZ];
	char egress_ifname[IFNAMSIZ];
	struct in_addr pool;
	uint8_t pool_len;
	unsigned mtu; /* tunnel MTU (576..9000): the "mss" chain clamps SYNs crossing the tunnel; 0: none */
};

struct nat_state {
	bool applied;
};

/* Replaces any stale table and applies. On failure nothing is left applied. */
int nat_apply(const struct nat_spec *spec, struct nat_state *st, struct sl_err *e);
/* Removes the table. */
int nat_remove(struct nat_state *st, struct sl_err *e);
