/* netcfg: the kernel state sluice owns, through rtnetlink (libmnl) — never by running `ip`.
 * Every call returns 0 or -errno and, on failure, fills e->msg with what failed, with what and why (the
 * kernel's extended-ACK text when it gave one), e.g.
 *   "add route 0.0.0.0/0 dev sl0 table 1368429910: File exists".
 * Nothing here logs or exits. Tunnel addresses and routes of both families. */
#pragma once
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <stdint.h>
#include "daemon/common/errmsg.h"

/* Policy routing of the client (wg-quick style): the daemon's own sockets carry its interface's mark and so use
 * the main table; everything else is looked up in the interface's table first. Several tunnels on one host
 * (DESIGN 9, 10.6): every number is per interface, derived from its name by sl_ids_for() — the one place —
 * and never a constant.
 *   mark   SL_MARK_BASE | 16 bits of the name's hash: every sluice mark is in SL_MARK_BASE/SL_MARK_MASK, so one
 *          rule (and the kill switch) can pass the sockets of every sluice daemon of the host
 *   table  SL_TABLE_BASE | the same 16 bits (far from 0 and 253-255)
 *   prio   a block of SL_RULE_PRIO_PER_IFACE priorities in SL_RULE_PRIO_MIN..SL_RULE_PRIO_MAX:
 *            prio + SL_RULE_MARKED    fwmark MARK lookup main                  (full tunnel: the daemon's sockets)
 *            prio + SL_RULE_DNS       to <DNS server>/32 lookup TABLE          (full tunnel)
 *            prio + SL_RULE_SUPPRESS  not fwmark MARK lookup main suppress_prefixlength 0   (full tunnel)
 *            prio + SL_RULE_TUNNEL    not fwmark SL_MARK_BASE/SL_MARK_MASK lookup TABLE
 * Two names that hash alike are refused at start (rules_add: a rule at our priorities that is not ours, or
 * one elsewhere that uses our table). */
#define SL_MARK_BASE 0x51900000u
#define SL_MARK_MASK 0xffff0000u
#define SL_TABLE_BASE 0x51900000u
#define SL_RULE_PRIO_MIN 10000u
#define SL_RULE_PRIO_PER_IFACE 4u
#define SL_RULE_PRIO_BLOCKS 5000u /* 10000..29999 */
#define SL_RULE_PRIO_MAX (SL_RULE_PRIO_MIN + SL_RULE_PRIO_BLOCKS * SL_RULE_PRIO_PER_IFACE - 1)
enum { SL_RULE_MARKED, SL_RULE_DNS, SL_RULE_SUPPRESS, SL_RULE_TUNNEL };

/* The network device group (IFLA_GROUP, `ip link ... group`) of every sluice TUN link, client's and gateway's:
 * link_set_mtu_up sets it in the same message that brings the link up. The kill switch accepts the links of this
 * group (meta oifgroup / iifgroup), so a co-located tunnel's inner traffic passes the owner's lockdown (DESIGN
 * 10.6) without a match on link names, which are free. Only CAP_NET_ADMIN can set a link's group — the same
 * power that could delete inet sluice_ks. `nft` and `ip link` print it in decimal: 20880. */
#define SL_LINK_GROUP 0x5190u

struct sl_ids {
	uint32_t mark;  /* SO_MARK of the daemon's sockets */
	uint32_t table; /* the client's routing table */
	uint32_t prio;  /* first of its SL_RULE_PRIO_PER_IFACE rule priorities */
};

void sl_ids_for(const char *ifname, struct sl_ids *ids);

struct mnl_socket;

struct netcfg {
	struct mnl_socket *nl;
	uint32_t seq;
	uint32_t portid;
};

int netcfg_open(struct netcfg *nc, struct sl_err *e);
void netcfg_close(struct netcfg *nc);

/* Opens /dev/net/tun and creates (or attaches to) the TUN link `ifname` with IFF_TUN|IFF_NO_PI plus
 * `extra_flags` (e.g. IFF_MULTI_QUEUE, IFF_VNET_HDR). The fd is non-blocking and close-on-exec. Returns the fd
 * or -errno. */
int tun_open(const char *ifname, int extra_flags, struct sl_err *e);

/* ifindex of a link, or -ENODEV. */
int link_index(const char *ifname);
/* Sets MTU and the device group SL_LINK_GROUP and brings the link up (one message). */
int link_set_mtu_up(struct netcfg *nc, int ifindex, unsigned mtu, struct sl_err *e);
/* The MTU of a link; for `family` AF_INET6 the link's IPv6 MTU when that is lower (a router advertisement's
 * MTU option lowers it). */
int link_get_mtu(struct netcfg *nc, int ifindex, int family, unsigned *mtu, struct sl_err *e);
/* Deletes a link by name; -ENODEV if it does not exist. */
int link_delete(struct netcfg *nc, const char *ifname, struct sl_err *e);

/* Adds addr/plen to the link (IFA_LOCAL + IFA_ADDRESS, so the prefix route appears). */
int addr_add4(struct netcfg *nc, int ifindex, struct in_addr addr, uint8_t plen, struct sl_err *e);
int addr_del4(struct netcfg *nc, int ifindex, struct in_addr addr, uint8_t plen, struct sl_err *e);
/* The same for IPv6 (no duplicate address detection: the link is a point-to-point tunnel). */
int addr_add6(struct netcfg *nc, int ifindex, const struct in6_addr *addr, uint8_t plen, struct sl_err *e);
int addr_del6(struct netcfg *nc, int ifindex, const struct in6_addr *addr, uint8_t plen, struct sl_err *e);

/* Unicast route prefix/plen dev ifindex in `table` (RT_TABLE_MAIN = 254). */
int route_add4(struct netcfg *nc, int ifindex, struct in_addr dst, uint8_t plen, uint32_t table,
	       struct sl_err *e);
int route_del4(struct netcfg *nc, int ifindex, struct in_addr dst, uint8_t plen, uint32_t table,
	       struct sl_err *e);
/* ifindex 0: an unreachable route instead (no link: a link below IPv6's 1280-byte minimum carries none, and
 * a client's ::/0 must still go nowhere but into nothing — never the main table's default route). */
int route_add6(struct netcfg *nc, int ifindex, const struct in6_addr *dst, uint8_t plen, uint32_t table,
	       struct sl_err *e);
int route_del6(struct netcfg *nc, int ifindex, const struct in6_addr *dst, uint8_t plen, uint32_t table,
	       struct sl_err *e);
/* Deletes every unreachable IPv6 route of `table` (they outlive the link: the client's exit and the clean-up of
 * a crashed run of the interface remove them). */
int route_flush_unreachable6(struct netcfg *nc, uint32_t table, struct sl_err *e);
/* Interface of the IPv4 default route of the main table into ifname (IFNAMSIZ), or -ENOENT. */
int route_default_ifname(struct netcfg *nc, char *ifname, struct sl_err *e);
/* The route the kernel would use to dst (IPv4 or IPv6) for a packet carrying fwmark `mark` (0: none — our
 * own sockets carry their mark, so their route is not the tunnel's): its outgoing interface and the route's
 * MTU (*mtu = 0 when it has none: then the interface's applies). A path MTU the kernel learned from an ICMP
 * "fragmentation needed" / "packet too big" shows as the route's MTU until it expires. */
int route_get(struct netcfg *nc, const struct sockaddr_storage *dst, uint32_t mark, int *oif, unsigned *mtu,
	      struct sl_err *e);

/* The whole answer of that lookup: what a client's path to its server is made of (daemon/netpath.h). */
struct route_path {
	int family; /* of the destination: AF_INET or AF_INET6 */
	int oif;
	unsigned mtu;     /* the route's (0: none; the interface's applies) */
	bool have_src, have_gw;
	uint8_t src[16];  /* the source address the kernel picks (RTA_PREFSRC), in the family's length */
	uint8_t gw[16];   /* the next hop (RTA_GATEWAY); none on a directly connected route */
};
int route_get_path(struct netcfg *nc, const struct sockaddr_storage *dst, uint32_t mark, struct route_path *p,
		   struct sl_err *e);

/* The client's policy rules (IPv4 and IPv6 alike), at the priorities of `ids` (above):
 *   prio + SL_RULE_MARKED, SL_RULE_SUPPRESS   (only when full_tunnel)
 *   prio + SL_RULE_TUNNEL
 * rules_add first refuses (-EADDRINUSE, naming it) a rule of another owner at our priorities or one elsewhere
 * using our table (two interface names that hash alike), then applies all or none. rules_del removes only
 * rules that are ours: our priority AND our table or mark (no error if absent) — never a co-located tunnel's. */
/* In a kernel without IPv6 (ipv6.disable=1: the IPv6 family answers EAFNOSUPPORT) the IPv4 rules alone. */
int rules_add(struct netcfg *nc, const struct sl_ids *ids, bool full_tunnel, struct sl_err *e);
/* The check rules_add makes first, alone: the client runs it at start (after its own stale rules are gone) and
 * refuses to start rather than find the conflict when the first session comes up. */
int rules_check_free(struct netcfg *nc, const struct sl_ids *ids, struct sl_err *e);
int rules_del(struct netcfg *nc, const struct sl_ids *ids, struct sl_err *e);
/* prio + SL_RULE_DNS: to server/32 lookup TABLE — a full tunnel's DNS server goes into the tunnel even when a
 * LAN route of the main table covers it (which the suppress rule lets win). rules_del removes these too. */
int rule_add_dns4(struct netcfg *nc, const struct sl_ids *ids, struct in_addr server, struct sl_err *e);
int rule_del_dns4(struct netcfg *nc, const struct sl_ids *ids, struct in_addr server, struct sl_err *e);
/* The same for an IPv6 server: to server/128 lookup TABLE. */
int rule_add_dns6(struct netcfg *nc, const struct sl_ids *ids, const struct in6_addr *server, struct sl_err *e);
int rule_del_dns6(struct netcfg *nc, const struct sl_ids *ids, const struct in6_addr *server, struct sl_err *e);

/* Removes what a crashed client/server of this interface may have left: its link (if not a live TUN of
 * another process) and its own rules (sl_ids_for(ifname)); nothing of another interface. Missing things are
 * not errors. */
int netcfg_cleanup_stale(struct netcfg *nc, const char *ifname, struct sl_err *e);

/* One integer of a /proc/sys file (net.ipv4.ip_forward: netcfg/forwarding.h, shared by interfaces). */
int sysctl_read_int(const char *path, int *val, struct sl_err *e);
int sysctl_write_int(const char *path, int val, struct sl_err *e);
/* net.ipv6.conf.IFACE.disable_ipv6 = 1: the tunnel is IPv4; the kernel's IPv6 chatter stays off it. */
int sysctl_disable_ipv6(const char *ifname, struct sl_err *e);
/* A link that carries IPv6 (a dual-stack gateway, every client: DESIGN 9): addr_gen_mode = none, so the kernel
 * gives it no link-local address and sends no router or neighbour solicitations of its own into the tunnel. */
int sysctl_tun_ipv6(const char *ifname, struct sl_err *e);
/* net.ipv6.conf.IFACE.disable_ipv6 = 0 on a link of ours that carries IPv6: a host hardened with
 * net.ipv6.conf.default.disable_ipv6 = 1 hands it to every new link, and the kernel then refuses any IPv6 route
 * through it (EACCES). -EAFNOSUPPORT: this kernel has no IPv6 at all (ipv6.disable=1). */
int sysctl_enable_ipv6(const char *ifname, struct sl_err *e);
/* net.ipv4.conf.IFACE.promote_secondaries = 1: deleting the link's primary IPv4 address promotes a secondary
 * one (an address swap within one subnet) instead of deleting it too, which would leave the link with no IPv4
 * address and make the kernel flush every IPv4 route through it. */
int sysctl_promote_secondaries(const char *ifname, struct sl_err *e);
