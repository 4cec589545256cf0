/* cltable: the client's table `inet sluice_cl_IFACE` (client-table/cltable.h).
 *
 *   prerouting (filter, hook prerouting, prio mangle, policy accept)   SYNs out of the tunnel
 *     iifname TUN meta nfproto ipv4 tcp flags & syn tcp option maxseg size set MTU - 40
 *     iifname TUN meta nfproto ipv6 tcp flags & syn tcp option maxseg size set MTU - 60
 *   postrouting (filter, hook postrouting, prio mangle, policy accept) SYNs into it
 *     oifname TUN … the same two
 *
 *   forward (filter, hook forward, prio 0, policy accept)  only with [Interface] Subnets (DESIGN 9, 10.7)
 *     iifname TUN ip(6) daddr SUBNET accept               the tunnel into the client's own LAN(s)
 *     oifname TUN ip(6) saddr SUBNET accept               those LANs into the tunnel
 *     iifname TUN drop; oifname TUN drop                  nothing else crosses the host into or out of it
 * (with the kill switch on, its forward chain accepts exactly the same two and drops the rest: nothing of
 * the LAN reaches the underlay)
 *
 * Pre- and postrouting see both the host's own connections and forwarded ones (a LAN behind the
 * client). The kernel only ever lowers an MSS with this statement, so a smaller one (a host behind
 * a narrower link) stays. Applied with the add/delete/add trick: one batch, never a moment without
 * the rules. */
#include "client-table/cltable.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include "netcfg/nft_batch.h"

#define CLT_FAMILY NFPROTO_INET
#define CLT_PRIO_MANGLE (-150) /* NF_IP_PRI_MANGLE: before the filter chains */
#define CLT_PRIO_FILTER 0      /* NF_IP_PRI_FILTER */
#define CLT_MTU_MIN 576	       /* nothing smaller is a tunnel MTU (SLUICE_MTU_MIN) */

void clt_name(const char *ifname, char *out, size_t n)
{
	snprintf(out, n, "%s%s", SL_CLT_PREFIX, ifname);
}

static void mss_rules(struct nft_batch *b, const char *table, const char *chain, uint32_t key,
		      const char *ifname, unsigned mtu)
{
	static const uint8_t fams[] = {NFPROTO_IPV4, NFPROTO_IPV6};

	for (size_t i = 0; i < sizeof(fams); i++) {
		struct nftnl_rule *r = nft_batch_new_rule(b, CLT_FAMILY, table, chain);
		nft_rule_ifname(b, r, key, ifname);
		nft_rule_meta_cmp(b, r, NFT_META_NFPROTO, &fams[i], 1);
		nft_rule_tcp_mss_clamp(
		    b, r, (uint16_t)(fams[i] == NFPROTO_IPV4 ? NFT_MSS4(mtu) : NFT_MSS6(mtu)));
	}
}

static void forward_rules(struct nft_batch *b, const char *table, const char *ifname,
			  const struct sl_prefix *subnets, unsigned n)
{
	struct nftnl_rule *r;

	for (unsigned i = 0; i < n; i++) {
		const struct sl_prefix *x = &subnets[i];
		const void *a = x->a.family == AF_INET6 ? (const void *)&x->a.v6 : &x->a.v4;
		r = nft_batch_new_rule(b, CLT_FAMILY, table, "forward");
		nft_rule_ifname(b, r, NFT_META_IIFNAME, ifname);
		nft_rule_addr_prefix(b, r, x->a.family, false, a, x->len);
		nft_rule_verdict(b, r, NF_ACCEPT);
		r = nft_batch_new_rule(b, CLT_FAMILY, table, "forward");
		nft_rule_ifname(b, r, NFT_META_OIFNAME, ifname);
		nft_rule_addr_prefix(b, r, x->a.family, true, a, x->len);
		nft_rule_verdict(b, r, NF_ACCEPT);
	}
	r = nft_batch_new_rule(b, CLT_FAMILY, table, "forward");
	nft_rule_ifname(b, r, NFT_META_IIFNAME, ifname);
	nft_rule_verdict(b, r, NF_DROP);
	r = nft_batch_new_rule(b, CLT_FAMILY, table, "forward");
	nft_rule_ifname(b, r, NFT_META_OIFNAME, ifname);
	nft_rule_verdict(b, r, NF_DROP);
}

int clt_apply(const char *ifname, unsigned mtu, const struct sl_prefix *subnets, unsigned n_subnets,
	      struct sl_err *e)
{
	char table[SL_CLT_NAME_MAX];
	struct nft_batch *b;
	int ret;

	if (!ifname[0] || strnlen(ifname, IFNAMSIZ) >= IFNAMSIZ)
		return sl_errf(e, -EINVAL, "client table: no tunnel interface name");
	if (mtu < CLT_MTU_MIN || mtu > 65535)
		return sl_errf(e, -EINVAL, "client table: MTU %u out of range", mtu);
	clt_name(ifname, table, sizeof(table));
	b = nft_batch_new();
	nft_batch_replace_table(b, nft_table_new(CLT_FAMILY, table, NULL));
	nft_batch_add_chain(b, nft_base_chain_new(CLT_FAMILY, table, "prerouting", "filter",
						  NF_INET_PRE_ROUTING, CLT_PRIO_MANGLE, NF_ACCEPT));
	nft_batch_add_chain(b,
			    nft_base_chain_new(CLT_FAMILY, table, "postrouting", "filter",
					       NF_INET_POST_ROUTING, CLT_PRIO_MANGLE, NF_ACCEPT));
	mss_rules(b, table, "prerouting", NFT_META_IIFNAME, ifname, mtu);
	mss_rules(b, table, "postrouting", NFT_META_OIFNAME, ifname, mtu);
	if (n_subnets) {
		nft_batch_add_chain(b, nft_base_chain_new(CLT_FAMILY, table, "forward", "filter", NF_INET_FORWARD,
							  CLT_PRIO_FILTER, NF_ACCEPT));
		forward_rules(b, table, ifname, subnets, n_subnets);
	}
	ret = nft_batch_commit(b, e);
	nft_batch_free(b);
	return ret;
}

int clt_remove(const char *ifname, struct sl_err *e)
{
	char table[SL_CLT_NAME_MAX];

	clt_name(ifname, table, sizeof(table));
	return nft_table_delete(CLT_FAMILY, table, e);
}
