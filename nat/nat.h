/* nat: the gateway's nftables table `ip sluice_nat` (DESIGN §6), in ONE batch:
 *   postrouting (nat, srcnat): ip saddr POOL oifname EGRESS masquerade
 *   forward (filter, policy accept): iifname TUN oifname EGRESS accept;
 *                                    iifname EGRESS oifname TUN ct state established,related accept;
 *                                    iifname TUN drop   (nothing else leaves the tunnel)
 * plus net.ipv4.ip_forward = 1, restored at removal if we changed it. */
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
};

struct nat_state {
	bool applied;
	int saved_ip_forward; /* -1: not changed by us */
};

/* Replaces any stale table and applies; sets ip_forward. On failure nothing is left applied. */
int nat_apply(const struct nat_spec *spec, struct nat_state *st, struct sl_err *e);
/* Removes the table and restores ip_forward if we changed it. */
int nat_remove(struct nat_state *st, struct sl_err *e);
