/* mtu: the tunnel MTU (DESIGN §3, §10.8) — where it comes from and what a client uses.
 *
 *   configured:  MTU = N
 *   gateway:     MTU of the Egress link - SLUICE_UNDERLAY_OVERHEAD (84)              (1500 -> 1416)
 *   client:      MTU of the route to the server endpoint - 84: the route's own MTU (or a path MTU the
 *                kernel learned) when it has one, else its interface's (for IPv6 the link's IPv6 MTU);
 *                looked up with our fwmark, as our own datagrams are routed, never through the tunnel
 *   effective:   client: the smaller of the gateway's pushed MTU and its own
 *
 * Derived values are kept within SLUICE_MTU_MIN..SLUICE_MTU_MAX. Control plane only: netlink lookups at
 * start, at each (re-)authentication and after each PING (a path MTU the kernel learned from an underlay
 * router's ICMP shows there as the route's MTU), never per packet. */
#pragma once
#include <stdbool.h>
#include <sys/socket.h>
#include "daemon/common/errmsg.h"
#include "netcfg/netcfg.h"

enum mtu_source {
	MTU_SRC_DEFAULT, /* nothing to derive it from (no route yet): SLUICE_MTU_DEFAULT */
	MTU_SRC_CONFIG,  /* MTU = */
	MTU_SRC_ROUTE,   /* client: the route to the endpoint */
	MTU_SRC_EGRESS,  /* gateway: the Egress link */
};

/* "default", "config", "route", "egress": the status key mtu_source. */
const char *mtu_source_name(enum mtu_source s);
/* The tunnel MTU an underlay MTU carries: underlay - 84, within SLUICE_MTU_MIN..SLUICE_MTU_MAX. */
unsigned mtu_from_underlay(unsigned underlay);
/* The client's effective MTU: the smaller of the gateway's (0: none yet) and its own. */
unsigned mtu_effective(unsigned pushed, unsigned own);
/* The underlay MTU towards ep for a packet with fwmark `mark`, and the interface it leaves by (ifname
 * IFNAMSIZ, may be NULL). 0 or -errno (no route) with e->msg set. */
int mtu_underlay_to(struct netcfg *nc, const struct sockaddr_storage *ep, uint32_t mark, unsigned *underlay,
		    char *ifname, struct sl_err *e);
/* The MTU of link `ifname`. 0 or -errno with e->msg set. */
int mtu_underlay_link(struct netcfg *nc, const char *ifname, unsigned *underlay, struct sl_err *e);
