/* killswitch: the client's nftables lockdown, table `inet sluice_ks`
 * (kill-switch/killswitch.h, DESIGN §6, §9).
 *
 *   set servers4 { type ipv4_addr . inet_service }    every address . port of every server
 *   set servers6 { type ipv6_addr . inet_service }    (the daemon replaces the elements: ks_set_servers)
 *   output (filter, hook output, prio 0, policy drop)
 *     oifname "lo" accept
 *     oifname TUN accept
 *     oifgroup SL_LINK_GROUP accept                                 every sluice TUN link (DESIGN 10.6)
 *     icmpv6 type 133-136 ip6 hoplimit 255 accept                  neighbour/router discovery
 *     udp sport 68 dport 67 accept; udp sport 546 dport 547 accept  DHCP / DHCPv6 client
 *     meta mark & MASK == BASE ip(6) daddr . tcp dport @servers4(6) accept    control channel
 *     meta mark & MASK == BASE ip(6) daddr . udp dport @servers4(6) accept    data plane
 *     meta mark & MASK == BASE udp/tcp dport 53 accept             the daemons' own name lookups
 * (BASE/MASK: SL_MARK_BASE/SL_MARK_MASK, netcfg.h — the range every sluice daemon's fwmark lies in, so the
 * sockets of a co-located tunnel's daemon pass too, DESIGN 10.6. Only a process with CAP_NET_ADMIN can set a
 * mark, as it could remove this table.)
 * (SL_LINK_GROUP, netcfg.h: the device group link_set_mtu_up gives every sluice TUN link, so a co-located
 * tunnel's inner traffic passes too. Not a name pattern: link names are free, any process making a link could
 * match one. Setting a link's group needs CAP_NET_ADMIN, which could remove this table anyway. The owner's
 * name match stays: it is a sluice link itself, and it covers the owner's link before its group is set — a
 * link an older sluiced brought up — so it widens nothing.)
 *     [allow_lan] udp/tcp dport 53 drop; ip daddr LAN accept
 *   input (filter, hook input, prio 0, policy drop)
 *     iifname "lo" accept
 *     iifname TUN accept
 *     iifgroup SL_LINK_GROUP accept
 *     icmpv6 type 133-136 ip6 hoplimit 255 accept
 *     udp sport 67 dport 68 accept; udp sport 547 dport 546 accept
 *     ip(6) saddr . tcp/udp sport @servers4(6) ct state established,related accept
 *     ct state related ct original ip(6) daddr . proto-dst @servers4(6) accept   ICMP errors (PMTU)
 *     udp/tcp sport 53 ct state established accept     answers to the marked lookups (nothing else can
 *                                                       have opened such a connection past output)
 *     ct state related ct original protocol udp/tcp ct original proto-dst 53 accept
 *                                                       ICMP errors about them (a resolver that is down)
 *     [allow_lan] udp/tcp sport 53 drop; ip saddr LAN accept
 *   forward (filter, hook forward, prio 0, policy drop)
 *     [Subnets] iifname TUN ip(6) daddr SUBNET accept; oifname TUN ip(6) saddr SUBNET accept
 *                          the client's own LAN(s) and the tunnel, both ways (DESIGN 9, 10.7); nothing else
 *                          is forwarded — the LAN never reaches the underlay through this host
 *
 * Neighbour discovery and DHCP stay open on every link (DESIGN §9, §10.7): without them an IPv6
 * underlay cannot resolve the next hop to a server, and an address lease cannot be renewed —
 * the tunnel would go down behind the lockdown for good. Hop limit 255 means the packet was not
 * routed: it can only come from (or go to) the local link. Everything else — other processes
 * reaching a server or a resolver, IPv6 outside the tunnel, DNS outside the tunnel — hits the drop
 * policy. Applied as ONE batch with the add/delete/add trick, so replacing never leaves a moment
 * without rules; removed only by ks_remove. The table comment records "iface=TUN". */
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
#include <libnftnl/set.h>
#include "netcfg/netcfg.h"
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
#define KS_STR_(x) #x
#define KS_STR(x) KS_STR_(x)
#define KS_SET4 "servers4"
#define KS_SET6 "servers6"
#define KS_SET4_ID 1
#define KS_SET6_ID 2
/* nft's type ids, for `nft list` to show the sets: ipv4_addr 7, ipv6_addr 8, inet_service 13; a
 * concatenation is (first << 6) | second */
#define KS_TYPE_BITS 6
#define KS_KEY4_TYPE ((7u << KS_TYPE_BITS) | 13u)
#define KS_KEY6_TYPE ((8u << KS_TYPE_BITS) | 13u)
#define KS_KEY4_LEN 8  /* address, port padded to 4 */
#define KS_KEY6_LEN 20

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

/* The element key of an endpoint: address, then the port (network order) in a register of its own. */
static uint32_t ep_key(const struct ks_ep *ep, uint8_t key[KS_KEY6_LEN])
{
	uint16_t port = htons(ep->port);

	memset(key, 0, KS_KEY6_LEN);
	memcpy(key, ep->addr, ep->alen);
	memcpy(key + ep->alen, &port, sizeof(port));
	return ep->alen + 4;
}

/* Set objects (both families) holding the elements of `servers`, and how many each got: 0, or -EINVAL for
 * one that is no address with a port, -E2BIG, -ENOMEM. The caller owns s4/s6 (NULL-safe to free). */
static int server_sets(const struct sockaddr_storage *servers, size_t n, struct nftnl_set **s4,
		       struct nftnl_set **s6, size_t *n4, size_t *n6)
{
	*n4 = *n6 = 0;
	*s4 = nft_set_new(KS_FAMILY, SL_KS_TABLE, KS_SET4, KS_KEY4_TYPE, KS_KEY4_LEN, KS_SET4_ID);
	*s6 = nft_set_new(KS_FAMILY, SL_KS_TABLE, KS_SET6, KS_KEY6_TYPE, KS_KEY6_LEN, KS_SET6_ID);
	if (!*s4 || !*s6)
		return -ENOMEM;
	if (n > SL_KS_MAX_SERVERS)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		struct ks_ep ep;
		uint8_t key[KS_KEY6_LEN];
		uint32_t len;
		int ret = ep_from_spec(&servers[i], &ep);
		if (ret < 0)
			return ret;
		len = ep_key(&ep, key);
		if (nft_set_add_elem(ep.nfproto == NFPROTO_IPV4 ? *s4 : *s6, key, len) < 0)
			return -ENOMEM;
		++*(ep.nfproto == NFPROTO_IPV4 ? n4 : n6);
	}
	return 0;
}

static void sets_free(struct nftnl_set *s4, struct nftnl_set *s6)
{
	if (s4)
		nftnl_set_free(s4);
	if (s6)
		nftnl_set_free(s6);
}

static const char *sets_error(int err)
{
	if (err == -E2BIG)
		return "more than " KS_STR(SL_KS_MAX_SERVERS) " server addresses";
	if (err == -ENOMEM)
		return strerror(ENOMEM);
	return "a server must be an IPv4 or IPv6 address with a port";
}

/* Queues the elements (an empty element list is not a valid message: nothing then). */
static void queue_elems(struct nft_batch *b, struct nftnl_set *s, size_t n)
{
	if (n)
		nft_batch_add_elems(b, s);
	else
		nftnl_set_free(s);
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

/* meta nfproto X meta l4proto P ip(6) saddr/daddr . th sport/dport @servers4(6) */
static void match_servers(struct nft_batch *b, struct nftnl_rule *r, uint8_t nfproto, uint8_t l4proto,
			  bool dst)
{
	bool v4 = nfproto == NFPROTO_IPV4;
	uint32_t alen = v4 ? 4 : 16;
	uint32_t off = v4 ? (dst ? IP4_DADDR_OFF : IP4_SADDR_OFF) : (dst ? IP6_DADDR_OFF : IP6_SADDR_OFF);

	match_nfproto(b, r, nfproto);
	match_l4proto(b, r, l4proto);
	nft_rule_load_payload(b, r, NFT_PAYLOAD_NETWORK_HEADER, off, alen, NFT_REG32_00);
	nft_rule_load_payload(b, r, NFT_PAYLOAD_TRANSPORT_HEADER, dst ? L4_DPORT_OFF : L4_SPORT_OFF, 2,
			      NFT_REG32_00 + alen / 4);
	nft_rule_lookup(b, r, NFT_REG32_00, v4 ? KS_SET4 : KS_SET6, v4 ? KS_SET4_ID : KS_SET6_ID);
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

/* iifgroup/oifgroup SL_LINK_GROUP accept (key NFT_META_IIFGROUP / NFT_META_OIFGROUP): every sluice TUN link */
static void rule_group_accept(struct nft_batch *b, const char *chain, uint32_t key)
{
	const uint32_t group = SL_LINK_GROUP;
	struct nftnl_rule *r = ks_rule(b, chain);

	nft_rule_meta_cmp(b, r, key, &group, sizeof(group));
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

/* meta mark & SL_MARK_MASK == SL_MARK_BASE: a socket of any sluice daemon (netcfg.h) */
static void match_sluice_mark(struct nft_batch *b, struct nftnl_rule *r)
{
	const uint32_t mask = SL_MARK_MASK, base = SL_MARK_BASE;

	nft_rule_meta_masked_cmp(b, r, NFT_META_MARK, &mask, &base, sizeof(base));
}

static const uint8_t ks_nfprotos[] = {NFPROTO_IPV4, NFPROTO_IPV6};
static const uint8_t ks_l4protos[] = {IPPROTO_TCP, IPPROTO_UDP}; /* control channel, data plane */

static void rules_output(struct nft_batch *b, const struct ks_spec *spec, const struct ks_lan *lan,
			 size_t n_lan)
{
	rule_if_accept(b, "output", NFT_META_OIFNAME, "lo");
	rule_if_accept(b, "output", NFT_META_OIFNAME, spec->tun_ifname);
	rule_group_accept(b, "output", NFT_META_OIFGROUP);
	rules_link(b, "output", true);
	for (size_t f = 0; f < sizeof(ks_nfprotos); f++) {
		for (size_t i = 0; i < sizeof(ks_l4protos); i++) {
			struct nftnl_rule *r = ks_rule(b, "output");
			/* the mark AND a server's address . port: no other process (no mark) and no other
			 * destination can use it */
			match_sluice_mark(b, r);
			match_servers(b, r, ks_nfprotos[f], ks_l4protos[i], true);
			nft_rule_verdict(b, r, NF_ACCEPT);
		}
	}
	/* the daemon resolves server names itself, marked, through the host's resolvers: before the LAN
	 * rules' DNS drop */
	for (size_t i = 0; i < sizeof(ks_l4protos); i++) {
		struct nftnl_rule *r = ks_rule(b, "output");
		match_sluice_mark(b, r);
		match_l4proto(b, r, ks_l4protos[i]);
		match_port(b, r, L4_DPORT_OFF, DNS_PORT);
		nft_rule_verdict(b, r, NF_ACCEPT);
	}
	if (spec->allow_lan)
		rules_lan(b, "output", true, lan, n_lan);
}

static void rules_input(struct nft_batch *b, const struct ks_spec *spec, const struct ks_lan *lan,
			size_t n_lan)
{
	const uint32_t est_rel =
	    NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED);
	struct nftnl_rule *r;

	rule_if_accept(b, "input", NFT_META_IIFNAME, "lo");
	rule_if_accept(b, "input", NFT_META_IIFNAME, spec->tun_ifname);
	rule_group_accept(b, "input", NFT_META_IIFGROUP);
	rules_link(b, "input", false);
	for (size_t f = 0; f < sizeof(ks_nfprotos); f++) {
		bool v4 = ks_nfprotos[f] == NFPROTO_IPV4;
		for (size_t i = 0; i < sizeof(ks_l4protos); i++) {
			/* replies only: the daemon's marked packets created these conntrack entries */
			r = ks_rule(b, "input");
			match_servers(b, r, ks_nfprotos[f], ks_l4protos[i], false);
			nft_rule_ct_state(b, r, est_rel);
			nft_rule_verdict(b, r, NF_ACCEPT);
		}
		/* ICMP errors (fragmentation needed, unreachable) about connections to a server */
		r = ks_rule(b, "input");
		nft_rule_ct_state(b, r, NF_CT_STATE_BIT(IP_CT_RELATED));
		match_nfproto(b, r, ks_nfprotos[f]);
		nft_rule_load_ct(b, r, v4 ? NFT_CT_DST_IP : NFT_CT_DST_IP6, IP_CT_DIR_ORIGINAL, NFT_REG32_00);
		nft_rule_load_ct(b, r, NFT_CT_PROTO_DST, IP_CT_DIR_ORIGINAL, NFT_REG32_00 + (v4 ? 1 : 4));
		nft_rule_lookup(b, r, NFT_REG32_00, v4 ? KS_SET4 : KS_SET6, v4 ? KS_SET4_ID : KS_SET6_ID);
		nft_rule_verdict(b, r, NF_ACCEPT);
	}
	/* answers to the daemon's lookups: only its marked queries got past output to open these */
	for (size_t i = 0; i < sizeof(ks_l4protos); i++) {
		r = ks_rule(b, "input");
		match_l4proto(b, r, ks_l4protos[i]);
		match_port(b, r, L4_SPORT_OFF, DNS_PORT);
		nft_rule_ct_state(b, r, NF_CT_STATE_BIT(IP_CT_ESTABLISHED));
		nft_rule_verdict(b, r, NF_ACCEPT);
	}
	/* and ICMP errors about them (a resolver that is down answers "port unreachable": fail fast) */
	for (size_t i = 0; i < sizeof(ks_l4protos); i++) {
		uint16_t dns = htons(DNS_PORT);
		r = ks_rule(b, "input");
		nft_rule_ct_state(b, r, NF_CT_STATE_BIT(IP_CT_RELATED));
		nft_rule_ct_cmp(b, r, NFT_CT_PROTOCOL, IP_CT_DIR_ORIGINAL, &ks_l4protos[i], 1);
		nft_rule_ct_cmp(b, r, NFT_CT_PROTO_DST, IP_CT_DIR_ORIGINAL, &dns, sizeof(dns));
		nft_rule_verdict(b, r, NF_ACCEPT);
	}
	if (spec->allow_lan)
		rules_lan(b, "input", false, lan, n_lan);
}

static void rules_forward(struct nft_batch *b, const struct ks_spec *spec)
{
	for (size_t i = 0; i < spec->n_subnets; i++) {
		const struct sl_prefix *x = &spec->subnets[i];
		const void *a = x->a.family == AF_INET6 ? (const void *)&x->a.v6 : &x->a.v4;
		struct nftnl_rule *r = ks_rule(b, "forward");
		nft_rule_ifname(b, r, NFT_META_IIFNAME, spec->tun_ifname);
		nft_rule_addr_prefix(b, r, x->a.family, false, a, x->len);
		nft_rule_verdict(b, r, NF_ACCEPT);
		r = ks_rule(b, "forward");
		nft_rule_ifname(b, r, NFT_META_OIFNAME, spec->tun_ifname);
		nft_rule_addr_prefix(b, r, x->a.family, true, a, x->len);
		nft_rule_verdict(b, r, NF_ACCEPT);
	}
}

int ks_apply(const struct ks_spec *spec, struct sl_err *e)
{
	struct nft_batch *b = NULL;
	struct nftnl_set *s4 = NULL, *s6 = NULL;
	struct ks_lan lan[KS_MAX_LAN];
	size_t n_lan = 0, n4, n6;
	char comment[IFNAMSIZ + 32];
	int ret = -1;

	if (!spec->tun_ifname[0] || strnlen(spec->tun_ifname, IFNAMSIZ) >= IFNAMSIZ)
		return sl_errf(e, -EINVAL, "kill switch: no tunnel interface name");
	ret = server_sets(spec->servers, spec->n_servers, &s4, &s6, &n4, &n6);
	if (ret < 0) {
		sets_free(s4, s6);
		return sl_errf(e, ret, "kill switch: %s", sets_error(ret));
	}
	if (spec->allow_lan) {
		ret = lan_prefixes(spec->tun_ifname, lan, KS_MAX_LAN, &n_lan, e);
		if (ret < 0) {
			sets_free(s4, s6);
			return ret;
		}
	}
	snprintf(comment, sizeof(comment), "iface=%s", spec->tun_ifname);

	b = nft_batch_new();
	nft_batch_replace_table(b, nft_table_new(KS_FAMILY, SL_KS_TABLE, comment));
	/* the sets first (the rules refer to them), then their elements */
	nft_batch_add_set(b, nft_set_new(KS_FAMILY, SL_KS_TABLE, KS_SET4, KS_KEY4_TYPE, KS_KEY4_LEN, KS_SET4_ID));
	nft_batch_add_set(b, nft_set_new(KS_FAMILY, SL_KS_TABLE, KS_SET6, KS_KEY6_TYPE, KS_KEY6_LEN, KS_SET6_ID));
	queue_elems(b, s4, n4);
	queue_elems(b, s6, n6);
	nft_batch_add_chain(b, nft_base_chain_new(KS_FAMILY, SL_KS_TABLE, "input", "filter",
						  NF_INET_LOCAL_IN, KS_PRIO, NF_DROP));
	nft_batch_add_chain(b, nft_base_chain_new(KS_FAMILY, SL_KS_TABLE, "output", "filter",
						  NF_INET_LOCAL_OUT, KS_PRIO, NF_DROP));
	nft_batch_add_chain(b, nft_base_chain_new(KS_FAMILY, SL_KS_TABLE, "forward", "filter",
						  NF_INET_FORWARD, KS_PRIO, NF_DROP));
	rules_output(b, spec, lan, n_lan);
	rules_input(b, spec, lan, n_lan);
	rules_forward(b, spec);
	ret = nft_batch_commit(b, e);
	nft_batch_free(b);
	return ret;
}

/* The interface a table comment names ("iface=NAME[ ...]"); false for a table of another version. */
static bool comment_iface(const char *comment, char *out, size_t n)
{
	size_t len;

	if (strncmp(comment, "iface=", 6))
		return false;
	len = strcspn(comment + 6, " ");
	if (len == 0 || len >= n)
		return false;
	memcpy(out, comment + 6, len);
	out[len] = 0;
	return true;
}

int ks_check_owner(const char *tun_ifname, struct sl_err *e)
{
	char info[256], owner[IFNAMSIZ];
	int ret = nft_table_exists(KS_FAMILY, SL_KS_TABLE, info, sizeof(info), e);

	if (ret <= 0)
		return ret;
	if (!comment_iface(info, owner, sizeof(owner)) || !strcmp(owner, tun_ifname))
		return 0;
	return sl_errf(e, -EBUSY,
		       "kill switch: inet %s belongs to %s, and one client interface owns it (stop %s and run "
		       "`sluice killswitch off`, or set KillSwitch = off for %s)",
		       SL_KS_TABLE, owner, owner, tun_ifname);
}

int ks_set_servers(const char *tun_ifname, const struct sockaddr_storage *servers, size_t n, struct sl_err *e)
{
	struct nftnl_set *s4 = NULL, *s6 = NULL;
	char info[256], owner[IFNAMSIZ];
	struct nft_batch *b;
	size_t n4, n6;
	int ret;

	ret = nft_table_exists(KS_FAMILY, SL_KS_TABLE, info, sizeof(info), e);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return -ENOENT;
	if (!comment_iface(info, owner, sizeof(owner)) || strcmp(owner, tun_ifname))
		return sl_errf(e, -EBUSY, "kill switch: the table is not %s's (%s)", tun_ifname, info);
	ret = server_sets(servers, n, &s4, &s6, &n4, &n6);
	if (ret < 0) {
		sets_free(s4, s6);
		return sl_errf(e, ret, "kill switch: %s", sets_error(ret));
	}
	b = nft_batch_new();
	nft_batch_flush_set(b, nft_set_new(KS_FAMILY, SL_KS_TABLE, KS_SET4, KS_KEY4_TYPE, KS_KEY4_LEN, KS_SET4_ID));
	nft_batch_flush_set(b, nft_set_new(KS_FAMILY, SL_KS_TABLE, KS_SET6, KS_KEY6_TYPE, KS_KEY6_LEN, KS_SET6_ID));
	queue_elems(b, s4, n4);
	queue_elems(b, s6, n6);
	ret = nft_batch_commit(b, e);
	nft_batch_free(b);
	return ret;
}

int ks_lan_describe(const char *tun_ifname, char *out, size_t n, struct sl_err *e)
{
	struct ks_lan lan[KS_MAX_LAN];
	size_t n_lan, len = 0;
	int ret = lan_prefixes(tun_ifname, lan, KS_MAX_LAN, &n_lan, e);

	if (n)
		out[0] = 0;
	if (ret)
		return ret;
	for (size_t i = 0; i < n_lan && len < n; i++) {
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &lan[i].net, a, sizeof(a));
		len += (size_t)snprintf(out + len, n - len, "%s%s/%u", i ? "," : "", a, lan[i].len);
	}
	return 0;
}

int ks_reapply(const struct ks_spec *spec, struct sl_err *e)
{
	char info[256], owner[IFNAMSIZ];
	int ret = nft_table_exists(KS_FAMILY, SL_KS_TABLE, info, sizeof(info), e);

	if (ret < 0)
		return ret;
	if (ret == 0)
		return -ENOENT; /* `sluice killswitch off` removed it: nothing to refresh, nothing to re-engage */
	if (!comment_iface(info, owner, sizeof(owner)) || strcmp(owner, spec->tun_ifname))
		return sl_errf(e, -EBUSY, "kill switch: the table is not %s's (%s)", spec->tun_ifname, info);
	return ks_apply(spec, e);
}

int ks_remove(struct sl_err *e)
{
	return nft_table_delete(KS_FAMILY, SL_KS_TABLE, e);
}

struct elems_out {
	char *buf;
	size_t n, len;
	bool v6;
};

/* One element key (address . port) appended as "ADDR:PORT" / "[ADDR]:PORT", comma-separated. */
static void elem_str(const void *key, uint32_t len, void *arg)
{
	struct elems_out *o = arg;
	struct ks_ep ep = {.nfproto = o->v6 ? NFPROTO_IPV6 : NFPROTO_IPV4, .alen = o->v6 ? 16 : 4};
	char one[INET6_ADDRSTRLEN + 16];
	uint16_t port;

	if (len < ep.alen + 2 || o->len + 1 >= o->n)
		return;
	memcpy(ep.addr, key, ep.alen);
	memcpy(&port, (const uint8_t *)key + ep.alen, 2);
	ep.port = ntohs(port);
	ep_format(&ep, one, sizeof(one));
	o->len += (size_t)snprintf(o->buf + o->len, o->n - o->len, "%s%s", o->buf[o->len - 1] == '=' ? "" : ",", one);
	if (o->len >= o->n)
		o->len = o->n - 1;
}

int ks_status(char *info, size_t n, struct sl_err *e)
{
	char comment[256], buf[2048];
	struct elems_out o = {.buf = buf, .n = sizeof(buf)};
	int ret, n4, n6;

	ret = nft_table_exists(KS_FAMILY, SL_KS_TABLE, comment, sizeof(comment), e);
	if (ret <= 0 || !info || !n)
		return ret;
	o.len = (size_t)snprintf(buf, sizeof(buf), "%s servers=", comment);
	n4 = nft_set_list_elems(KS_FAMILY, SL_KS_TABLE, KS_SET4, elem_str, &o, e);
	o.v6 = true;
	n6 = nft_set_list_elems(KS_FAMILY, SL_KS_TABLE, KS_SET6, elem_str, &o, e);
	if (n4 == -ENOENT && n6 == -ENOENT) /* a table of an older version: its comment says it all */
		snprintf(buf, sizeof(buf), "%s", comment);
	else if (n4 < 0 && n4 != -ENOENT)
		return n4;
	else if (n6 < 0 && n6 != -ENOENT)
		return n6;
	else if (n4 <= 0 && n6 <= 0)
		snprintf(buf + o.len, sizeof(buf) - o.len, "none");
	snprintf(info, n, "%s", buf);
	return 1;
}
