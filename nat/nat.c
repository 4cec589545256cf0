/* nat: the gateway's NAT and forwarding, table `inet sluice_nat_IFACE` (nat/nat.h, DESIGN §6, 9). net.ipv4.ip_forward,
 * shared by every interface of the namespace, is netcfg/forwarding.h's.
 *
 *   postrouting (nat, hook postrouting, prio 100 = srcnat, policy accept)
 *     meta nfproto ipv4 ip saddr POOL/LEN oifname EGRESS masquerade    (with an IPv4 pool: not IPv6-only)
 *     meta nfproto ipv6 ip6 saddr POOL6/LEN oifname EGRESS masquerade   (NAT66: with an IPv6 pool)
 *                          (inet family: a payload match at the network header needs the family first)
 *                          (neither with NAT = off: routed mode, the pools' own addresses go out)
 *   forward (filter, hook forward, prio 0, policy accept)
 *     iifname TUN oifname TUN accept         only with ClientToClient = on (the data plane drops and counts
 *                                            such packets itself when it is off: they never get here)
 *     iifname TUN oifname EGRESS accept
 *     iifname EGRESS oifname TUN ct state established,related accept
 *     iifname EGRESS oifname TUN meta nfproto ipv4 ip saddr PUSHED accept   (NAT = off: for each of
 *     iifname EGRESS oifname TUN meta nfproto ipv6 ip6 saddr PUSHED accept   PushRoutes, DESIGN 9)
 *     oifname TUN drop                       nothing else enters the tunnel: no connection is opened inward
 *     iifname TUN drop                       nothing else leaves the tunnel
 *
 * One batch with the add/delete/add trick replaces a stale table atomically.
 *
 *   mss (filter, hook forward, prio mangle = -150, policy accept)   DESIGN §3
 *     iifname TUN meta nfproto ipv4 meta l4proto tcp tcp flags & syn tcp option maxseg size set MTU - 40
 *     oifname TUN meta nfproto ipv4 meta l4proto tcp tcp flags & syn tcp option maxseg size set MTU - 40
 *     (with an IPv6 pool, the same two for meta nfproto ipv6 with MTU - 60)
 * A chain of its own: it only rewrites (the kernel only ever lowers an MSS this way), never decides,
 * and runs before the forward filter whatever that one does. */
#include "nat/nat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include "netcfg/netcfg.h"
#include "netcfg/nft_batch.h"

#define NAT_FAMILY NFPROTO_INET
#define NAT_PRIO_SRCNAT 100 /* NF_IP_PRI_NAT_SRC */
#define NAT_PRIO_FILTER 0   /* NF_IP_PRI_FILTER */
#define NAT_PRIO_MANGLE (-150) /* NF_IP_PRI_MANGLE */
#define IP4_SADDR_OFF 12

void nat_table_name(const char *tun_ifname, char *name)
{
	snprintf(name, SL_NAT_TABLE_MAX, SL_NAT_TABLE_PREFIX "%s", tun_ifname);
}

static struct nftnl_rule *nat_rule(struct nft_batch *b, const char *table, const char *chain)
{
	return nft_batch_new_rule(b, NAT_FAMILY, table, chain);
}

static void nat_rule_ipv4(struct nft_batch *b, struct nftnl_rule *r)
{
	const uint8_t v4 = NFPROTO_IPV4;

	nft_rule_meta_cmp(b, r, NFT_META_NFPROTO, &v4, sizeof(v4));
}

static void nat_rule_ipv6(struct nft_batch *b, struct nftnl_rule *r)
{
	const uint8_t v6 = NFPROTO_IPV6;

	nft_rule_meta_cmp(b, r, NFT_META_NFPROTO, &v6, sizeof(v6));
}

#define IP6_SADDR_OFF 8

/* TCP SYNs into or out of the tunnel: MSS at most what the tunnel MTU carries. */
static void nat_mss_rules(struct nft_batch *b, const char *table, const struct nat_spec *spec)
{
	static const uint32_t keys[] = {NFT_META_IIFNAME, NFT_META_OIFNAME};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct nftnl_rule *r = nat_rule(b, table, "mss");
		nft_rule_ifname(b, r, keys[i], spec->tun_ifname);
		nat_rule_ipv4(b, r); /* NFT_MSS4: the IPv4 MSS */
		nft_rule_tcp_mss_clamp(b, r, (uint16_t)NFT_MSS4(spec->mtu));
		if (!spec->pool6_len)
			continue;
		r = nat_rule(b, table, "mss");
		nft_rule_ifname(b, r, keys[i], spec->tun_ifname);
		nat_rule_ipv6(b, r); /* its header is 20 bytes longer */
		nft_rule_tcp_mss_clamp(b, r, (uint16_t)NFT_MSS6(spec->mtu));
	}
}

static void nat_rules(struct nft_batch *b, const char *table, const struct nat_spec *spec)
{
	const uint32_t est_rel =
	    NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED);
	struct nftnl_rule *r;

	if (!spec->routed && spec->pool_len) { /* not for an IPv6-only gateway: it has no IPv4 pool */
		r = nat_rule(b, table, "postrouting");
		nat_rule_ipv4(b, r);
		nft_rule_payload_cmp(b, r, NFT_PAYLOAD_NETWORK_HEADER, IP4_SADDR_OFF, &spec->pool,
				     sizeof(spec->pool), spec->pool_len);
		nft_rule_ifname(b, r, NFT_META_OIFNAME, spec->egress_ifname);
		nft_rule_masq(b, r);
	}

	if (!spec->routed && spec->pool6_len) { /* NAT66: the IPv6 pool behind the egress's own IPv6 address */
		r = nat_rule(b, table, "postrouting");
		nat_rule_ipv6(b, r);
		nft_rule_payload_cmp(b, r, NFT_PAYLOAD_NETWORK_HEADER, IP6_SADDR_OFF, &spec->pool6,
				     sizeof(spec->pool6), spec->pool6_len);
		nft_rule_ifname(b, r, NFT_META_OIFNAME, spec->egress_ifname);
		nft_rule_masq(b, r);
	}

	if (spec->client_to_client) {
		r = nat_rule(b, table, "forward");
		nft_rule_ifname(b, r, NFT_META_IIFNAME, spec->tun_ifname);
		nft_rule_ifname(b, r, NFT_META_OIFNAME, spec->tun_ifname);
		nft_rule_verdict(b, r, NF_ACCEPT);
	}

	r = nat_rule(b, table, "forward");
	nft_rule_ifname(b, r, NFT_META_IIFNAME, spec->tun_ifname);
	nft_rule_ifname(b, r, NFT_META_OIFNAME, spec->egress_ifname);
	nft_rule_verdict(b, r, NF_ACCEPT);

	r = nat_rule(b, table, "forward");
	nft_rule_ifname(b, r, NFT_META_IIFNAME, spec->egress_ifname);
	nft_rule_ifname(b, r, NFT_META_OIFNAME, spec->tun_ifname);
	nft_rule_ct_state(b, r, est_rel);
	nft_rule_verdict(b, r, NF_ACCEPT);

	/* routed mode: the pushed networks (the office behind the gateway) may open connections to the clients
	 * and their Subnets; in NAT mode nothing from the egress side may */
	for (unsigned i = 0; spec->routed && i < spec->n_inbound; i++) {
		const struct sl_prefix *x = &spec->inbound[i];
		r = nat_rule(b, table, "forward");
		nft_rule_ifname(b, r, NFT_META_IIFNAME, spec->egress_ifname);
		nft_rule_ifname(b, r, NFT_META_OIFNAME, spec->tun_ifname);
		nft_rule_addr_prefix(b, r, x->a.family, true, x->a.family == AF_INET6 ? (const void *)&x->a.v6 : &x->a.v4,
				     x->len);
		nft_rule_verdict(b, r, NF_ACCEPT);
	}

	/* the chain's policy is accept (the gateway's other forwarding is not ours), so a new connection from
	 * the egress side towards the pool, routed here by a host that knows the prefix, needs its own drop */
	r = nat_rule(b, table, "forward");
	nft_rule_ifname(b, r, NFT_META_OIFNAME, spec->tun_ifname);
	nft_rule_verdict(b, r, NF_DROP);

	r = nat_rule(b, table, "forward");
	nft_rule_ifname(b, r, NFT_META_IIFNAME, spec->tun_ifname);
	nft_rule_verdict(b, r, NF_DROP);
}

static int nat_commit(const char *table, const struct nat_spec *spec, struct sl_err *e)
{
	struct nft_batch *b = nft_batch_new();
	int ret;

	nft_batch_replace_table(b, nft_table_new(NAT_FAMILY, table, NULL));
	nft_batch_add_chain(b,
			    nft_base_chain_new(NAT_FAMILY, table, "postrouting", "nat",
					       NF_INET_POST_ROUTING, NAT_PRIO_SRCNAT, NF_ACCEPT));
	nft_batch_add_chain(b, nft_base_chain_new(NAT_FAMILY, table, "forward", "filter",
						  NF_INET_FORWARD, NAT_PRIO_FILTER, NF_ACCEPT));
	nat_rules(b, table, spec);
	if (spec->mtu) {
		nft_batch_add_chain(b, nft_base_chain_new(NAT_FAMILY, table, "mss", "filter",
							  NF_INET_FORWARD, NAT_PRIO_MANGLE, NF_ACCEPT));
		nat_mss_rules(b, table, spec);
	}
	ret = nft_batch_commit(b, e);
	nft_batch_free(b);
	return ret;
}

int nat_apply(const struct nat_spec *spec, struct nat_state *st, struct sl_err *e)
{
	struct nat_spec s = *spec;
	int ret;

	st->applied = false;
	if (!s.tun_ifname[0] || !s.egress_ifname[0])
		return sl_errf(e, -EINVAL, "nat: tunnel and egress interface names are required");
	if (s.pool_len > 32 || (s.pool_len == 0 && s.pool6_len == 0))
		return sl_errf(e, -EINVAL, "nat: bad pool prefix length %u", s.pool_len);
	if (s.pool_len) /* 0: no IPv4 pool (an IPv6-only gateway), no IPv4 masquerade */
		s.pool.s_addr &= htonl(0xffffffffu << (32 - s.pool_len)); /* 10.66.0.1/24 -> 10.66.0.0/24 */
	if (s.pool6_len > 128)
		return sl_errf(e, -EINVAL, "nat: bad IPv6 pool prefix length %u", s.pool6_len);
	for (unsigned i = s.pool6_len; i < 128; i++) /* fd66::1/64 -> fd66::/64 */
		s.pool6.s6_addr[i / 8] &= (uint8_t)~(0x80u >> (i % 8));

	nat_table_name(s.tun_ifname, st->table);
	ret = nat_commit(st->table, &s, e);
	if (ret < 0)
		return ret;
	st->applied = true;
	return 0;
}

int nat_remove(struct nat_state *st, struct sl_err *e)
{
	int ret;

	/* the table goes also when this process did not apply it (stale state of a crashed server)
	 */
	ret = nft_table_delete(NAT_FAMILY, st->table, e);
	if (ret == 0)
		st->applied = false;
	return ret;
}
