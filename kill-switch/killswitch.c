/* killswitch: the client's nftables lockdown, table `inet sluice_ks`
 * (kill-switch/killswitch.h, DESIGN §6).
 *
 *   output (filter, hook output, prio 0, policy drop)
 *     oifname "lo" accept
 *     oifname TUN accept
 *     icmpv6 type 133-136 ip6 hoplimit 255 accept                  neighbour/router discovery
 *     udp sport 68 dport 67 accept; udp sport 546 dport 547 accept  DHCP / DHCPv6 client
 *     meta mark FWMARK ip(6) daddr EP tcp dport PORT accept       control channel
 *     meta mark FWMARK ip(6) daddr EP udp dport PORT accept       data plane
 *     [allow_lan] udp/tcp dport 53 drop; ip daddr LAN accept
 *   input (filter, hook input, prio 0, policy drop)
 *     iifname "lo" accept
 *     iifname TUN accept
 *     icmpv6 type 133-136 ip6 hoplimit 255 accept
 *     udp sport 67 dport 68 accept; udp sport 547 dport 546 accept
 *     ip(6) saddr EP tcp/udp sport PORT ct state established,related accept
 *     ct state related ct original ip(6) daddr EP accept           ICMP errors (PMTU)
 *     [allow_lan] udp/tcp sport 53 drop; ip saddr LAN accept
 *   forward (filter, hook forward, prio 0, policy drop)
 *
 * Neighbour discovery and DHCP stay open on every link (DESIGN §9, §10.7): without them an IPv6
 * underlay cannot resolve the next hop to the endpoint, and an address lease cannot be renewed —
 * the tunnel would go down behind the lockdown for good. Hop limit 255 means the packet was not
 * routed: it can only come from (or go to) the local link. Everything else — other processes
 * reaching the endpoint, IPv6 outside the tunnel, DNS outside the tunnel — hits the drop policy.
 * Applied as ONE batch with the add/delete/add trick, so replacing never leaves a moment without
 * rules; removed only by ks_remove. The table comment records "iface=TUN endpoint=ADDR:PORT". */
#include "kill-switch/killswitch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>
#include <linux/netfilter/nf_tables.h>
#include "netcfg/nft_batch.h"

#define KS_FAMILY NFPROTO_INET
#define KS_PRIO 0 /* NF_IP_PRI_FILTER */
#define KS_MAX_LAN 32
#define DNS_PORT 53
#define DHCP_SERVER_PORT 67
#define DHCP_CLIENT_PORT 68
#define DHCP6_CLIENT_PORT 546
#define DHCP6_SERVER_PORT 547
#define ND_TYPE_FIRST 133 /* router solicitation (134 router adv., 135/136 neighbour sol./adv.) */
#define ND_TYPE_LAST 136
#define ND_HOPLIMIT 255 /* RFC 4861: anything less was routed, and is not ND */
#define IP6_HOPLIMIT_OFF 7
#define ICMP6_TYPE_OFF 0
#define IP4_SADDR_OFF 12
#define IP4_DADDR_OFF 16
#define IP6_SADDR_OFF 8
#define IP6_DADDR_OFF 24
#define L4_SPORT_OFF 0
#define L4_DPORT_OFF 2

/* The endpoint as the rules match it. */
struct ks_ep {
	uint8_t nfproto; /* NFPROTO_IPV4 or NFPROTO_IPV6 */
	uint32_t alen;	 /* 4 or 16 */
	uint8_t addr[16];
	uint16_t port; /* host order */
};

struct ks_lan {
	struct in_addr net;
	uint8_t len;
};

static int ep_from_spec(const struct sockaddr_storage *ss, struct ks_ep *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		ep->nfproto = NFPROTO_IPV4;
		ep->alen = 4;
		memcpy(ep->addr, &sin->sin_addr, 4);
		ep->port = ntohs(sin->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		ep->port = ntohs(sin6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(
			&sin6->sin6_addr)) { /* a dual-stack socket sends IPv4 packets */
			ep->nfproto = NFPROTO_IPV4;
			ep->alen = 4;
			memcpy(ep->addr, &sin6->sin6_addr.s6_addr[12], 4);
		} else {
			ep->nfproto = NFPROTO_IPV6;
			ep->alen = 16;
			memcpy(ep->addr, &sin6->sin6_addr, 16);
		}
	} else {
		return -EAFNOSUPPORT;
	}
	return ep->port ? 0 : -EINVAL;
}

/* "198.18.0.1:51900" or "[2001:db8::1]:51900" */
static void ep_format(const struct ks_ep *ep, char *out, size_t n)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(ep->nfproto == NFPROTO_IPV4 ? AF_INET : AF_INET6, ep->addr, a, sizeof(a));
	snprintf(out, n, ep->nfproto == NFPROTO_IPV4 ? "%s:%u" : "[%s]:%u", a, ep->port);
}

/* IPv4 prefixes of the underlay links (up, not loopback, not the tunnel), de-duplicated. */
static int lan_prefixes(const char *tun, struct ks_lan *lan, size_t max, size_t *n,
			struct sl_err *e)
{
	struct ifaddrs *ifa_list, *ifa;

	*n = 0;
	if (getifaddrs(&ifa_list) < 0) {
		int err = errno;
		return sl_errf(e, -err, "kill switch: list local addresses: %s", strerror(err));
	}
	for (ifa = ifa_list; ifa && *n < max; ifa = ifa->ifa_next) {
		struct ks_lan l;
		uint32_t mask;
		bool dup = false;

		if (!ifa->ifa_addr || !ifa->ifa_netmask || ifa->ifa_addr->sa_family != AF_INET ||
		    !(ifa->ifa_flags & IFF_UP) || (ifa->ifa_flags & IFF_LOOPBACK) ||
		    !strcmp(ifa->ifa_name, "lo") || !strcmp(ifa->ifa_name, tun))
			continue;
		mask = ntohl(((const struct sockaddr_in *)ifa->ifa_netmask)->sin_addr.s_addr);
		l.len = (uint8_t)__builtin_popcount(mask);
		if (l.len == 0)
			continue; /* a /0 "LAN" would open everything */
		l.net.s_addr =
		    ((const struct sockaddr_in *)ifa->ifa_addr)->sin_addr.s_addr & htonl(mask);
		for (size_t i = 0; i < *n; i++)
			dup |= lan[i].len == l.len && lan[i].net.s_addr == l.net.s_addr;
		if (!dup)
			lan[(*n)++] = l;
	}
	freeifaddrs(ifa_list);
	return 0;
}

static struct nftnl_rule *ks_rule(struct nft_batch *b, const char *chain)
{
	return nft_batch_new_rule(b, KS_FAMILY, SL_KS_TABLE, chain);
}

static void match_nfproto(struct nft_batch *b, struct nftnl_rule *r, uint8_t nfproto)
{
	nft_rule_meta_cmp(b, r, NFT_META_NFPROTO, &nfproto, sizeof(nfproto));
}

static void match_l4proto(struct nft_batch *b, struct nftnl_rule *r, uint8_t proto)
{
	nft_rule_meta_cmp(b, r, NFT_META_L4PROTO, &proto, sizeof(proto));
}

static void match_port(struct nft_batch *b, struct nftnl_rule *r, uint32_t off, uint16_t port)
{
	uint16_t be = htons(port);

	nft_rule_payload_cmp(b, r, NFT_PAYLOAD_TRANSPORT_HEADER, off, &be, sizeof(be), 16);
}

/* meta nfproto X + ip(6) saddr/daddr == the endpoint */
static void match_ep(struct nft_batch *b, struct nftnl_rule *r, const struct ks_ep *ep, bool dst)
{
	uint32_t off = ep->nfproto == NFPROTO_IPV4 ? (dst ? IP4_DADDR_OFF : IP4_SADDR_OFF)
						   : (dst ? IP6_DADDR_OFF : IP6_SADDR_OFF);

	match_nfproto(b, r, ep->nfproto);
	nft_rule_payload_cmp(b, r, NFT_PAYLOAD_NETWORK_HEADER, off, ep->addr, ep->alen,
			     ep->alen * 8);
}

static void match_lan(struct nft_batch *b, struct nftnl_rule *r, const struct ks_lan *l, bool dst)
{
	match_nfproto(b, r, NFPROTO_IPV4);
	nft_rule_payload_cmp(b, r, NFT_PAYLOAD_NETWORK_HEADER, dst ? IP4_DADDR_OFF : IP4_SADDR_OFF,
			     &l->net, 4, l->len);
}

/* iifname/oifname NAME accept */
static void rule_if_accept(struct nft_batch *b, const char *chain, uint32_t key, const char *ifname)
{
	struct nftnl_rule *r = ks_rule(b, chain);

	nft_rule_ifname(b, r, key, ifname);
	nft_rule_verdict(b, r, NF_ACCEPT);
}

/* meta l4proto P th sport/dport PORT verdict */
static void rule_port(struct nft_batch *b, const char *chain, uint8_t proto, uint32_t off,
		      uint16_t port, int verdict)
{
	struct nftnl_rule *r = ks_rule(b, chain);

	match_l4proto(b, r, proto);
	match_port(b, r, off, port);
	nft_rule_verdict(b, r, verdict);
}

/* IPv6 neighbour and router discovery, on-link only (hop limit 255), and the DHCP / DHCPv6 client's
 * exchanges: always open, in both directions. */
static void rules_link(struct nft_batch *b, const char *chain, bool out)
{
	static const struct {
		uint8_t nfproto;
		uint16_t client, server;
	} dhcp[] = {{NFPROTO_IPV4, DHCP_CLIENT_PORT, DHCP_SERVER_PORT},
		    {NFPROTO_IPV6, DHCP6_CLIENT_PORT, DHCP6_SERVER_PORT}};
	const uint8_t first = ND_TYPE_FIRST, last = ND_TYPE_LAST, hops = ND_HOPLIMIT;
	struct nftnl_rule *r = ks_rule(b, chain);

	match_nfproto(b, r, NFPROTO_IPV6);
	match_l4proto(b, r, IPPROTO_ICMPV6);
	nft_rule_payload_range(b, r, NFT_PAYLOAD_TRANSPORT_HEADER, ICMP6_TYPE_OFF, &first, &last,
			       1);
	nft_rule_payload_cmp(b, r, NFT_PAYLOAD_NETWORK_HEADER, IP6_HOPLIMIT_OFF, &hops, 1, 8);
	nft_rule_verdict(b, r, NF_ACCEPT);
	for (size_t i = 0; i < sizeof(dhcp) / sizeof(dhcp[0]); i++) {
		r = ks_rule(b, chain);
		match_nfproto(b, r, dhcp[i].nfproto);
		match_l4proto(b, r, IPPROTO_UDP);
		match_port(b, r, L4_SPORT_OFF, out ? dhcp[i].client : dhcp[i].server);
		match_port(b, r, L4_DPORT_OFF, out ? dhcp[i].server : dhcp[i].client);
		nft_rule_verdict(b, r, NF_ACCEPT);
	}
}

/* DNS only through the tunnel (drop before the LAN accepts), then the LAN prefixes. */
static void rules_lan(struct nft_batch *b, const char *chain, bool out, const struct ks_lan *lan,
		      size_t n)
{
	static const uint8_t protos[] = {IPPROTO_UDP, IPPROTO_TCP};
	struct nftnl_rule *r;

	for (size_t i = 0; i < sizeof(protos); i++)
		rule_port(b, chain, protos[i], out ? L4_DPORT_OFF : L4_SPORT_OFF, DNS_PORT,
			  NF_DROP);

	for (size_t i = 0; i < n; i++) {
		r = ks_rule(b, chain);
		match_lan(b, r, &lan[i], out);
		nft_rule_verdict(b, r, NF_ACCEPT);
	}
}

static void rules_output(struct nft_batch *b, const struct ks_spec *spec, const struct ks_ep *ep,
			 const struct ks_lan *lan, size_t n_lan)
{
	static const uint8_t protos[] = {IPPROTO_TCP,
					 IPPROTO_UDP}; /* control channel, data plane */

	rule_if_accept(b, "output", NFT_META_OIFNAME, "lo");
	rule_if_accept(b, "output", NFT_META_OIFNAME, spec->tun_ifname);
	rules_link(b, "output", true);
	for (size_t i = 0; i < sizeof(protos); i++) {
		struct nftnl_rule *r = ks_rule(b, "output");
		/* the mark AND the address/port: no other process (no mark) and no other
		 * destination can use it */
		nft_rule_meta_cmp(b, r, NFT_META_MARK, &spec->fwmark, sizeof(spec->fwmark));
		match_ep(b, r, ep, true);
		match_l4proto(b, r, protos[i]);
		match_port(b, r, L4_DPORT_OFF, ep->port);
		nft_rule_verdict(b, r, NF_ACCEPT);
	}
	if (spec->allow_lan)
		rules_lan(b, "output", true, lan, n_lan);
}

static void rules_input(struct nft_batch *b, const struct ks_spec *spec, const struct ks_ep *ep,
			const struct ks_lan *lan, size_t n_lan)
{
	static const uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP};
	const uint32_t est_rel =
	    NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED);
	struct nftnl_rule *r;

	rule_if_accept(b, "input", NFT_META_IIFNAME, "lo");
	rule_if_accept(b, "input", NFT_META_IIFNAME, spec->tun_ifname);
	rules_link(b, "input", false);
	for (size_t i = 0; i < sizeof(protos); i++) {
		/* replies only: the daemon's marked packets created these conntrack entries */
		r = ks_rule(b, "input");
		match_ep(b, r, ep, false);
		match_l4proto(b, r, protos[i]);
		match_port(b, r, L4_SPORT_OFF, ep->port);
		nft_rule_ct_state(b, r, est_rel);
		nft_rule_verdict(b, r, NF_ACCEPT);
	}
	/* ICMP errors (fragmentation needed, unreachable) about connections to the endpoint */
	r = ks_rule(b, "input");
	nft_rule_ct_state(b, r, NF_CT_STATE_BIT(IP_CT_RELATED));
	match_nfproto(b, r, ep->nfproto);
	nft_rule_ct_cmp(b, r, ep->nfproto == NFPROTO_IPV4 ? NFT_CT_DST_IP : NFT_CT_DST_IP6,
			IP_CT_DIR_ORIGINAL, ep->addr, ep->alen);
	nft_rule_verdict(b, r, NF_ACCEPT);
	if (spec->allow_lan)
		rules_lan(b, "input", false, lan, n_lan);
}

int ks_apply(const struct ks_spec *spec, struct sl_err *e)
{
	struct nft_batch *b = NULL;
	struct ks_lan lan[KS_MAX_LAN];
	size_t n_lan = 0;
	struct ks_ep ep;
	char epstr[INET6_ADDRSTRLEN + 16], comment[IFNAMSIZ + sizeof(epstr) + 32];
	int ret = -1;

	if (!spec->tun_ifname[0] || strnlen(spec->tun_ifname, IFNAMSIZ) >= IFNAMSIZ)
		return sl_errf(e, -EINVAL, "kill switch: no tunnel interface name");
	if (spec->fwmark == 0) /* mark 0 is every unmarked packet: the hole would be open to all */
		return sl_errf(e, -EINVAL, "kill switch: the daemon's fwmark must not be 0");
	ret = ep_from_spec(&spec->endpoint, &ep);
	if (ret < 0)
		return sl_errf(e, ret,
			       "kill switch: endpoint must be an IPv4 or IPv6 address with a port");
	if (spec->allow_lan) {
		ret = lan_prefixes(spec->tun_ifname, lan, KS_MAX_LAN, &n_lan, e);
		if (ret < 0)
			return ret;
	}
	ep_format(&ep, epstr, sizeof(epstr));
	snprintf(comment, sizeof(comment), "iface=%s endpoint=%s", spec->tun_ifname, epstr);

	b = nft_batch_new();
	nft_batch_replace_table(b, nft_table_new(KS_FAMILY, SL_KS_TABLE, comment));
	nft_batch_add_chain(b, nft_base_chain_new(KS_FAMILY, SL_KS_TABLE, "input", "filter",
						  NF_INET_LOCAL_IN, KS_PRIO, NF_DROP));
	nft_batch_add_chain(b, nft_base_chain_new(KS_FAMILY, SL_KS_TABLE, "output", "filter",
						  NF_INET_LOCAL_OUT, KS_PRIO, NF_DROP));
	nft_batch_add_chain(b, nft_base_chain_new(KS_FAMILY, SL_KS_TABLE, "forward", "filter",
						  NF_INET_FORWARD, KS_PRIO, NF_DROP));
	rules_output(b, spec, &ep, lan, n_lan);
	rules_input(b, spec, &ep, lan, n_lan);
	ret = nft_batch_commit(b, e);
	nft_batch_free(b);
	return ret;
}

int ks_remove(struct sl_err *e)
{
	return nft_table_delete(KS_FAMILY, SL_KS_TABLE, e);
}

int ks_status(char *info, size_t n, struct sl_err *e)
{
	return nft_table_exists(KS_FAMILY, SL_KS_TABLE, info, n, e);
}
