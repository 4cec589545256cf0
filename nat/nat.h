/* nat: the gateway's nftables table `inet sluice_nat_IFACE` (DESIGN §6, 9: one per interface, so gateways of
 * several interfaces in one namespace never touch each other's), in ONE batch:
 *   postrouting (nat, srcnat): meta nfproto ipv4 ip saddr POOL oifname EGRESS masquerade   (not when routed)
 *                              meta nfproto ipv6 ip6 saddr POOL6 oifname EGRESS masquerade  (IPv6 pool; not
 *                              when routed)
 *   forward (filter, policy accept): [iifname TUN oifname TUN accept;]   (client_to_client)
 *                                    iifname TUN oifname EGRESS accept;
 *                                    iifname EGRESS oifname TUN ct state established,related accept;
 *                                    [iifname EGRESS oifname TUN SADDR INBOUND accept;]   (routed: each)
 *                                    iifname TUN drop   (nothing else leaves the tunnel)
 *   mss (filter, hook forward, prio mangle): iifname/oifname TUN tcp flags & syn
 *                                            tcp option maxseg size set MTU - 40 (IPv6: MTU - 60)
 * net.ipv4.ip_forward is not the table's: netcfg/forwarding.h (shared by every interface of a namespace). */
#pragma once
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include "daemon/common/errmsg.h"
#include "daemon/config.h"

#define SL_NAT_TABLE_PREFIX "sluice_nat_" /* + the TUN interface's name */
#define SL_NAT_TABLE_MAX (sizeof(SL_NAT_TABLE_PREFIX) + IFNAMSIZ)

/* "sluice_nat_" IFNAME into name (SL_NAT_TABLE_MAX bytes). */
void nat_table_name(const char *tun_ifname, char *name);

struct nat_spec {
	char tun_ifname[IFNAMSIZ];
	char egress_ifname[IFNAMSIZ];
	struct in_addr pool;
	uint8_t pool_len; /* 0: no IPv4 pool (an IPv6-only gateway; pool6_len is set then) */
	struct in6_addr pool6; /* the IPv6 pool (DESIGN 9); pool6_len 0: none */
	uint8_t pool6_len;
	unsigned mtu; /* tunnel MTU (576..9000): the "mss" chain clamps SYNs crossing the tunnel; 0: none */
	bool routed;           /* NAT = off: no masquerade of either family (the postrouting chain stays empty) */
	bool client_to_client; /* ClientToClient = on: forward TUN -> TUN */
	struct sl_prefix inbound[SL_MAX_PUSH_ROUTES]; /* routed: sources that may open connections inward */
	unsigned n_inbound;
};

struct nat_state {
	bool applied;
	char table[SL_NAT_TABLE_MAX]; /* nat_table_name(): set by nat_apply, or by the caller for a stale one */
};

/* Replaces any stale table and applies. On failure nothing is left applied. */
int nat_apply(const struct nat_spec *spec, struct nat_state *st, struct sl_err *e);
/* Removes the table st->table (that interface's only). */
int nat_remove(struct nat_state *st, struct sl_err *e);
